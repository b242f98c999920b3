package webchat_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/channels/webchat"
	"github.com/dvcbot/dvcbot/store/storetest"
)

type frame struct {
	Text    string `json:"text"`
	Choices []struct {
		Label string `json:"label"`
		Value string `json:"value"`
	} `json:"choices"`
	Hint    string `json:"hint"`
	Error   string `json:"error"`
	Session string `json:"session"`
}

func newServer(t *testing.T, opts ...webchat.Option) *httptest.Server {
	t.Helper()
	db := storetest.SQLite(t)
	bot, tr := citizentest.New(t, db, time.Now())
	opts = append([]webchat.Option{webchat.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	mux := http.NewServeMux()
	pipe := channeltest.Pipeline(db, bot, tr)
	ch := webchat.New(pipe, tr, opts...)
	ch.Register(mux)
	channeltest.Start(t, pipe, db, ch.Sender())
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func dial(t *testing.T, srv *httptest.Server, path string, h http.Header, jar http.CookieJar) (*websocket.Conn, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{Jar: jar, HandshakeTimeout: 5 * time.Second}
	return d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+path, h)
}

func read(t *testing.T, c *websocket.Conn) frame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var f frame
	if err := c.ReadJSON(&f); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return f
}

func TestPage(t *testing.T) {
	srv := newServer(t)
	for _, tc := range []struct{ path, want, lang string }{
		{"/", "Trợ lý dịch vụ công", "vi"},
		{"/?lang=en", "Public services assistant", "en"},
		{"/?lang=xx", "Trợ lý dịch vụ công", "vi"},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), tc.want) || !strings.Contains(string(body), `<html lang="`+tc.lang+`">`) {
			t.Fatalf("%s: %d %.200s", tc.path, resp.StatusCode, body)
		}
		if !strings.Contains(resp.Header.Get("Set-Cookie"), webchat.CookieName+"=") || !strings.Contains(resp.Header.Get("Set-Cookie"), "HttpOnly") {
			t.Fatalf("%s: no session cookie: %q", tc.path, resp.Header.Get("Set-Cookie"))
		}
	}
	if resp, _ := http.Get(srv.URL + "/nope"); resp.StatusCode != 404 {
		t.Fatalf("/nope: %d", resp.StatusCode)
	}
}

func TestOrigins(t *testing.T) {
	srv := newServer(t, webchat.WithOrigins([]string{"https://dichvucong.danang.gov.vn"}))
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		origin string
		ok     bool
	}{
		{"http://" + host, true},
		{"https://dichvucong.danang.gov.vn", true},
		{"https://dichvucong.danang.gov.vn/", true},
		{"https://evil.example", false},
		{"null", false},
		{"", true}, // not a browser
	}
	for _, tc := range tests {
		h := http.Header{}
		if tc.origin != "" {
			h.Set("Origin", tc.origin)
		}
		c, resp, err := dial(t, srv, "/ws", h, nil)
		if tc.ok {
			if err != nil {
				t.Fatalf("origin %q refused: %v", tc.origin, err)
			}
			c.Close()
			continue
		}
		if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("origin %q: err %v, resp %v; want 403", tc.origin, err, resp)
		}
	}
}

func TestConversationOverWebsocket(t *testing.T) {
	srv := newServer(t)
	jar, _ := cookiejar.New(nil)
	c, resp, err := dial(t, srv, "/ws", nil, jar)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !strings.Contains(resp.Header.Get("Set-Cookie"), webchat.CookieName) {
		t.Fatalf("the upgrade did not set the session cookie")
	}
	u, _ := url.Parse(srv.URL)
	jar.SetCookies(u, resp.Cookies())
	welcome := read(t, c)
	if !strings.Contains(welcome.Text, "Xin chào") || len(welcome.Choices) == 0 || welcome.Hint == "" {
		t.Fatalf("welcome %+v", welcome)
	}
	steps := []struct {
		send, want string
		choices    int
	}{
		{`{"text": "dvc 000.00.20.h17-261102-0004"}`, "Hồ sơ đang được giải quyết", 0},
		{`{"text": "dang ky khai sinh"}`, "Thủ tục đăng ký khai sinh", 4},
		{`{"text": "1", "choice": true}`, "Thời hạn giải quyết", 0},
		{`not json`, "", 0},
		{`{"text": "EN"}`, "Switched to English", 0},
	}
	for _, s := range steps {
		if err := c.WriteMessage(websocket.TextMessage, []byte(s.send)); err != nil {
			t.Fatal(err)
		}
		f := read(t, c)
		if s.want == "" {
			if f.Error == "" {
				t.Fatalf("%s: expected an error frame, got %+v", s.send, f)
			}
			continue
		}
		if !strings.Contains(f.Text, s.want) || len(f.Choices) < s.choices {
			t.Fatalf("%s: frame %+v", s.send, f)
		}
	}
	// A reconnect with the same cookie resumes the session: no welcome, English kept.
	c2, _, err := dial(t, srv, "/ws?resume=1", nil, jar)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	c2.WriteMessage(websocket.TextMessage, []byte(`{"text": "dvc 000.00.20.H17-261102-0004"}`))
	if f := read(t, c2); !strings.Contains(f.Text, "Being processed") {
		t.Fatalf("resumed session lost its language: %+v", f)
	}
}

func TestOversizedFrameClosesTheConnection(t *testing.T) {
	srv := newServer(t)
	c, _, err := dial(t, srv, "/ws", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read(t, c) // welcome
	big := `{"text": "` + strings.Repeat("ồ", webchat.ReadLimit) + `"}`
	_ = c.WriteMessage(websocket.TextMessage, []byte(big))
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Fatalf("read after an oversized frame: %v, want close 1009", err)
	}
}

func TestKeepAlive(t *testing.T) {
	srv := newServer(t, webchat.WithKeepAlive(50*time.Millisecond, 400*time.Millisecond))
	// A client that answers pings stays connected and can still talk.
	c, _, err := dial(t, srv, "/ws", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	read(t, c)
	pings := make(chan struct{}, 100)
	c.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	done := make(chan error, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _, err := c.ReadMessage() // processes pings until the reply arrives
		done <- err
	}()
	for range 12 { // 12 pings ≈ 600 ms, longer than the 400 ms pong wait
		select {
		case <-pings:
		case <-time.After(5 * time.Second):
			t.Fatal("the server stopped pinging")
		}
	}
	if err := c.WriteMessage(websocket.TextMessage, []byte(`{"text": "HD"}`)); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("a client answering pings was dropped: %v", err)
	}
	// A client that never answers is dropped after the pong wait.
	silent, _, err := dial(t, srv, "/ws", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetPingHandler(func(string) error { return nil })
	_ = silent.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := silent.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("the server kept a silent client for 10 s")
			}
			break
		}
	}
}
