package handoff_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/bots/handoff"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/ticket"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const (
	code   = "000.00.20.H17-261102-0004"
	agency = "UBND phường Hải Châu"
	phone  = "84905123456"
)

type rig struct {
	t    *testing.T
	db   *store.DB
	pipe *inbound.Pipeline
	desk *ticket.Desk
	now  time.Time
	seq  int
}

func newRig(t *testing.T, db *store.DB) *rig {
	r := &rig{t: t, db: db, now: time.Now().UTC()}
	bot, tr := citizentest.New(t, db, time.Now())
	r.desk = ticket.New(ticket.Config{Store: db.Tickets(), Hours: ticket.MustHours("Mon-Sun 00:00-23:59"), Log: channeltest.Quiet,
		Now: func() time.Time { return r.now }})
	route := handoff.Route(handoff.Config{Desk: r.desk, Sessions: db.Sessions(), Dossiers: db.Dossiers(), Procedures: db.Catalog(),
		Topic: citizen.Topic, AwaitsVerification: citizen.AwaitsVerification, Tr: tr, Log: channeltest.Quiet, Now: func() time.Time { return r.now }})
	r.pipe = channeltest.Pipeline(db, bot, tr, inbound.WithRoute(route))
	r.pipe.Register(inbound.Channel{Name: message.SMS, Mode: inbound.Sync, Caps: message.SMSCaps(2, false), OutboxKind: notify.SMS})
	r.pipe.Register(inbound.Channel{Name: message.WebChat, Mode: inbound.Sync, Caps: message.RichCaps(), OutboxKind: notify.WebChat})
	r.pipe.Register(inbound.Channel{Name: message.Zalo, Mode: inbound.Sync, Caps: message.RichCaps(), OutboxKind: notify.Zalo})
	return r
}

func (r *rig) say(channel, user, text string) message.Reply {
	r.t.Helper()
	r.seq++
	in := message.Inbound{Channel: channel, UserID: user, Text: text, MessageID: "m" + strconv.Itoa(r.seq)}
	if channel == message.SMS {
		in.Phone = user
	}
	res := r.pipe.Receive(context.Background(), in, nil)
	if res.Outcome != inbound.Handled {
		r.t.Fatalf("%q: outcome %s", text, res.Outcome)
	}
	return res.Reply
}

func backends(t *testing.T) map[string]func(testing.TB) *store.DB {
	return map[string]func(testing.TB) *store.DB{"sqlite": storetest.SQLite, "postgres": storetest.Postgres}
}

