package sms_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/channels/sms"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// fakeClock is the injected time of the store and the worker.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lateGateway counts the requests that reach it (each one is an SMS that
// left) and answers the first request for each recipient only after the
// client gave up on it.
type lateGateway struct {
	mu     sync.Mutex
	calls  map[string]int
	server *httptest.Server
}

func newLateGateway(t *testing.T) *lateGateway {
	g := &lateGateway{calls: map[string]int{}}
	g.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // read in full: the server then notices the client leaving
		to := r.URL.Query().Get("to")
		if r.Method == http.MethodPost {
			to = r.Header.Get("Idempotency-Key")
		}
		g.mu.Lock()
		g.calls[to]++
		n := g.calls[to]
		g.mu.Unlock()
		if n == 1 {
			<-r.Context().Done() // the client timed out; the gateway queued the SMS anyway
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"id":"gw-`+to+`"}`)
	}))
	t.Cleanup(g.server.Close)
	return g
}

func (g *lateGateway) count(to string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[to]
}

// A gateway that answers after the client's timeout: each SMS reaches it
// once. The late answer makes the send ambiguous, and the outbox waits for
// the DLR (which completes the row) instead of sending again; only when no
// DLR came within the DLR wait is the SMS sent a second time.
func TestSlowGatewaySendsEachSMSOnce(t *testing.T) {
	const dlrWait = 10 * time.Minute
	for _, kind := range []string{sms.KindKannel, sms.KindGeneric} {
		for _, withDLR := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/dlr=%v", kind, withDLR), func(t *testing.T) {
				storetest.Each(t, func(t *testing.T, db *store.DB) {
					ctx := context.Background()
					clk := &fakeClock{t: time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)}
					db.SetClock(clk.Now)
					gw := newLateGateway(t)
					u, _ := url.Parse(gw.server.URL + "/cgi-bin/sendsms")
					sender := sms.NewSender(sms.SenderConfig{URL: u, Kind: kind, Shortcode: "8188", Secret: secret,
						DLRURL: "http://127.0.0.1:8080/channels/sms/dlr", Timeout: 200 * time.Millisecond}, db.SMSOptOuts(), nil)
					ob := db.Outbox()
					var msgs []notify.Message
					for i := range 6 {
						msgs = append(msgs, notify.Message{Kind: notify.SMS, Recipient: fmt.Sprint("8490512345", i),
							DedupeKey: fmt.Sprint("late-", i), Payload: notify.Payload{Text: "Ho so da co ket qua"}})
					}
					if _, err := ob.Enqueue(ctx, msgs...); err != nil {
						t.Fatal(err)
					}
					w := notify.NewWorker(ob, []notify.Sender{sender}, notify.WithDLRWait(dlrWait), notify.WithBackoff(time.Second, time.Second),
						notify.WithClock(clk.Now), notify.WithWorkerLogger(quiet))
					drainWorker(t, w)
					clk.Advance(dlrWait / 2)
					drainWorker(t, w)
					key := func(i int) string {
						if kind == sms.KindGeneric {
							return msgs[i].DedupeKey
						}
						return msgs[i].Recipient
					}
					rows, _ := ob.Messages(ctx, notify.SMS)
					for i, m := range rows {
						if gw.count(key(i)) != 1 || m.State != notify.Pending || m.InFlightAt == nil {
							t.Fatalf("%s: %d requests, row %s in flight %v (%s)", m.DedupeKey, gw.count(key(i)), m.State, m.InFlightAt, m.LastError)
						}
					}
					if withDLR {
						dlr := sms.DLR{Outbox: ob, Allowed: func(*http.Request, string) bool { return true }, Log: quiet}
						for _, m := range rows {
							rec := httptest.NewRecorder()
							dlr.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/channels/sms/dlr?id="+strconv.FormatInt(m.ID, 10)+"&status=8", nil))
							if rec.Code != http.StatusOK {
								t.Fatalf("dlr: %d %s", rec.Code, rec.Body)
							}
						}
					}
					clk.Advance(dlrWait)
					drainWorker(t, w)
					want := 1
					if !withDLR {
						want = 2
					}
					rows, _ = ob.Messages(ctx, notify.SMS)
					for i, m := range rows {
						if gw.count(key(i)) != want || m.State != notify.Sent {
							t.Fatalf("%s: %d requests (want %d), row %s/%s", m.DedupeKey, gw.count(key(i)), want, m.State, m.DeliveryStatus)
						}
						if withDLR && m.DeliveryStatus != notify.Accepted {
							t.Fatalf("%s: delivery status %q", m.DedupeKey, m.DeliveryStatus)
						}
					}
				})
			})
		}
	}
}

func drainWorker(t *testing.T, w *notify.Worker) {
	t.Helper()
	for range 50 {
		n, err := w.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
	t.Fatal("the outbox does not drain")
}

// How a failed request is classified: nothing left (retry), may have left
// (ambiguous), refused (permanent), or throttled (retry after the wait).
func TestSenderClassifiesFailures(t *testing.T) {
	db := storetest.SQLite(t)
	m := notify.Message{ID: 7, Kind: notify.SMS, Recipient: "84905123456", DedupeKey: "c", Payload: notify.Payload{Text: "x"}}
	for _, tc := range []struct {
		name      string
		handler   http.HandlerFunc
		closed    bool // nothing listens
		ambiguous bool
		permanent bool
		after     time.Duration
		requests  int
	}{
		{name: "accepted", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(202) }, requests: 1},
		{name: "refused connection", closed: true},
		{name: "503", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) }, requests: 1},
		{name: "429 retry-after", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
		}, after: 30 * time.Second, requests: 1},
		{name: "403", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) }, permanent: true, requests: 1},
		{name: "dropped after reading", handler: func(w http.ResponseWriter, r *http.Request) {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		}, ambiguous: true, requests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			requests := 0
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				requests++
				mu.Unlock()
				tc.handler(w, r)
			}))
			u, _ := url.Parse(srv.URL + "/cgi-bin/sendsms")
			if tc.closed {
				srv.Close()
			} else {
				defer srv.Close()
			}
			s := sms.NewSender(sms.SenderConfig{URL: u, Kind: sms.KindKannel, Shortcode: "8188"}, db.SMSOptOuts(), nil)
			_, err := s.Send(context.Background(), m)
			mu.Lock()
			defer mu.Unlock()
			var ra *notify.RetryAfterError
			switch {
			case requests != tc.requests:
				t.Fatalf("%d requests reached the gateway, want %d", requests, tc.requests)
			case tc.requests == 1 && tc.handler != nil && tc.name == "accepted" && err != nil:
				t.Fatal(err)
			case notify.IsAmbiguous(err) != tc.ambiguous:
				t.Fatalf("ambiguous = %v: %v", notify.IsAmbiguous(err), err)
			case notify.IsPermanent(err) != tc.permanent:
				t.Fatalf("permanent = %v: %v", notify.IsPermanent(err), err)
			case tc.after > 0 && (!errors.As(err, &ra) || ra.After != tc.after):
				t.Fatalf("retry after: %v", err)
			case tc.name != "accepted" && err == nil:
				t.Fatal("a failure passed as sent")
			}
		})
	}
}

// A gateway that reads a request on a kept-alive connection and closes it
// without answering: Go's transport would replay the GET on a new
// connection (a second SMS); the sender's own client never reuses a
// connection, so the request reaches the gateway once and the failure is
// ambiguous.
func TestSenderNeverReplaysARequest(t *testing.T) {
	db := storetest.SQLite(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	requests := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					mu.Lock()
					requests++
					n := requests
					mu.Unlock()
					if n >= 2 {
						return // read it, queued it, dropped the connection
					}
					io.WriteString(c, "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
				}
			}()
		}
	}()
	u, _ := url.Parse("http://" + ln.Addr().String() + "/cgi-bin/sendsms")
	s := sms.NewSender(sms.SenderConfig{URL: u, Kind: sms.KindKannel, Shortcode: "8188"}, db.SMSOptOuts(), nil)
	m := notify.Message{ID: 8, Kind: notify.SMS, Recipient: "84905123456", Payload: notify.Payload{Text: "x"}}
	if _, err := s.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), m)
	mu.Lock()
	defer mu.Unlock()
	if requests != 2 || !notify.IsAmbiguous(err) {
		t.Fatalf("%d requests, error %v", requests, err)
	}
}
