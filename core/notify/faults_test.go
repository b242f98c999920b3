package notify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// clock is the injected time of the store and the workers.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(db *store.DB) *clock {
	c := &clock{t: time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)}
	db.SetClock(c.Now)
	return c
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// slowGateway counts every request as it arrives (the message has left)
// and answers the first one only when the test releases it.
type slowGateway struct {
	kind    string
	mu      sync.Mutex
	calls   map[int64]int
	started chan struct{}
	release chan struct{}
	respond func(n int) (string, error) // the answer to the n-th request (1-based)
}

func newSlowGateway(kind string) *slowGateway {
	return &slowGateway{kind: kind, calls: map[int64]int{}, started: make(chan struct{}, 16), release: make(chan struct{}),
		respond: func(n int) (string, error) { return "ref", nil }}
}

func (g *slowGateway) Kind() string { return g.kind }

func (g *slowGateway) Send(ctx context.Context, m notify.Message) (string, error) {
	g.mu.Lock()
	g.calls[m.ID]++
	n := g.calls[m.ID]
	g.mu.Unlock()
	g.started <- struct{}{}
	if n == 1 {
		<-g.release // the gateway took the message and answers late, whatever the caller does
	}
	return g.respond(n)
}

func (g *slowGateway) count(id int64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls[id]
}

// watched signals each lease renewal and can stall them (a database the
// worker cannot reach during a slow send).
type watched struct {
	*store.OutboxStore
	mu      sync.Mutex
	extends int
	changed chan struct{}
	stalled bool
}

func watch(ob *store.OutboxStore) *watched {
	return &watched{OutboxStore: ob, changed: make(chan struct{})}
}

func (w *watched) Extend(ctx context.Context, m notify.Message, lease, wait time.Duration) (bool, error) {
	w.mu.Lock()
	stalled := w.stalled
	w.mu.Unlock()
	ok, err := false, errors.New("database stalled")
	if !stalled {
		ok, err = w.OutboxStore.Extend(ctx, m, lease, wait)
	}
	w.mu.Lock()
	w.extends++
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
	return ok, err
}

// awaitExtends returns once n more renewals have completed.
func (w *watched) awaitExtends(t *testing.T, n int) {
	t.Helper()
	w.mu.Lock()
	target := w.extends + n
	w.mu.Unlock()
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		done, ch := w.extends >= target, w.changed
		w.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatal("the worker does not renew its lease")
		}
	}
}

func one(t *testing.T, ob *store.OutboxStore, kind string) notify.Message {
	t.Helper()
	ctx := context.Background()
	m := msg("one")
	m.Kind = kind
	if _, err := ob.Enqueue(ctx, m); err != nil {
		t.Fatal(err)
	}
	msgs, err := ob.Messages(ctx, kind)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("%v %v", msgs, err)
	}
	return msgs[0]
}

func row(t *testing.T, ob *store.OutboxStore, id int64) notify.Message {
	t.Helper()
	m, ok, err := ob.Message(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("message %d: %v %v", id, ok, err)
	}
	return m
}

