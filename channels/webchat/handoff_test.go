package webchat_test

import (
	"context"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/bots/handoff"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/channels/webchat"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/ticket"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// A citizen opens a ticket on the web chat, then verifies as a dossier's
// applicant, which rotates the session id. The ticket follows: the
// officer's answer (the console's path, Desk.Answer) reaches the page that
// reconnected under the new id, the citizen's next message lands on the
// same ticket, and a page still open under the old id (another tab, or
// whoever planted that cookie) gets none of it, and what it says is not
// the ticket's.
func TestTicketFollowsTheRotatedSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		bot, tr := citizentest.New(t, db, time.Now())
		desk := ticket.New(ticket.Config{Store: db.Tickets(), Hours: ticket.MustHours("Mon-Sun 00:00-23:59"), Log: channeltest.Quiet})
		route := handoff.Route(handoff.Config{Desk: desk, Sessions: db.Sessions(), Dossiers: db.Dossiers(), Procedures: db.Catalog(),
			Topic: citizen.Topic, AwaitsVerification: citizen.AwaitsVerification, Tr: tr, Log: channeltest.Quiet})
		pipe := channeltest.Pipeline(db, bot, tr, inbound.WithRoute(route))
		ch := webchat.New(pipe, tr, webchat.WithLogger(channeltest.Quiet), webchat.WithSessions(bot), webchat.WithRotator(desk))
		mux := http.NewServeMux()
		ch.Register(mux)
		channeltest.Start(t, pipe, db, ch.Sender())
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)

		_, resp := getPage(t, srv, "/", "")
		old := sessionCookie(resp)
		u, _ := url.Parse(srv.URL)
		jar, _ := cookiejar.New(nil)
		jar.SetCookies(u, []*http.Cookie{{Name: webchat.CookieName, Value: old}})
		stale, _ := cookiejar.New(nil)
		stale.SetCookies(u, []*http.Cookie{{Name: webchat.CookieName, Value: old}})
		other, _, err := dial(t, srv, "/ws?resume=1", nil, stale) // another page under the old id
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		c, _, err := dial(t, srv, "/ws", nil, jar)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		read(t, c) // the greeting
		send := func(c *websocket.Conn, text string) {
			t.Helper()
			if err := c.WriteJSON(map[string]string{"text": text}); err != nil {
				t.Fatal(err)
			}
		}

		// A ticket, opened under the old id.
		send(c, "Tôi muốn gặp cán bộ")
		f := read(t, c)
		m := regexp.MustCompile(`#(\d+)`).FindStringSubmatch(f.Text)
		if m == nil {
			t.Fatalf("opening: %+v", f)
		}
		number, _ := strconv.ParseInt(m[1], 10, 64)

		// Verifying while it is open: the bot answers, the session rotates.
		send(c, "XACMINH 000.00.20.H17-261102-0006")
		if f := read(t, c); !strings.Contains(f.Text, "4 số cuối") {
			t.Fatalf("XACMINH during the ticket: %+v", f)
		}
		send(c, "3456")
		f = read(t, c)
		if !strings.Contains(f.Text, "Đã xác minh") || f.Session == "" {
			t.Fatalf("verification during the ticket: %+v", f)
		}
		c.Close() // the page reconnects with the ticket, as page.html does
		c2, wsResp, err := dial(t, srv, "/ws?resume=1&ticket="+url.QueryEscape(f.Session), nil, jar)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.Close()
		newID := sessionCookie(wsResp)
		if newID == "" || newID == old {
			t.Fatalf("cookie after the rotation %q (old %q)", newID, old)
		}
		tk, err := db.Tickets().Get(ctx, number)
		if err != nil || tk.UserID != newID || tk.State != ticket.Open {
			t.Fatalf("the ticket after the rotation: %+v %v", tk, err)
		}

		// The officer answers from the console: the new page gets it.
		const answer = "Dạ, hồ sơ của anh đang được thẩm định."
		if _, err := desk.Answer(ctx, number, ticket.Officer{Name: "lan@example.gov.vn"}, answer, ""); err != nil {
			t.Fatal(err)
		}
		if f := read(t, c2); !strings.Contains(f.Text, answer) || !strings.Contains(f.Text, "#"+m[1]) {
			t.Fatalf("the new page got %+v, want the officer's answer", f)
		}
		msgs, _ := db.Outbox().Messages(ctx, notify.WebChat)
		for _, m := range msgs {
			if m.Recipient == old {
				t.Fatalf("an outbox message to the old id: %+v", m)
			}
		}

		// The citizen's next message, under the new id, goes to the same
		// ticket (no second one, no bot answer).
		send(c2, "Cảm ơn, khi nào có kết quả ạ?")
		channeltest.Eventually(t, "the message on the ticket", func() bool {
			return strings.Contains(conversation(t, db, number), "khi nào có kết quả")
		})
		if st, err := desk.Status(ctx, message.WebChat, newID, ""); err != nil || st.Open == nil || st.Open.Number != number {
			t.Fatalf("status of the new id: %+v %v", st, err)
		}
		if list, _ := db.Tickets().List(ctx, ticket.Filter{}); len(list) != 1 {
			t.Fatalf("%d tickets, want 1: %+v", len(list), list)
		}
		_ = c2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		var extra frame
		if err := c2.ReadJSON(&extra); err == nil {
			t.Fatalf("the bot answered a message for the ticket: %+v", extra)
		}

		// The page under the old id got nothing of it (its first frame is
		// the answer to what it says now, and a push would have come
		// before), and what it says is not the ticket's: the bot answers it
		// as a stranger.
		send(other, "xin chao, co ai khong")
		if f := read(t, other); f.Text == "" || strings.Contains(f.Text, answer) || strings.Contains(f.Text, "#"+m[1]) {
			t.Fatalf("the old id, after the rotation, got %+v", f)
		}
		conv := conversation(t, db, number)
		if strings.Contains(conv, "co ai khong") {
			t.Fatalf("the old id's message reached the ticket:\n%s", conv)
		}
		// The inbox still shows what was said before the rotation.
		if !strings.Contains(conv, "citizen: Tôi muốn gặp cán bộ") || !strings.Contains(conv, ticket.RotatedNote) {
			t.Fatalf("the conversation after the rotation:\n%s", conv)
		}
		if st, _ := desk.Status(ctx, message.WebChat, old, ""); st.Open != nil {
			t.Fatalf("the old id has an open ticket: %+v", st.Open)
		}
	})
}

// conversation is ticket number's exchange as the inbox shows it.
func conversation(t *testing.T, db *store.DB, number int64) string {
	t.Helper()
	tk, err := db.Tickets().Get(context.Background(), number)
	if err != nil {
		t.Fatal(err)
	}
	conv, err := db.Tickets().Conversation(context.Background(), tk)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range conv {
		b.WriteString(e.Author + ": " + e.Text + "\n")
	}
	return b.String()
}