func TestHandOff(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			db := open(t)
			r := newRig(t, db)
			ctx := context.Background()

			// An SMS citizen looks up a dossier, then asks for a person.
			if rep := r.say(message.SMS, phone, "DVC "+code); !strings.Contains(rep.Text, code) {
				t.Fatalf("look-up: %q", rep.Text)
			}
			rep := r.say(message.SMS, phone, "toi muon gap can bo")
			if !strings.Contains(rep.Text, "phieu #") || !strings.Contains(rep.Text, code) || !strings.Contains(rep.Text, "KET THUC") {
				t.Fatalf("opening by SMS: %q", rep.Text)
			}
			st, err := r.desk.Status(ctx, message.SMS, phone, "")
			if err != nil || st.Open == nil {
				t.Fatalf("no open ticket: %+v %v", st, err)
			}
			tk := *st.Open
			if tk.Agency != agency || tk.Dossier != code || tk.Kind != ticket.Question || tk.Phone != phone {
				t.Fatalf("ticket %+v", tk)
			}

			// While it is open: "xin chao" goes to the ticket, not to the bot.
			if rep := r.say(message.SMS, phone, "xin chao"); rep.Text != "" {
				t.Fatalf("the bot answered during the ticket: %q", rep.Text)
			}
			// An explicit command is still answered by the bot.
			if rep := r.say(message.SMS, phone, "DVC "+code); !strings.Contains(rep.Text, code) {
				t.Fatalf("DVC during the ticket: %q", rep.Text)
			}
			// An hour later a message is acknowledged.
			r.now = r.now.Add(time.Hour)
			if rep := r.say(message.SMS, phone, "con ai do khong"); !strings.Contains(rep.Text, "#"+strconv.FormatInt(tk.Number, 10)) {
				t.Fatalf("acknowledgement: %q", rep.Text)
			}
			conv, err := db.Tickets().Conversation(ctx, tk)
			if err != nil {
				t.Fatal(err)
			}
			var authors []string
			var texts []string
			for _, e := range conv {
				authors = append(authors, e.Author)
				texts = append(texts, e.Text)
			}
			joined := strings.Join(texts, "|")
			if !strings.Contains(joined, "xin chao") || !strings.Contains(strings.Join(authors, ","), ticket.ByBot) {
				t.Fatalf("conversation lacks the citizen's message or the bot's turns: %v %v", authors, texts)
			}

			// The officer answers: an MT leaves by the outbox, accent-free, within 2 segments.
			if _, err := r.desk.Answer(ctx, tk.Number, ticket.Officer{Name: "lan@example.gov.vn", Agency: agency},
				"Dạ, hồ sơ của anh đang được thẩm định tại Công an phường, dự kiến trả kết quả đúng hẹn.", agency); err != nil {
				t.Fatal(err)
			}
			msgs, err := db.Outbox().Messages(ctx, notify.SMS)
			if err != nil || len(msgs) != 1 {
				t.Fatalf("outbox: %v %v", msgs, err)
			}
			if m := msgs[0]; m.Recipient != phone || !strings.HasPrefix(m.Payload.Text, "Phieu #") || !strings.Contains(m.Payload.Text, "Da, ho so") {
				t.Fatalf("answer MT %+v", m)
			}
			got, _ := db.Tickets().Get(ctx, tk.Number)
			if got.FirstAnswerAt == nil {
				t.Fatal("first answer time not set")
			}

			// KET THUC closes it and asks for satisfaction; 1 rates it; the bot is back.
			if rep := r.say(message.SMS, phone, "ket thuc"); !strings.Contains(rep.Text, "1 Hai long") {
				t.Fatalf("closing: %q", rep.Text)
			}
			if rep := r.say(message.SMS, phone, "1"); !strings.Contains(rep.Text, "danh gia") {
				t.Fatalf("rating: %q", rep.Text)
			}
			if got, _ := db.Tickets().Get(ctx, tk.Number); got.State != ticket.Closed || got.Rating != 1 {
				t.Fatalf("after closing: %+v", got)
			}
			if rep := r.say(message.SMS, phone, "DVC "+code); !strings.Contains(rep.Text, code) {
				t.Fatalf("bot after closing: %q", rep.Text)
			}
			if rep := r.say(message.SMS, phone, "xin chao"); rep.Text == "" {
				t.Fatal("the bot is silent after closing")
			}

			// A web chat complaint without a dossier is unassigned; each agency sees its own and the unassigned.
			if rep := r.say(message.WebChat, "w1", "Tôi muốn khiếu nại"); !strings.Contains(rep.Text, "phiếu #") {
				t.Fatalf("web chat: %q", rep.Text)
			}
			other := "UBND phường Thạch Thang"
			if rep := r.say(message.WebChat, "w2", "talk to a person about "+code); !strings.Contains(rep.Text, "#") {
				t.Fatalf("web chat 2: %q", rep.Text)
			}
			st2, _ := r.desk.Status(ctx, message.WebChat, "w2", "")
			if _, err := r.desk.Assign(ctx, st2.Open.Number, 0, "", &other, "test"); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				agency string
				want   int
			}{{agency, 1}, {other, 2}, {"", 2}} {
				list, err := db.Tickets().List(ctx, ticket.Filter{Agency: tc.agency, State: ticket.Open})
				if err != nil || len(list) != tc.want {
					t.Errorf("agency %q sees %d open tickets, want %d (%v)", tc.agency, len(list), tc.want, err)
				}
			}

			// A Zalo OA admin's echo pauses the bot for that user.
			r.seq++
			res := r.pipe.Receive(ctx, message.Inbound{Channel: message.Zalo, UserID: "z1", MessageID: "echo1", Event: message.EventAdminReply, Text: "Chào anh, em là cán bộ."}, nil)
			if res.Reply.Text != "" {
				t.Fatalf("the echo got an answer: %q", res.Reply.Text)
			}
			if rep := r.say(message.Zalo, "z1", "xin chao"); rep.Text != "" {
				t.Fatalf("the bot talked over the officer: %q", rep.Text)
			}
			r.now = r.now.Add(31 * time.Minute)
			if rep := r.say(message.Zalo, "z1", "xin chao"); rep.Text == "" {
				t.Fatal("the bot is still paused after DVCBOT_HUMAN_PAUSE")
			}

			// An idle ticket closes with a message.
			r.now = r.now.Add(8 * 24 * time.Hour)
			n, err := r.desk.CloseIdle(ctx)
			if err != nil || n != 2 {
				t.Fatalf("idle: %d %v", n, err)
			}
			web, _ := db.Outbox().Messages(ctx, notify.WebChat)
			if len(web) != 2 || !strings.Contains(web[0].Payload.Text, "7 ngày") || len(web[0].Payload.Choices) != 3 {
				t.Fatalf("idle closing messages: %+v", web)
			}
			stats, err := db.Tickets().Stats(ctx, r.now.Add(-30*24*time.Hour), r.now.Add(time.Hour), "")
			if err != nil || len(stats) != 3 {
				t.Fatalf("stats %+v %v", stats, err)
			}
		})
	}
}
