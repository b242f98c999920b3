package zalo_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/channels/zalo"
	"github.com/dvcbot/dvcbot/channels/zalo/zalotest"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const (
	appID     = "4231256123948301234"
	appSecret = "app-secret-not-real"
	oaSecret  = "TEST-OA-SECRET-not-real"
	oaID      = "8800112233445566779"
	userID    = "7700112233445566778"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The test vector of zalo-oa.md §1.3.
func TestVerifyVector(t *testing.T) {
	raw := []byte(`{"app_id":"4231256123948301234","sender":{"id":"7700112233445566778"},"user_id_by_app":"9900112233445566770","recipient":{"id":"8800112233445566779"},"event_name":"user_send_text","message":{"text":"Xin chào","msg_id":"a1b2c3d4e5f60718293a"},"timestamp":"1717061839659"}`)
	const want = "mac=2269823a5afbe7e4e0408d73d3363985c3879df71f58113b0950f1111cd0bc2b"
	if len(raw) != 271 {
		t.Fatalf("vector body is %d bytes, want 271", len(raw))
	}
	if got := zalo.Sign(appID, raw, "1717061839659", oaSecret); got != want {
		t.Fatalf("Sign = %s", got)
	}
	for _, h := range []string{want, strings.TrimPrefix(want, "mac="), "MAC = " + strings.ToUpper(want[4:])} {
		if !zalo.Verify(h, appID, raw, "1717061839659", oaSecret) {
			t.Errorf("%q not accepted", h)
		}
	}
	for _, h := range []string{"", "mac=cc23ec07", want[:len(want)-1] + "0"} {
		if zalo.Verify(h, appID, raw, "1717061839659", oaSecret) {
			t.Errorf("%q accepted", h)
		}
	}
	if zalo.Verify(want, appID, raw, "1717061839659", "another-secret") {
		t.Error("accepted with another secret")
	}
}

type fixture struct {
	t       *testing.T
	db      *store.DB
	fake    *zalotest.Fake
	channel *zalo.Channel
	mux     *http.ServeMux
	tokens  *zalo.Tokens
	now     time.Time
	stop    func() // stops the channel's Run and waits for it
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	f := &fixture{t: t, db: db, fake: zalotest.New(appID, appSecret), now: time.Now()}
	srv := f.fake.Server()
	t.Cleanup(srv.Close)
	if err := zalo.SetRefreshToken(context.Background(), db.Credentials(), "rt-0"); err != nil {
		t.Fatal(err)
	}
	bot, tr := citizentest.New(t, db, time.Now())
	f.tokens = zalo.NewTokens(db.Credentials(), srv.URL, appID, appSecret, quiet)
	pipe := channeltest.Pipeline(db, bot, tr)
	f.channel = zalo.New(zalo.Config{AppID: appID, OASecret: oaSecret, OAID: oaID}, pipe,
		zalo.WithLogger(quiet), zalo.WithClock(func() time.Time { return f.now }))
	f.mux = http.NewServeMux()
	f.channel.Register(f.mux)
	f.stop = channeltest.Start(t, pipe, db, zalo.NewSender(zalo.NewAPI(srv.URL, f.tokens)))
	return f
}

func textEvent(msgID, text string, ts time.Time) string {
	return fmt.Sprintf(`{"app_id":%q,"sender":{"id":%q},"user_id_by_app":"9900112233445566770","recipient":{"id":%q},"event_name":"user_send_text","message":{"text":%q,"msg_id":%q},"timestamp":"%d"}`,
		appID, userID, oaID, text, msgID, ts.UnixMilli())
}

func (f *fixture) post(body, sig string) int {
	r := httptest.NewRequest(http.MethodPost, "/channels/zalo", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if sig != "" {
		r.Header.Set("X-ZEvent-Signature", sig)
	}
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, r)
	return rec.Code
}

func signed(body string) string {
	ts := ""
	if i := strings.LastIndex(body, `"timestamp":"`); i >= 0 {
		ts = body[i+13:]
		ts = ts[:strings.IndexByte(ts, '"')]
	}
	return zalo.Sign(appID, []byte(body), ts, oaSecret)
}

// waitSent waits until the fake OA API has n messages.
func (f *fixture) waitSent(n int) []zalotest.Sent {
	f.t.Helper()
	var s []zalotest.Sent
	if !f.fake.Await(context.Background(), 10*time.Second, func() bool { s = f.fake.Sent(); return len(s) >= n }) {
		f.t.Fatalf("%d messages sent, want %d", len(s), n)
	}
	return s
}

// numericSig marks a test row whose timestamp is a JSON number.
const numericSig = "numeric"

func TestWebhookEvents(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	now := f.now
	follow := fmt.Sprintf(`{"app_id":%q,"oa_id":%q,"follower":{"id":%q},"user_id_by_app":"9900","event_name":"follow","source":"oa_profile","timestamp":"%d"}`, appID, oaID, "7711", now.UnixMilli())
	unfollow := strings.Replace(follow, `"follow"`, `"unfollow"`, 1)
	echo := fmt.Sprintf(`{"app_id":%q,"sender":{"id":%q},"recipient":{"id":%q},"event_name":"oa_send_text","message":{"text":"Dạ","msg_id":"63ecf43f0df7dba892e6"},"timestamp":"%d"}`, appID, oaID, userID, now.UnixMilli())
	// An OA admin wrote from the OA console: recorded for the hand-off
	// route (which pauses the bot), never answered by the bot.
	adminEcho := fmt.Sprintf(`{"app_id":%q,"sender":{"id":%q,"admin_id":"5500"},"recipient":{"id":%q},"event_name":"oa_send_text","message":{"text":"Chào anh, em là cán bộ","msg_id":"73ecf43f0df7dba892e7"},"timestamp":"%d"}`, appID, oaID, userID, now.UnixMilli())
	image := fmt.Sprintf(`{"app_id":%q,"sender":{"id":"7722"},"recipient":{"id":%q},"event_name":"user_send_image","message":{"msg_id":"96d3cdf3af150460909a","text":"ảnh","attachments":[{"type":"image","payload":{"thumbnail":"https://x","url":"https://x"}}]},"timestamp":"%d"}`, appID, oaID, now.UnixMilli())
	seen := fmt.Sprintf(`{"app_id":%q,"sender":{"id":%q},"recipient":{"id":%q},"event_name":"user_seen_message","message":{"msg_ids":["a"]},"timestamp":"%d"}`, appID, userID, oaID, now.UnixMilli())
	otherApp := strings.Replace(textEvent("x1", "HD", now), appID, "999", 1)
	// Some Zalo tools send the timestamp as a JSON number: the MAC covers
	// its digits all the same.
	numeric := strings.Replace(textEvent("n1", "HD", now), fmt.Sprintf(`"timestamp":"%d"`, now.UnixMilli()), fmt.Sprintf(`"timestamp":%d`, now.UnixMilli()), 1)
	nul := strings.Replace(textEvent("nul1", "D@VC", now), "@", `\u0000`, 1) // JSON's escape of NUL
	nulID := strings.Replace(textEvent("a@b", "HD", now), "@", `\u0000`, 1)
	tests := []struct {
		name   string
		body   string
		sig    string
		status int
		sent   int // messages sent after this step, in all
	}{
		{"status request", textEvent("m1", "DVC 000.00.20.H17-261102-0004", now), "", 200, 1},
		{"replayed event", textEvent("m1", "DVC 000.00.20.H17-261102-0004", now), "", 200, 1},
		{"forged signature", textEvent("m2", "HD", now), "mac=" + strings.Repeat("0", 64), 401, 1},
		{"no signature", textEvent("m3", "HD", now), "-", 401, 1},
		{"stale timestamp", textEvent("m4", "HD", now.Add(-4*time.Hour)), "", 401, 1},
		{"future timestamp", textEvent("m5", "HD", now.Add(10*time.Minute)), "", 401, 1},
		{"another app", otherApp, "", 401, 1},
		{"follow gets a welcome", follow, "", 200, 2},
		{"unfollow: nothing", unfollow, "", 200, 2},
		{"our own echo: nothing", echo, "", 200, 2},
		{"an admin's echo: recorded, not answered", adminEcho, "", 200, 2},
		{"receipt: nothing", seen, "", 200, 2},
		{"image: polite reply", image, "", 200, 3},
		{"not json", `{"app_id":`, "", 400, 3},
		{"numeric timestamp", numeric, numericSig, 200, 4},
		{"NUL in the text: cleaned", nul, "", 200, 5},
		{"NUL in the id: refused", nulID, "", 400, 5},
	}
	for _, tc := range tests {
		sig := tc.sig
		if sig == numericSig {
			sig = zalo.Sign(appID, []byte(tc.body), strconv.FormatInt(now.UnixMilli(), 10), oaSecret)
		}
		switch sig {
		case "":
			sig = signed(tc.body)
		case "-":
			sig = ""
		}
		if strings.HasPrefix(tc.body, `{"app_id":"999"`) {
			sig = zalo.Sign("999", []byte(tc.body), strconv.FormatInt(now.UnixMilli(), 10), oaSecret)
		}
		if got := f.post(tc.body, sig); got != tc.status {
			t.Fatalf("%s: status %d, want %d", tc.name, got, tc.status)
		}
		sent := f.waitSent(tc.sent)
		if len(sent) != tc.sent {
			t.Fatalf("%s: %d messages sent, want %d", tc.name, len(sent), tc.sent)
		}
	}
	sent := f.fake.Sent()
	if sent[0].UserID != userID || !strings.Contains(sent[0].Text, "Hồ sơ 000.00.20.H17-261102-0004") ||
		!strings.Contains(sent[0].Text, "Hồ sơ đang được giải quyết") {
		t.Fatalf("status reply %+v", sent[0])
	}
	if sent[1].UserID != "7711" || !strings.Contains(sent[1].Text, "Xin chào") || len(sent[1].Buttons) == 0 {
		t.Fatalf("welcome %+v", sent[1])
	}
	if sent[2].UserID != "7722" || !strings.Contains(sent[2].Text, "văn bản") {
		t.Fatalf("media reply %+v", sent[2])
	}
	if !strings.Contains(sent[3].Text, "Cách dùng") {
		t.Fatalf("numeric timestamp: %+v", sent[3])
	}
	if !strings.Contains(sent[4].Text, "DVC") && !strings.Contains(sent[4].Text, "Cách dùng") && !strings.Contains(sent[4].Text, "mã hồ sơ") {
		t.Fatalf("NUL text: %+v", sent[4])
	}
	big := textEvent("big", strings.Repeat("a", 1<<20), now)
	if got := f.post(big, signed(big)); got != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized: %d", got)
	}
}

