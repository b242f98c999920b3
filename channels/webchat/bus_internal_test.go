package webchat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// replica is one process of the service: its web chat, its bus, its server.
type replica struct {
	ch  *Channel
	bus *store.WebChatBus
	srv *httptest.Server
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newReplicas starts n web chats whose buses share one Postgres database
// (and a NOTIFY channel of this test's own).
func newReplicas(t *testing.T, n int) []*replica {
	t.Helper()
	url := storetest.PostgresSchemaURL(t)
	channel := "dvcbot_webchat_t_" + randHex(6)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	lite := storetest.SQLite(t)
	bot, tr := citizentest.New(t, lite, time.Now())
	var out []*replica
	for range n {
		db, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		bus, err := store.NewWebChatBus(db, url, store.WithBusChannel(channel), store.WithBusLogger(channeltest.Quiet))
		if err != nil || bus == nil {
			t.Fatalf("bus: %v %v", bus, err)
		}
		ch := New(channeltest.Pipeline(lite, bot, tr), tr, WithLogger(channeltest.Quiet), WithBus(bus), WithBusWait(time.Second))
		mux := http.NewServeMux()
		ch.Register(mux)
		srv := httptest.NewServer(mux)
		done := make(chan struct{}, 2)
		go func() { _ = bus.Run(ctx); done <- struct{}{} }()
		go func() { _ = ch.Run(ctx); done <- struct{}{} }()
		t.Cleanup(func() { srv.Close(); cancel(); <-done; <-done })
		out = append(out, &replica{ch: ch, bus: bus, srv: srv})
	}
	for _, r := range out {
		channeltest.Eventually(t, "bus listening", func() bool { return r.bus.ListenerPID() != 0 })
	}
	return out
}

// openPage connects a page of session user to r (no greeting) and waits
// until r's hub holds it.
func openPage(t *testing.T, r *replica, user string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Cookie": {CookieName + "=" + user}}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(r.srv.URL, "http")+"/ws?resume=1", h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	channeltest.Eventually(t, "page in the hub", func() bool { return len(r.ch.hub.sessions(user)) > 0 })
	return conn
}

func readFrame(t *testing.T, c *websocket.Conn) outFrame {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f outFrame
	if err := c.ReadJSON(&f); err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// noFrame checks that nothing more arrives on c for a while.
func noFrame(t *testing.T, c *websocket.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var f outFrame
	if err := c.ReadJSON(&f); err == nil {
		t.Fatalf("a second frame arrived: %+v", f)
	}
}

func TestCrossReplicaPush(t *testing.T) {
	rs := newReplicas(t, 2)
	a, b := rs[0], rs[1]
	onB := randHex(16)
	pageB := openPage(t, b, onB)
	big := strings.Repeat("ả", 4000) // 12 000 bytes: more than a NOTIFY takes

	for _, tc := range []struct {
		name, to, text string
		wantErr        bool
		maxWait        time.Duration
	}{
		{"page on the other replica", onB, "Cán bộ đã trả lời: hồ sơ của bạn đã xong.", false, time.Second},
		{"connected nowhere", randHex(16), "ai đó", true, 3 * time.Second},
		{"too large for NOTIFY", onB, big, true, 500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := a.ch.Sender().Send(context.Background(), notify.Message{Kind: notify.WebChat, Recipient: tc.to, Payload: notify.Payload{Text: tc.text}})
			if took := time.Since(start); took > tc.maxWait {
				t.Fatalf("Send took %v", took)
			}
			if tc.wantErr {
				if !errors.Is(err, errNotConnected) {
					t.Fatalf("err = %v, want errNotConnected", err)
				}
				if tc.to == onB {
					noFrame(t, pageB)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f := readFrame(t, pageB); f.Text != tc.text {
				t.Fatalf("page got %q", f.Text)
			}
			noFrame(t, pageB) // one push per request
		})
	}
}

// A page on both replicas gets the message once in each tab: replica A
// pushes locally and does not ask the bus.
func TestLocalPageSkipsBus(t *testing.T) {
	rs := newReplicas(t, 2)
	user := randHex(16)
	pa, pb := openPage(t, rs[0], user), openPage(t, rs[1], user)
	if _, err := rs[0].ch.Sender().Send(context.Background(), notify.Message{Recipient: user, Payload: notify.Payload{Text: "xin chào"}}); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, pa); f.Text != "xin chào" {
		t.Fatalf("tab on A got %q", f.Text)
	}
	noFrame(t, pa)
	noFrame(t, pb)
}

// The listener's connection is killed: the bus reconnects and the next
// Send works.
func TestBusReconnects(t *testing.T) {
	rs := newReplicas(t, 2)
	a, b := rs[0], rs[1]
	user := randHex(16)
	page := openPage(t, b, user)
	ctx := context.Background()
	admin, err := store.Open(ctx, storetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, r := range rs {
		old := r.bus.ListenerPID()
		if _, err := admin.Bun().ExecContext(ctx, "SELECT pg_terminate_backend(?)", old); err != nil {
			t.Fatal(err)
		}
		channeltest.Eventually(t, "listening again", func() bool { pid := r.bus.ListenerPID(); return pid != 0 && pid != old })
	}
	if _, err := a.ch.Sender().Send(ctx, notify.Message{Recipient: user, Payload: notify.Payload{Text: "sau khi nối lại"}}); err != nil {
		t.Fatal(err)
	}
	if f := readFrame(t, page); f.Text != "sau khi nối lại" {
		t.Fatalf("page got %q", f.Text)
	}
}

// One request id is pushed once, however often it arrives.
func TestBusDedupesRequests(t *testing.T) {
	rs := newReplicas(t, 1)
	r := rs[0]
	user := randHex(16)
	page := openPage(t, r, user)
	req := []byte(`{"type":"push","id":"` + randHex(8) + `","to":"` + user + `","frame":{"text":"một lần"}}`)
	for range 3 {
		if err := r.bus.Publish(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if f := readFrame(t, page); f.Text != "một lần" {
		t.Fatalf("page got %q", f.Text)
	}
	noFrame(t, page)
}