// result reads the worker's dvcbot_outbox_messages_total{kind,result}.
func result(w *notify.Worker, kind, res string) int {
	reg := prometheus.NewRegistry()
	reg.MustRegister(w.Results())
	mfs, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["kind"] == kind && labels["result"] == res {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	return 0
}

func runOnce(t *testing.T, w *notify.Worker) int {
	t.Helper()
	n, err := w.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A send slower than the lease: the worker renews its lease while the
// gateway holds the request, so a second worker finds nothing to claim, and
// the message goes out once.
func TestOutboxSlowSendKeepsItsLease(t *testing.T) {
	for _, kind := range []string{notify.Telegram, notify.SMS} {
		t.Run(kind, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				clk := newClock(db)
				m := one(t, db.Outbox(), kind)
				gw := newSlowGateway(kind)
				wa := watch(db.Outbox())
				a := notify.NewWorker(wa, []notify.Sender{gw}, notify.WithLease(10*time.Second), notify.WithHeartbeat(time.Millisecond),
					notify.WithClock(clk.Now), notify.WithWorkerLogger(quietLog))
				b := notify.NewWorker(db.Outbox(), []notify.Sender{gw}, notify.WithLease(10*time.Second),
					notify.WithClock(clk.Now), notify.WithWorkerLogger(quietLog))
				done := make(chan int)
				go func() { n, _ := a.RunOnce(context.Background()); done <- n }()
				<-gw.started
				clk.Advance(time.Minute) // six leases: only the heartbeat keeps the row A's
				wa.awaitExtends(t, 2)
				if n := runOnce(t, b); n != 0 {
					t.Fatalf("the second worker claimed %d messages of a live send", n)
				}
				close(gw.release)
				<-done
				got := row(t, db.Outbox(), m.ID)
				if gw.count(m.ID) != 1 || got.State != notify.Sent || result(a, kind, notify.ResultSent) != 1 {
					t.Fatalf("sent %d times, row %s, metrics sent %d", gw.count(m.ID), got.State, result(a, kind, notify.ResultSent))
				}
			})
		})
	}
}

// Two workers race for one row whose lease ends during a slow send (the
// first worker cannot reach the database to renew it). The loser never
// overwrites the winner's result. Without receipts (Telegram) the second
// worker sends again once the lease ended; an SMS waits for its DLR wait,
// so it goes out once.
func TestOutboxRaceForOneRow(t *testing.T) {
	for _, tc := range []struct {
		kind      string
		sends     int
		ref       string
		leaseLost int
	}{
		{notify.Telegram, 2, "ref-B", 1},
		{notify.SMS, 1, "ref-A", 0},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				clk := newClock(db)
				m := one(t, db.Outbox(), tc.kind)
				gw := newSlowGateway(tc.kind)
				gw.respond = func(n int) (string, error) { return map[int]string{1: "ref-A", 2: "ref-B"}[n], nil }
				wa := watch(db.Outbox())
				wa.stalled = true
				a := notify.NewWorker(wa, []notify.Sender{gw}, notify.WithLease(10*time.Second), notify.WithHeartbeat(time.Millisecond),
					notify.WithClock(clk.Now), notify.WithWorkerLogger(quietLog))
				b := notify.NewWorker(db.Outbox(), []notify.Sender{gw}, notify.WithLease(10*time.Second),
					notify.WithClock(clk.Now), notify.WithWorkerLogger(quietLog))
				done := make(chan struct{})
				go func() { a.RunOnce(context.Background()); close(done) }()
				<-gw.started
				clk.Advance(11 * time.Second) // A's lease ended
				wa.awaitExtends(t, 1)
				runOnce(t, b)
				close(gw.release) // A's gateway call returns: a success A may no longer record
				<-done
				got := row(t, db.Outbox(), m.ID)
				if gw.count(m.ID) != tc.sends || got.State != notify.Sent || got.ProviderRef != tc.ref {
					t.Fatalf("sent %d times (want %d), row %s ref %q (want %q)", gw.count(m.ID), tc.sends, got.State, got.ProviderRef, tc.ref)
				}
				if n := result(a, tc.kind, notify.ResultLeaseLost); n != tc.leaseLost {
					t.Fatalf("lease_lost %d, want %d", n, tc.leaseLost)
				}
			})
		})
	}
}