func TestSearchWithButtonsAndLongTexts(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	ev := textEvent("s1", "tìm đăng ký khai sinh", f.now)
	f.post(ev, signed(ev))
	sent := f.waitSent(1)
	if len(sent[0].Buttons) != 4 || sent[0].Buttons[0].Type != "oa.query.show" || !strings.HasPrefix(sent[0].Buttons[0].Payload, "TIM ") ||
		!strings.HasPrefix(sent[0].Buttons[0].Title, "1. Thủ tục đăng ký khai sinh") || sent[0].Buttons[3].Payload != "TIEP 1" {
		t.Fatalf("buttons %+v", sent[0].Buttons)
	}
	// A button press arrives as user_send_text with the payload.
	ev = textEvent("s2", "1", f.now)
	f.post(ev, signed(ev))
	sent = f.waitSent(2)
	if !strings.Contains(sent[1].Text, "Thời hạn giải quyết") {
		t.Fatalf("details %q", sent[1].Text)
	}
	// A template the OA may not send goes out as text.
	f.fake.RejectTemplates = true
	ev = textEvent("s3", "tim cap lai can cuoc", f.now)
	f.post(ev, signed(ev))
	sent = f.waitSent(3)
	if len(sent[2].Buttons) != 0 || !strings.Contains(sent[2].Text, "1.") {
		t.Fatalf("fallback %+v", sent[2])
	}
	parts := message.Split(strings.Repeat("Thủ tục hành chính. ", 300), zalo.MaxText)
	if len(parts) < 3 {
		t.Fatalf("split into %d parts", len(parts))
	}
	for _, p := range parts {
		if n := len([]rune(p)); n > zalo.MaxText || !strings.HasSuffix(p, ".") {
			t.Fatalf("part of %d runes not cut on a sentence: %q…", n, p[len(p)-20:])
		}
	}
}

