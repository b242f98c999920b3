package webchat_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/channels/webchat"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// newKeptServer is a web chat whose session ids are issued by the bot's
// session store.
func newKeptServer(t *testing.T) (*httptest.Server, *citizen.Bot) {
	t.Helper()
	db := storetest.SQLite(t)
	bot, tr := citizentest.New(t, db, time.Now())
	mux := http.NewServeMux()
	pipe := channeltest.Pipeline(db, bot, tr)
	ch := webchat.New(pipe, tr, webchat.WithLogger(channeltest.Quiet), webchat.WithSessions(bot))
	ch.Register(mux)
	channeltest.Start(t, pipe, db, ch.Sender())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, bot
}

func getPage(t *testing.T, srv *httptest.Server, path, cookie string) (string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+path, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: webchat.CookieName, Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body), resp
}

func sessionCookie(resp *http.Response) string {
	for _, c := range resp.Cookies() {
		if c.Name == webchat.CookieName {
			return c.Value
		}
	}
	return ""
}

// Only ids the server issued are accepted: a made-up cookie (the fixation
// finding) gets a new session.
func TestSessionIDsAreIssuedByTheServer(t *testing.T) {
	srv, bot := newKeptServer(t)
	ctx := context.Background()
	_, resp := getPage(t, srv, "/", "")
	issued := sessionCookie(resp)
	if known, err := bot.KnownSession(ctx, message.WebChat, issued); err != nil || !known {
		t.Fatalf("the issued id %q is not known: %v", issued, err)
	}
	for _, tc := range []struct {
		name, cookie string
		keep         bool
	}{
		{"issued", issued, true},
		{"forged, well-formed", "0123456789abcdef0123456789abcdef", false},
		{"malformed", "attacker", false},
	} {
		_, resp := getPage(t, srv, "/", tc.cookie)
		got := sessionCookie(resp)
		switch {
		case tc.keep && got != "":
			t.Errorf("%s: a new cookie %q replaced a valid one", tc.name, got)
		case !tc.keep && (got == "" || got == tc.cookie):
			t.Errorf("%s: cookie %q accepted (Set-Cookie %q)", tc.name, tc.cookie, got)
		}
	}
}

// After a rotation the old id is forgotten, and the page's reconnect with
// the ticket receives the new id's cookie, once.
func TestSessionRotation(t *testing.T) {
	srv, bot := newKeptServer(t)
	ctx := context.Background()
	_, resp := getPage(t, srv, "/", "")
	old := sessionCookie(resp)
	newID, ticket, err := bot.RotateSession(ctx, message.WebChat, old)
	if err != nil {
		t.Fatal(err)
	}
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(srv.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: webchat.CookieName, Value: old}})
	c, wsResp, err := dial(t, srv, "/ws?resume=1&ticket="+url.QueryEscape(ticket), nil, jar)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := sessionCookie(wsResp); got != newID {
		t.Fatalf("the reconnect with the ticket set cookie %q, want the new id %q", got, newID)
	}
	// Whoever else holds the old id, even with the ticket, starts over.
	stale, _ := cookiejar.New(nil)
	stale.SetCookies(u, []*http.Cookie{{Name: webchat.CookieName, Value: old}})
	c, wsResp, err = dial(t, srv, "/ws?resume=1&ticket="+url.QueryEscape(ticket), nil, stale)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if got := sessionCookie(wsResp); got == newID || got == old || got == "" {
		t.Fatalf("a used ticket with the old cookie got %q; want a fresh id", got)
	}
	if _, resp := getPage(t, srv, "/", newID); sessionCookie(resp) != "" {
		t.Fatal("the rotated id is not accepted")
	}
}

// The page follows the language: ?lang=en, and the session's language
// after EN, header, placeholder, send button and greeting alike.
func TestPageLanguage(t *testing.T) {
	srv, _ := newKeptServer(t)
	body, resp := getPage(t, srv, "/?lang=en", "")
	id := sessionCookie(resp)
	for _, want := range []string{`<html lang="en">`, `<h1 id="title">Public services assistant</h1>`,
		`placeholder="Type DVC &lt;dossier code&gt; or a procedure name"`, `>Send</button>`, `aria-label="Conversation"`} {
		if !strings.Contains(body, want) {
			t.Fatalf("/?lang=en lacks %q:\n%.600s", want, body)
		}
	}
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(srv.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: webchat.CookieName, Value: id}})
	c, _, err := dial(t, srv, "/ws", nil, jar)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if f := read(t, c); !strings.HasPrefix(f.Text, "Hello!") {
		t.Fatalf("greeting after /?lang=en: %q", f.Text)
	}
	// Back to Vietnamese in the conversation: the next page load follows.
	if err := c.WriteJSON(map[string]string{"text": "VI"}); err != nil {
		t.Fatal(err)
	}
	read(t, c)
	body, _ = getPage(t, srv, "/", id)
	if !strings.Contains(body, `<html lang="vi">`) || !strings.Contains(body, `>Gửi</button>`) {
		t.Fatalf("page after VI:\n%.400s", body)
	}
}

// Over the websocket: the right digits verify, the reply frame carries a
// one-time ticket, and reconnecting with it gives the page a new session id
// whose view is the applicant's; the old id starts over.
func TestVerificationRotatesTheSessionOverTheWebsocket(t *testing.T) {
	srv, _ := newKeptServer(t)
	_, resp := getPage(t, srv, "/", "")
	old := sessionCookie(resp)
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(srv.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: webchat.CookieName, Value: old}})
	c, _, err := dial(t, srv, "/ws", nil, jar)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read(t, c) // the greeting
	send := func(text string) frame {
		if err := c.WriteJSON(map[string]string{"text": text}); err != nil {
			t.Fatal(err)
		}
		return read(t, c)
	}
	if f := send("XACMINH 000.00.20.H17-261102-0006"); f.Session != "" || !strings.Contains(f.Text, "4 số cuối") {
		t.Fatalf("asking: %+v", f)
	}
	f := send("3456")
	if !strings.Contains(f.Text, "Đã xác minh") || f.Session == "" {
		t.Fatalf("verified reply %+v: want the applicant's view and a ticket", f)
	}
	c2, wsResp, err := dial(t, srv, "/ws?resume=1&ticket="+url.QueryEscape(f.Session), nil, jar)
	if err != nil {
		t.Fatal(err)
	}
	c2.Close()
	newID := sessionCookie(wsResp)
	if newID == "" || newID == old {
		t.Fatalf("cookie after the ticket %q (old %q)", newID, old)
	}
	if _, resp := getPage(t, srv, "/", old); sessionCookie(resp) == old || sessionCookie(resp) == "" {
		t.Fatal("the old id is still accepted after the rotation")
	}
}