// A worker dies after it began a send (claim, begin, no result). An SMS is
// not sent again while its DLR may still come: a DLR completes it; without
// one it is sent again after the DLR wait. Kinds without receipts are sent
// again once the lease ended; a message whose send never began is, too.
func TestOutboxCrashInFlight(t *testing.T) {
	const lease, dlrWait = time.Minute, 10 * time.Minute
	for _, tc := range []struct {
		name   string
		kind   string
		begun  bool
		dlr    string        // a report arriving after the crash
		after  time.Duration // clock advance after the crash
		resent bool
	}{
		{"sms dlr after crash", notify.SMS, true, notify.Accepted, lease + dlrWait + time.Hour, false},
		{"sms no dlr within the lease", notify.SMS, true, "", lease + time.Second, false},
		{"sms no dlr within the wait", notify.SMS, true, "", lease + dlrWait - time.Second, false},
		{"sms no dlr after the wait", notify.SMS, true, "", lease + dlrWait + time.Second, true},
		{"sms never begun", notify.SMS, false, "", lease + time.Second, true},
		{"telegram after the lease", notify.Telegram, true, "", lease + time.Second, true},
		{"zalo within the lease", notify.Zalo, true, "", lease - time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				clk := newClock(db)
				ob := db.Outbox()
				one(t, ob, tc.kind)
				claimed, err := ob.Claim(ctx, []string{tc.kind}, 10, lease)
				if err != nil || len(claimed) != 1 {
					t.Fatalf("claim: %v %v", claimed, err)
				}
				if tc.begun {
					wait := map[string]time.Duration{notify.SMS: dlrWait}[tc.kind]
					if ok, err := ob.Begin(ctx, claimed[0], lease, wait); !ok || err != nil {
						t.Fatalf("begin: %v %v", ok, err)
					}
				}
				// kill -9 here.
				if tc.dlr != "" {
					clk.Advance(30 * time.Second)
					if ok, err := ob.RecordDelivery(ctx, claimed[0].ID, tc.dlr); !ok || err != nil {
						t.Fatalf("dlr: %v %v", ok, err)
					}
				}
				clk.Advance(tc.after)
				gw := newGateway(tc.kind)
				w := notify.NewWorker(ob, []notify.Sender{gw}, notify.WithLease(lease), notify.WithDLRWait(dlrWait),
					notify.WithClock(clk.Now), notify.WithWorkerLogger(quietLog))
				drain(t, w)
				sends := gw.sent["one"]
				if want := map[bool]int{true: 1, false: 0}[tc.resent]; sends != want {
					t.Fatalf("sent %d times after the crash, want %d", sends, want)
				}
				got := row(t, ob, claimed[0].ID)
				switch {
				case tc.dlr != "" && (got.State != notify.Sent || got.DeliveryStatus != tc.dlr || got.SentAt == nil):
					t.Fatalf("the DLR did not complete the row: %+v", got)
				case tc.resent && (got.State != notify.Sent || got.Attempts != 2):
					t.Fatalf("resent row: %+v", got)
				case !tc.resent && tc.dlr == "" && got.State != notify.Sending:
					t.Fatalf("row waiting for its DLR: %+v", got)
				}
				if tc.resent && tc.begun && result(w, tc.kind, notify.ResultResent) != 1 {
					t.Fatal("a resend of an in-flight message is not counted")
				}
			})
		})
	}
}

// ambiguousGateway may have sent (it answers after the client gave up)
// the first time, and succeeds after.
type ambiguousGateway struct {
	kind  string
	mu    sync.Mutex
	calls int
	err   error
}

func (g *ambiguousGateway) Kind() string { return g.kind }

func (g *ambiguousGateway) Send(context.Context, notify.Message) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calls++
	if g.calls == 1 {
		return "", g.err
	}
	return "ref", nil
}

