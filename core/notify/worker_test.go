package notify_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// gateway records what it was asked to send and fails on request: it stands
// for an SMS or mail gateway outside the machine.
type gateway struct {
	mu      sync.Mutex
	kind    string
	sent    map[string]int // dedupe key → times sent
	failFor map[string]int // dedupe key → transient failures left
	refuse  map[string]bool
}

func newGateway(kind string) *gateway {
	return &gateway{kind: kind, sent: map[string]int{}, failFor: map[string]int{}, refuse: map[string]bool{}}
}

func (g *gateway) Kind() string { return g.kind }

func (g *gateway) Send(_ context.Context, m notify.Message) (string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.refuse[m.DedupeKey] {
		return "", notify.Permanent(errors.New("recipient refused"))
	}
	if g.failFor[m.DedupeKey] > 0 {
		g.failFor[m.DedupeKey]--
		return "", errors.New("503 service unavailable")
	}
	g.sent[m.DedupeKey]++
	return "ref-" + m.DedupeKey, nil
}

func msg(key string) notify.Message {
	return notify.Message{Kind: notify.SMS, Recipient: "84905123456", DedupeKey: key, Payload: notify.Payload{Text: "Thong bao " + key}}
}

func drain(t *testing.T, w *notify.Worker) {
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

func TestOutboxDeliveryRetriesAndFailures(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ob := db.Outbox()
		n, err := ob.Enqueue(ctx, msg("a"), msg("b"), msg("c"), msg("d"), msg("a"))
		if err != nil || n != 4 {
			t.Fatalf("enqueue = %d, %v; want 4 (a duplicate key is dropped)", n, err)
		}
		if n, _ := ob.Enqueue(ctx, msg("a")); n != 0 {
			t.Fatal("a re-queued dedupe key was accepted")
		}
		gw := newGateway(notify.SMS)
		gw.failFor["b"] = 2   // recovers on the third attempt
		gw.failFor["c"] = 100 // never recovers
		gw.refuse["d"] = true // permanent
		w := notify.NewWorker(ob, []notify.Sender{gw}, notify.WithMaxAttempts(4), notify.WithBackoff(0, 0),
			notify.WithWorkerLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		drain(t, w)
		msgs, err := ob.Messages(ctx, notify.SMS)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]struct {
			state    string
			attempts int
		}{"a": {notify.Sent, 1}, "b": {notify.Sent, 3}, "c": {notify.Failed, 4}, "d": {notify.Failed, 1}}
		for _, m := range msgs {
			w := want[m.DedupeKey]
			if m.State != w.state || m.Attempts != w.attempts {
				t.Errorf("%s: state %s after %d attempts, want %s after %d (last error %q)", m.DedupeKey, m.State, m.Attempts, w.state, w.attempts, m.LastError)
			}
		}
		if gw.sent["a"] != 1 || gw.sent["b"] != 1 || gw.sent["c"] != 0 {
			t.Fatalf("sent %v", gw.sent)
		}
		if ok, err := ob.RecordDelivery(ctx, msgs[0].ID, notify.Delivered); !ok || err != nil {
			t.Fatalf("delivery report: %v %v", ok, err)
		}
		if ok, _ := ob.RecordDelivery(ctx, 999999, notify.Delivered); ok {
			t.Fatal("a report for an unknown message was accepted")
		}
	})
}

func TestOutboxRetryWaitsForItsTime(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	ob := db.Outbox()
	ob.Enqueue(ctx, msg("x"))
	gw := newGateway(notify.SMS)
	gw.failFor["x"] = 1
	w := notify.NewWorker(ob, []notify.Sender{gw}, notify.WithBackoff(time.Hour, time.Hour),
		notify.WithWorkerLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	drain(t, w)
	m, _ := ob.Messages(ctx, "")
	if m[0].State != notify.Pending || m[0].NextAttemptAt.Before(time.Now().Add(40*time.Minute)) || gw.sent["x"] != 0 {
		t.Fatalf("after a failure: %+v", m[0])
	}
}

// Two replicas drain one outbox: every message goes out exactly once.
func TestOutboxTwoWorkersNoDuplicates(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := context.Background()
	var msgs []notify.Message
	for i := range 200 {
		msgs = append(msgs, msg(fmt.Sprint("m", i)))
	}
	if _, err := db.Outbox().Enqueue(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	gw := newGateway(notify.SMS)
	var wg sync.WaitGroup
	for range 2 {
		w := notify.NewWorker(db.Outbox(), []notify.Sender{gw}, notify.WithWorkerLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		wg.Go(func() { drain(t, w) })
	}
	wg.Wait()
	for _, m := range msgs {
		if gw.sent[m.DedupeKey] != 1 {
			t.Fatalf("%s sent %d times", m.DedupeKey, gw.sent[m.DedupeKey])
		}
	}
}
