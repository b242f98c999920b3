package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

func queuedSMS(t *testing.T, ob *store.OutboxStore, key string) notify.Message {
	t.Helper()
	ctx := context.Background()
	if _, err := ob.Enqueue(ctx, notify.Message{Kind: notify.SMS, Recipient: "84905123456", DedupeKey: key,
		Payload: notify.Payload{Text: "Ho so da co ket qua"}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := ob.Claim(ctx, []string{notify.SMS}, 1, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("claim: %v %v", msgs, err)
	}
	if ok, err := ob.Begin(ctx, msgs[0], time.Minute, 10*time.Minute); !ok || err != nil {
		t.Fatalf("begin: %v %v", ok, err)
	}
	return msgs[0]
}

// Delivery reports only move a row forward; every report is in the history.
func TestOutboxDeliveryReportsMoveForward(t *testing.T) {
	type receipt struct {
		status  string
		applied bool
	}
	for _, tc := range []struct {
		name    string
		reports []string
		final   string
		history []receipt
	}{
		{"late lower reports", []string{notify.Delivered, notify.Accepted, notify.Queued}, notify.Delivered,
			[]receipt{{notify.Delivered, true}, {notify.Accepted, false}, {notify.Queued, false}}},
		{"in order", []string{notify.Accepted, notify.Queued, notify.Delivered}, notify.Delivered,
			[]receipt{{notify.Accepted, true}, {notify.Queued, true}, {notify.Delivered, true}}},
		{"first final wins", []string{notify.Undelivered, notify.Delivered}, notify.Undelivered,
			[]receipt{{notify.Undelivered, true}, {notify.Delivered, false}}},
		{"queued then accepted", []string{notify.Queued, notify.Accepted}, notify.Queued,
			[]receipt{{notify.Queued, true}, {notify.Accepted, false}}},
		{"repeat", []string{notify.Accepted, notify.Accepted, notify.Rejected}, notify.Rejected,
			[]receipt{{notify.Accepted, true}, {notify.Accepted, false}, {notify.Rejected, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, db *store.DB) {
				ctx := context.Background()
				ob := db.Outbox()
				m := queuedSMS(t, ob, "dlr")
				if ok, err := ob.MarkSent(ctx, m, ""); !ok || err != nil {
					t.Fatalf("mark sent: %v %v", ok, err)
				}
				for _, s := range tc.reports {
					if ok, err := ob.RecordDelivery(ctx, m.ID, s); !ok || err != nil {
						t.Fatalf("report %s: %v %v", s, ok, err)
					}
				}
				got, _, _ := ob.Message(ctx, m.ID)
				if got.DeliveryStatus != tc.final || got.State != notify.Sent {
					t.Fatalf("row %s/%s, want sent/%s", got.State, got.DeliveryStatus, tc.final)
				}
				rs, err := ob.Receipts(ctx, m.ID)
				if err != nil || len(rs) != len(tc.history) {
					t.Fatalf("receipts %+v %v", rs, err)
				}
				for i, r := range rs {
					if r.Status != tc.history[i].status || r.Applied != tc.history[i].applied || r.ReceivedAt.IsZero() {
						t.Fatalf("receipt %d: %+v, want %+v", i, r, tc.history[i])
					}
				}
			})
		})
	}
}

// Results are recorded only under the lease that handed the message out.
func TestOutboxResultsNeedTheLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ob := db.Outbox()
		now := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
		db.SetClock(func() time.Time { return now })
		first := queuedSMS(t, ob, "lease")
		stale := first
		stale.Lease = "not-this-one"
		for name, f := range map[string]func(notify.Message) (bool, error){
			"extend":   func(m notify.Message) (bool, error) { return ob.Extend(ctx, m, time.Minute, 0) },
			"sent":     func(m notify.Message) (bool, error) { return ob.MarkSent(ctx, m, "x") },
			"retry":    func(m notify.Message) (bool, error) { return ob.Retry(ctx, m, "x", now, false) },
			"fail":     func(m notify.Message) (bool, error) { return ob.Fail(ctx, m, "x", false) },
			"release":  func(m notify.Message) (bool, error) { return ob.Release(ctx, m) },
			"no lease": func(m notify.Message) (bool, error) { m.Lease = ""; return ob.MarkSent(ctx, m, "x") },
		} {
			if ok, _ := f(stale); ok {
				t.Fatalf("%s with a stale lease was recorded", name)
			}
		}
		// A DLR completes the row during the send: the holder still records
		// its reference, but can no longer retry or fail it.
		if ok, err := ob.RecordDelivery(ctx, first.ID, notify.Accepted); !ok || err != nil {
			t.Fatal(ok, err)
		}
		if ok, _ := ob.Retry(ctx, first, "timeout", now, true); ok {
			t.Fatal("a retry undid a delivery report")
		}
		if ok, _ := ob.Fail(ctx, first, "x", true); ok {
			t.Fatal("a failure undid a delivery report")
		}
		if ok, err := ob.Extend(ctx, first, time.Minute, 0); !ok || err != nil {
			t.Fatalf("the holder lost its lease to a report: %v %v", ok, err)
		}
		if ok, err := ob.MarkSent(ctx, first, "gw-1"); !ok || err != nil {
			t.Fatalf("mark sent after the report: %v %v", ok, err)
		}
		got, _, _ := ob.Message(ctx, first.ID)
		if got.State != notify.Sent || got.ProviderRef != "gw-1" || got.DeliveryStatus != notify.Accepted || got.InFlightAt == nil {
			t.Fatalf("%+v", got)
		}
		// A report for a message never handed out does not mark it sent.
		if _, err := ob.Enqueue(ctx, notify.Message{Kind: notify.SMS, Recipient: "84905123456", DedupeKey: "never"}); err != nil {
			t.Fatal(err)
		}
		msgs, _ := ob.Messages(ctx, notify.SMS)
		if ok, _ := ob.RecordDelivery(ctx, msgs[1].ID, notify.Delivered); !ok {
			t.Fatal("report not found")
		}
		if got, _, _ := ob.Message(ctx, msgs[1].ID); got.State != notify.Pending {
			t.Fatalf("a forged report completed an unsent message: %+v", got)
		}
	})
}

// Every outbox call has a deadline: a database that holds the table locked
// makes the call fail, not hang.
func TestOutboxCallsHaveADeadline(t *testing.T) {
	db := storetest.Postgres(t)
	ctx := context.Background()
	ob := db.Outbox().WithTimeout(200 * time.Millisecond)
	m := queuedSMS(t, ob, "stall")
	tx, err := db.Bun().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "LOCK TABLE outbox IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"claim":    func() error { _, err := ob.Claim(ctx, []string{notify.SMS}, 10, time.Minute); return err },
		"extend":   func() error { _, err := ob.Extend(ctx, m, time.Minute, 0); return err },
		"sent":     func() error { _, err := ob.MarkSent(ctx, m, ""); return err },
		"delivery": func() error { _, err := ob.RecordDelivery(ctx, m.ID, notify.Delivered); return err },
		"enqueue":  func() error { _, err := ob.Enqueue(ctx, notify.Message{Kind: notify.SMS, DedupeKey: "x"}); return err },
	} {
		start := time.Now()
		err := f()
		if err == nil || !errors.Is(err, context.DeadlineExceeded) && time.Since(start) > 5*time.Second {
			t.Fatalf("%s on a locked table: %v after %v", name, err, time.Since(start))
		}
	}
}