// A failure after which the message may have left is not followed by a
// blind resend: SMS waits for the DLR wait (a DLR completes it), back-off
// honours RetryAfter, and other kinds retry after their back-off.
func TestOutboxAmbiguousAndRetryAfter(t *testing.T) {
	const dlrWait = 10 * time.Minute
	timeout := errors.New("Post https://gateway/send: context deadline exceeded (Client.Timeout exceeded while awaiting headers)")
	for _, tc := range []struct {
		name   string
		kind   string
		err    error
		dlr    string
		early  time.Duration // no attempt yet at this point
		due    time.Duration // the second attempt is due here
		result string
		sends  int
	}{
		{"sms ambiguous then dlr", notify.SMS, notify.Ambiguous(timeout), notify.Delivered, dlrWait - time.Second, dlrWait + time.Second, notify.ResultAmbiguous, 1},
		{"sms ambiguous no dlr", notify.SMS, notify.Ambiguous(timeout), "", dlrWait - time.Second, dlrWait + time.Second, notify.ResultAmbiguous, 2},
		{"sms plain 503", notify.SMS, errors.New("503"), "", 0, 2 * time.Second, notify.ResultRetry, 2},
		{"telegram 429 retry_after", notify.Telegram, notify.RetryAfter(errors.New("429 Too Many Requests"), 90*time.Second), "",
			89 * time.Second, 91 * time.Second, notify.ResultRetry, 2},
		{"zalo rate limit", notify.Zalo, notify.RetryAfter(errors.New("-32: rate limited"), time.Hour), "",
			59 * time.Minute, 61 * time.Minute, notify.ResultRetry, 2},
		{"telegram ambiguous", notify.Telegram, notify.Ambiguous(timeout), "", 0, 2 * time.Second, notify.ResultAmbiguous, 2},
		{"zalo blocked", notify.Zalo, notify.Permanent(errors.New("user blocked the OA")), "", 0, time.Hour, notify.ResultFailed, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				clk := newClock(db)
				ob := db.Outbox()
				m := one(t, ob, tc.kind)
				gw := &ambiguousGateway{kind: tc.kind, err: tc.err}
				reg := prometheus.NewRegistry()
				// 1 s back-off (±20 %): short beside every wait above.
				w := notify.NewWorker(ob, []notify.Sender{gw}, notify.WithBackoff(time.Second, time.Second), notify.WithDLRWait(dlrWait),
					notify.WithClock(clk.Now), notify.WithWorkerLogger(quietLog), notify.WithWorkerMetrics(reg))
				drain(t, w)
				if result(w, tc.kind, tc.result) != 1 {
					t.Fatalf("the first attempt did not count as %s", tc.result)
				}
				first := row(t, ob, m.ID)
				if (tc.result == notify.ResultAmbiguous) != (first.InFlightAt != nil) {
					t.Fatalf("in flight after %v: %v", tc.err, first.InFlightAt)
				}
				if tc.early > 0 {
					clk.Advance(tc.early)
					drain(t, w)
					if gw.calls != 1 {
						t.Fatalf("retried %v after %v", tc.err, tc.early)
					}
				}
				if tc.dlr != "" {
					if ok, err := ob.RecordDelivery(ctx, m.ID, tc.dlr); !ok || err != nil {
						t.Fatal(ok, err)
					}
				}
				clk.Advance(tc.due - tc.early)
				drain(t, w)
				got := row(t, ob, m.ID)
				if gw.calls != tc.sends {
					t.Fatalf("sent %d times, want %d: %+v", gw.calls, tc.sends, got)
				}
				wantState := notify.Sent
				if tc.result == notify.ResultFailed {
					wantState = notify.Failed
				}
				if got.State != wantState || got.DeliveryStatus != tc.dlr {
					t.Fatalf("row %+v", got)
				}
			})
		})
	}
}

// Shutdown during a batch: the send in progress is finished and recorded,
// the messages not begun are handed back without counting an attempt.
func TestOutboxShutdownFinishesTheSendInHand(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		ob := db.Outbox()
		a, b := msg("a"), msg("b")
		a.Kind, b.Kind = notify.Telegram, notify.Telegram
		if _, err := ob.Enqueue(ctx, a, b); err != nil {
			t.Fatal(err)
		}
		gw := newSlowGateway(notify.Telegram)
		w := notify.NewWorker(ob, []notify.Sender{gw}, notify.WithWorkerLogger(quietLog))
		done := make(chan error)
		go func() { done <- w.Run(ctx) }()
		<-gw.started
		cancel()
		close(gw.release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		msgs, _ := ob.Messages(context.Background(), notify.Telegram)
		if msgs[0].State != notify.Sent || msgs[1].State != notify.Pending || msgs[1].Attempts != 0 {
			t.Fatalf("after shutdown: %+v / %+v", msgs[0], msgs[1])
		}
	})
}
