package notices_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/dvcbot/dvcbot/bots/notices"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/session"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   message.Inbound
		cmd  notices.Command
		rest string
	}{
		{message.Inbound{Text: "TU CHOI"}, notices.OptOut, ""},
		{message.Inbound{Text: "từ chối"}, notices.OptOut, ""},
		{message.Inbound{Text: "stop"}, notices.OptOut, ""},
		{message.Inbound{Text: "HUY"}, notices.OptOut, ""},
		{message.Inbound{Text: "bật"}, notices.OptIn, ""},
		{message.Inbound{Text: "Theo dõi 000.00.20.H17-261125-0009"}, notices.Subscribe, "000.00.20.H17-261125-0009"},
		{message.Inbound{Text: "DK 000.00.20.H17-261125-0009"}, notices.Subscribe, "000.00.20.H17-261125-0009"},
		{message.Inbound{Text: "huỷ 000.00.20.H17-261125-0009"}, notices.Unsubscribe, "000.00.20.H17-261125-0009"},
		{message.Inbound{Event: message.EventContact, Phone: "84905123456"}, notices.Contact, ""},
		{message.Inbound{Event: message.EventContact}, notices.None, ""},
		{message.Inbound{Text: "DVC 000.00.20.H17-261125-0009"}, notices.None, ""},
		{message.Inbound{Text: "stop tôi muốn hỏi thủ tục khai sinh"}, notices.None, ""},
		{message.Inbound{Text: "/start"}, notices.None, ""},
	} {
		cmd, rest := notices.Parse(c.in)
		if cmd != c.cmd || rest != c.rest {
			t.Errorf("Parse(%+v) = %v %q, want %v %q", c.in, cmd, rest, c.cmd, c.rest)
		}
	}
}

// optStore records opt-outs (the commands this test sends need no more).
type optStore struct{ out map[string]bool }

func (s *optStore) Subscribe(context.Context, string, string, string, bool) error { return nil }
func (s *optStore) SetOptOut(_ context.Context, channel, user string, out bool) error {
	s.out[channel+":"+user] = out
	return nil
}
func (s *optStore) LinkPhone(context.Context, string, string, string) error { return nil }
func (s *optStore) LinkedPhone(context.Context, string, string) (string, error) {
	return "", nil
}
func (s *optStore) Verified(context.Context, string, string, string) (bool, error) { return false, nil }

// The answer is in the language the citizen chose in the dialog (the
// session read with the claim), else Vietnamese.
func TestAnswersInTheSessionLanguage(t *testing.T) {
	tr, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	st := &optStore{out: map[string]bool{}}
	route := notices.Route(st, nil, tr, slog.New(slog.DiscardHandler), nil)
	for _, c := range []struct {
		lang, text, want string
	}{
		{"en", "TU CHOI", "You will no longer get dossier notices on this channel."},
		{"vi", "TU CHOI", "Bạn sẽ không nhận thông báo về hồ sơ trên kênh này nữa."},
		{"", "TU CHOI", "Bạn sẽ không nhận thông báo về hồ sơ trên kênh này nữa."},
		{"en", "BAT", "You will get dossier notices on this channel again."},
	} {
		in := message.Inbound{Channel: "telegram", UserID: "42", Text: c.text}
		ctx := session.WithTurn(context.Background(), &session.Turn{Loaded: session.Session{Channel: "telegram", UserID: "42", Lang: c.lang}})
		if !route.Match(ctx, in) {
			t.Fatalf("%q not matched", c.text)
		}
		if got := route.Handle(ctx, in, message.Capabilities{}); !strings.HasPrefix(got.Text, c.want) {
			t.Errorf("%s session, %q: %q, want it to start %q", c.lang, c.text, got.Text, c.want)
		}
	}
	if len(st.out) != 1 || st.out["telegram:42"] {
		t.Errorf("opt-outs recorded %v, want telegram:42 opted in again by the last BAT", st.out)
	}
}
