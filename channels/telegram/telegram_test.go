package telegram_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/bots/officer"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/channels/telegram"
	"github.com/dvcbot/dvcbot/channels/telegram/telegramtest"
	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const (
	token  = "123456:ABC-DEF_test"
	secret = "tg-secret-0123456789"
	chat   = int64(555111)
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	t        *testing.T
	db       *store.DB
	fake     *telegramtest.Fake
	channel  *telegram.Channel
	officers *officer.Bot
	mux      *http.ServeMux
}

func newFixture(t *testing.T, mode string) *fixture {
	t.Helper()
	f := &fixture{t: t, db: storetest.SQLite(t), fake: telegramtest.New(token)}
	api := f.fake.Server()
	t.Cleanup(api.Close)
	bot, tr := citizentest.New(t, f.db, time.Now())
	f.officers = officer.New(f.db.Officers(), f.db.Sync(), tr)
	pipe := channeltest.Pipeline(f.db, bot, tr, inbound.WithRoute(f.officers.Route(quiet)))
	ch, err := telegram.New(context.Background(), telegram.Config{Token: token, Secret: secret, Mode: mode, APIURL: api.URL,
		PublicURL: "https://dvc.example.gov.vn"}, pipe, tr, telegram.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	channeltest.Start(t, pipe, f.db, ch.Sender())
	f.channel = ch
	f.mux = http.NewServeMux()
	ch.Register(f.mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { ch.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

func textUpdate(id int64, from int64, text string) map[string]any {
	return map[string]any{"update_id": id, "message": map[string]any{"message_id": id, "date": time.Now().Unix(),
		"chat": map[string]any{"id": from, "type": "private", "first_name": "An"},
		"from": map[string]any{"id": from, "is_bot": false, "first_name": "An"}, "text": text}}
}

func callbackUpdate(id int64, from int64, data string) map[string]any {
	return map[string]any{"update_id": id, "callback_query": map[string]any{"id": "cb-" + data, "chat_instance": "1",
		"from": map[string]any{"id": from, "is_bot": false, "first_name": "An"}, "data": data,
		"message": map[string]any{"message_id": 1, "date": time.Now().Unix(), "chat": map[string]any{"id": from, "type": "private"}, "text": "…"}}}
}

func (f *fixture) post(update map[string]any, secretHeader string) int {
	b, _ := json.Marshal(update)
	r := httptest.NewRequest(http.MethodPost, "/channels/telegram", strings.NewReader(string(b)))
	if secretHeader != "" {
		r.Header.Set("X-Telegram-Bot-Api-Secret-Token", secretHeader)
	}
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, r)
	return rec.Code
}

func (f *fixture) waitSent(n int) []telegramtest.Sent {
	f.t.Helper()
	var s []telegramtest.Sent
	if !f.fake.Await(context.Background(), 10*time.Second, func() bool { s = f.fake.Sent(); return len(s) >= n }) {
		f.t.Fatalf("%d messages sent, want %d: %+v", len(s), n, s)
	}
	return s
}

func TestWebhookUpdates(t *testing.T) {
	f := newFixture(t, telegram.ModeWebhook)
	// Run registers the webhook and the commands.
	f.fake.Await(context.Background(), 5*time.Second, func() bool { return f.fake.Calls("setWebhook") > 0 })
	if f.fake.Webhook["url"] != "https://dvc.example.gov.vn/channels/telegram" || f.fake.Webhook["secret_token"] != secret {
		t.Fatalf("setWebhook %v", f.fake.Webhook)
	}
	if strings.Join(f.fake.Commands, ",") != "start,dvc,tim,danhgia,lang,help" {
		t.Fatalf("commands %v", f.fake.Commands)
	}
	photo := map[string]any{"update_id": 9, "message": map[string]any{"message_id": 9, "date": time.Now().Unix(),
		"chat": map[string]any{"id": chat, "type": "private"}, "from": map[string]any{"id": chat, "is_bot": false, "first_name": "An"},
		"photo": []map[string]any{{"file_id": "x", "file_unique_id": "y", "width": 90, "height": 90}}}}
	edited := map[string]any{"update_id": 10, "edited_message": map[string]any{"message_id": 1, "date": time.Now().Unix(),
		"chat": map[string]any{"id": chat, "type": "private"}, "text": "DVC 000.00.20.H17-261102-0004"}}
	noFrom := textUpdate(13, chat, "HD")
	delete(noFrom["message"].(map[string]any), "from")
	channelPost := map[string]any{"update_id": 14, "channel_post": map[string]any{"message_id": 3, "date": time.Now().Unix(),
		"chat": map[string]any{"id": -100300, "type": "channel", "title": "Tin"}, "text": "DVC 000.00.20.H17-261102-0004"}}
	orphanCallback := map[string]any{"update_id": 15, "callback_query": map[string]any{"id": "cb-x", "chat_instance": "1",
		"from": map[string]any{"id": chat, "is_bot": false, "first_name": "An"}, "data": "HD"}}
	group := textUpdate(11, -100200, "HD")
	group["message"].(map[string]any)["chat"] = map[string]any{"id": -100200, "type": "group", "title": "Phòng"}
	tests := []struct {
		name   string
		update map[string]any
		secret string
		status int
		sent   int
	}{
		{"/dvc command", textUpdate(1, chat, "/dvc 000.00.20.h17-261102-0004"), secret, 200, 1},
		{"replayed update", textUpdate(1, chat, "/dvc 000.00.20.h17-261102-0004"), secret, 200, 1},
		{"forged secret", textUpdate(2, chat, "HD"), "guess", 401, 1},
		{"no secret", textUpdate(3, chat, "HD"), "", 401, 1},
		{"search", textUpdate(4, chat, "/tim dang ky khai sinh"), secret, 200, 2},
		{"button press", callbackUpdate(5, chat, "1"), secret, 200, 3},
		{"edited message: nothing", edited, secret, 200, 3},
		{"unsupported media", photo, secret, 200, 4},
		{"group chat: nothing", group, secret, 200, 4},
		{"citizen cannot reach /sync", textUpdate(12, chat, "/sync"), secret, 200, 5},
		// Telegram may omit from: a private chat is its own sender.
		{"private message without from", noFrom, secret, 200, 6},
		{"channel post: nothing", channelPost, secret, 200, 6},
		{"callback without a message: nothing", orphanCallback, secret, 200, 6},
	}
	for _, tc := range tests {
		if got := f.post(tc.update, tc.secret); got != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.name, got, tc.status)
		}
		if n := len(f.waitSent(tc.sent)); n != tc.sent {
			t.Fatalf("%s: %d messages sent, want %d", tc.name, n, tc.sent)
		}
	}
	sent := f.fake.Sent()
	if !strings.Contains(sent[0].Text, "Hồ sơ đang được giải quyết") || strings.Contains(sent[0].Text, "Phạm Thị Dung") ||
		!strings.Contains(sent[0].Text, "Phạm T. D.") {
		t.Fatalf("status over Telegram must stay masked: %q", sent[0].Text)
	}
	// Buttons carry what they mean (the procedure's code), so an old one still works.
	if len(sent[1].Buttons) != 4 || !strings.HasPrefix(sent[1].Buttons[0].Data, "TIM ") || sent[1].Buttons[3].Data != "TIEP 1" {
		t.Fatalf("search keyboard %+v", sent[1].Buttons)
	}
	if !strings.Contains(sent[2].Text, "Thời hạn giải quyết") || len(f.fake.Answered) != 2 { // the press and the orphan callback
		t.Fatalf("button press: %q, answered %v", sent[2].Text, f.fake.Answered)
	}
	if !strings.Contains(sent[3].Text, "văn bản") {
		t.Fatalf("media reply %q", sent[3].Text)
	}
	if !strings.Contains(sent[4].Text, "Cách dùng") || strings.Contains(sent[4].Text, "đồng bộ") {
		t.Fatalf("/sync from a citizen: %q", sent[4].Text)
	}
	if sent[5].ChatID != chat || !strings.Contains(sent[5].Text, "Cách dùng") {
		t.Fatalf("message without from: %+v", sent[5])
	}
	if got := f.post(map[string]any{"update_id": 0}, secret); got != 400 {
		t.Fatalf("empty update: %d", got)
	}
}

// Long polling: a user searches, presses a result button and sees details.
func TestPolling(t *testing.T) {
	f := newFixture(t, telegram.ModePoll)
	f.fake.Push(textUpdate(0, chat, "/tim cap lai can cuoc")) // update_id set by the fake
	sent := f.waitSent(1)
	if len(sent[0].Buttons) < 2 || !strings.Contains(sent[0].Text, "Cấp lại thẻ căn cước") {
		t.Fatalf("search %+v", sent[0])
	}
	f.fake.Push(callbackUpdate(0, chat, sent[0].Buttons[0].Data))
	sent = f.waitSent(2)
	if !strings.Contains(sent[1].Text, "Thời hạn giải quyết") || !strings.Contains(sent[1].Text, "căn cước") {
		t.Fatalf("details %q", sent[1].Text)
	}
	if f.fake.Webhook != nil || f.fake.Calls("deleteWebhook") == 0 {
		t.Fatal("polling mode must remove the webhook")
	}
}

// An officer links a chat with an invite code, asks /sync, and receives the
// change digests there; a code works once.
func TestOfficer(t *testing.T) {
	f := newFixture(t, telegram.ModeWebhook)
	ctx := context.Background()
	o, code, err := f.officers.Invite(ctx, "Trần Thị Bình", "binh@danang.gov.vn")
	if err != nil || o.ID == 0 || len(code) != 10 {
		t.Fatalf("invite %+v %q %v", o, code, err)
	}
	const officerChat = int64(900900)
	f.post(textUpdate(20, officerChat, "/start "+strings.ToLower(code)), secret)
	sent := f.waitSent(1)
	if !strings.Contains(sent[0].Text, "Trần Thị Bình") {
		t.Fatalf("link reply %q", sent[0].Text)
	}
	f.post(textUpdate(21, chat, "/link "+code), secret) // the code is spent
	if sent = f.waitSent(2); !strings.Contains(sent[1].Text, "không đúng") {
		t.Fatalf("reused code: %q", sent[1].Text)
	}
	f.post(textUpdate(22, officerChat, "/sync"), secret)
	if sent = f.waitSent(3); !strings.Contains(sent[2].Text, "Chưa có lần đồng bộ") {
		t.Fatalf("/sync before any sync: %q", sent[2].Text)
	}
	// A sync run; the officer's chat is now a digest recipient.
	run, _ := f.db.Sync().StartRun(ctx, time.Now().Add(-time.Hour), time.Now())
	fin := time.Now()
	if _, err := f.db.Sync().Finish(ctx, catalogsync.Run{ID: run, State: "ok", Fetched: 12, New: 2, Modified: 1, FinishedAt: &fin,
		WindowStart: time.Now().Add(-time.Hour), WindowEnd: time.Now()}, func([]catalogsync.Pending) []notify.Message { return nil }); err != nil {
		t.Fatal(err)
	}
	f.post(textUpdate(23, officerChat, "/sync"), secret)
	if sent = f.waitSent(4); !strings.Contains(sent[3].Text, "12 thủ tục: 2 mới, 1 sửa đổi") {
		t.Fatalf("/sync: %q", sent[3].Text)
	}
	subs, _ := f.db.Sync().Subscribers(ctx)
	if len(subs) != 1 || subs[0].Kind != notify.Telegram || subs[0].Address != "900900" {
		t.Fatalf("subscribers %+v", subs)
	}
	s := f.channel.Sender()
	if _, err := s.Send(ctx, notify.Message{Kind: notify.Telegram, Recipient: "900900", Payload: notify.Payload{Text: "[dvcbot] Đồng bộ TTHC: 1 mới"}}); err != nil {
		t.Fatal(err)
	}
	if sent = f.waitSent(5); sent[4].ChatID != officerChat || !strings.Contains(sent[4].Text, "Đồng bộ TTHC") {
		t.Fatalf("digest %+v", sent[4])
	}
	f.fake.Forbidden[officerChat] = true
	if _, err := s.Send(ctx, notify.Message{Kind: notify.Telegram, Recipient: "900900", Payload: notify.Payload{Text: "x"}}); !notify.IsPermanent(err) {
		t.Fatalf("a chat that blocked the bot: %v", err)
	}
}

// Flood control: a reply refused with 429 waits retry_after, then goes
// out once.
func TestFloodControlIsHonoured(t *testing.T) {
	f := newFixture(t, telegram.ModeWebhook)
	f.fake.Flood, f.fake.RetryAfter = 1, 1
	if got := f.post(textUpdate(1, chat, "HD"), secret); got != 200 {
		t.Fatalf("status %d", got)
	}
	sent := f.waitSent(1)
	flood, at := f.fake.FloodAt(), f.fake.SentAt()
	if len(sent) != 1 || len(flood) != 1 || len(at) != 1 {
		t.Fatalf("%d sent, %d refused", len(sent), len(flood))
	}
	if wait := at[0].Sub(flood[0]); wait < time.Second {
		t.Fatalf("resent %v after the 429, before retry_after (1 s)", wait)
	}
}