func TestUnreachableUserIsNotRetried(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	f.fake.Unreachable[userID] = true
	ev := textEvent("u1", "HD", f.now)
	if f.post(ev, signed(ev)) != 200 {
		t.Fatal("not acknowledged")
	}
	// The reply failed for good (outside the window): recorded, not retried.
	var msgs []notify.Message
	channeltest.Eventually(t, "the reply to fail", func() bool {
		msgs, _ = f.db.Outbox().Messages(context.Background(), notify.Zalo)
		return len(msgs) == 1 && msgs[0].State == notify.Failed
	})
	if msgs[0].Attempts != 1 || !strings.Contains(msgs[0].LastError, "cannot be reached") {
		t.Fatalf("an unreachable user's reply: %+v", msgs[0])
	}
	state, _, _, err := f.db.Inbound().InboundState(context.Background(), inbound.Key{Channel: "zalo", MessageID: "u1", Sender: userID})
	if err != nil || state != "done" {
		t.Fatalf("inbound state %q (%v), want done", state, err)
	}
}

// The access token expires during a burst of messages from many users: one
// refresh happens, every reply goes out, and the stored pair is the one
// Zalo honours (the refresh token is single-use).
func TestTokenRefreshDuringBurst(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t))
			ctx := context.Background()
			if _, err := f.tokens.Access(ctx); err != nil { // first use: rt-0 → at-1
				t.Fatal(err)
			}
			f.fake.ExpireAccess()
			f.fake.OAuthDelay = 50 * time.Millisecond // widen the race
			// A second process on the same database with its own token cache.
			srv := f.fake.Server()
			defer srv.Close()
			other := zalo.NewAPI(srv.URL, zalo.NewTokens(f.db.Credentials(), srv.URL, appID, appSecret, quiet))
			var wg sync.WaitGroup
			errs := make(chan error, 40)
			for i := range 20 {
				ev := fmt.Sprintf(`{"app_id":%q,"sender":{"id":"u%d"},"recipient":{"id":%q},"event_name":"user_send_text","message":{"text":"HD","msg_id":"burst-%d"},"timestamp":"%d"}`,
					appID, i, oaID, i, f.now.UnixMilli())
				wg.Go(func() {
					if code := f.post(ev, signed(ev)); code != 200 {
						errs <- fmt.Errorf("status %d", code)
					}
				})
				wg.Go(func() {
					if err := other.Send(ctx, fmt.Sprintf("v%d", i), messageReply("Thông báo")); err != nil {
						errs <- err
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			f.waitSent(40)
			if f.fake.Refreshes != 2 {
				t.Fatalf("%d refreshes, want 2 (the first use and one after the expiry)", f.fake.Refreshes)
			}
			c, _, err := f.db.Credentials().Credential(ctx, zalo.CredentialName)
			if err != nil || c.RefreshToken != f.fake.RefreshToken() || c.AccessToken != f.fake.AccessToken() {
				t.Fatalf("stored pair %+v, Zalo honours %s/%s", c, f.fake.AccessToken(), f.fake.RefreshToken())
			}
		})
	}
}

func TestRefreshFailureIsReportedNotFatal(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	ctx := context.Background()
	if err := zalo.SetRefreshToken(ctx, f.db.Credentials(), "burnt-token"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tokens.Access(ctx); err == nil || !strings.Contains(err.Error(), "-14020") {
		t.Fatalf("a burnt refresh token: %v", err)
	}
	// The stored (bad) token is kept for a human to replace; nothing crashed.
	c, _, _ := f.db.Credentials().Credential(ctx, zalo.CredentialName)
	if c.RefreshToken != "burnt-token" {
		t.Fatalf("stored %+v", c)
	}
}

func messageReply(text string) message.Reply { return message.Reply{Text: text} }
