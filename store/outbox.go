package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/notify"
)

type outboxRow struct {
	bun.BaseModel `bun:"table:outbox,alias:o"`

	ID             int64      `bun:"id,pk,autoincrement"`
	Kind           string     `bun:"kind"`
	Recipient      string     `bun:"recipient"`
	Payload        string     `bun:"payload"`
	DedupeKey      string     `bun:"dedupe_key"`
	State          string     `bun:"state"`
	Attempts       int        `bun:"attempts"`
	NextAttemptAt  time.Time  `bun:"next_attempt_at"`
	LockedUntil    *time.Time `bun:"locked_until"`
	LastError      string     `bun:"last_error"`
	ProviderRef    string     `bun:"provider_ref"`
	DeliveryStatus string     `bun:"delivery_status"`
	CreatedAt      time.Time  `bun:"created_at"`
	SentAt         *time.Time `bun:"sent_at"`
	LeaseToken     string     `bun:"lease_token"`
	InFlightAt     *time.Time `bun:"inflight_at"`
}

func (r outboxRow) message() notify.Message {
	m := notify.Message{ID: r.ID, Kind: r.Kind, Recipient: r.Recipient, DedupeKey: r.DedupeKey, State: r.State,
		Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt.UTC(), LastError: r.LastError, ProviderRef: r.ProviderRef,
		DeliveryStatus: r.DeliveryStatus, CreatedAt: r.CreatedAt.UTC(), SentAt: utcPtr(r.SentAt),
		Lease: r.LeaseToken, InFlightAt: utcPtr(r.InFlightAt)}
	_ = json.Unmarshal([]byte(r.Payload), &m.Payload)
	return m
}

type outboxReceiptRow struct {
	bun.BaseModel `bun:"table:outbox_receipts,alias:r"`

	ID         int64     `bun:"id,pk,autoincrement"`
	OutboxID   int64     `bun:"outbox_id"`
	Status     string    `bun:"status"`
	Applied    bool      `bun:"applied"`
	ReceivedAt time.Time `bun:"received_at"`
}

// DefaultOutboxTimeout bounds every outbox database call: a stalled
// database makes a worker fail and retry, never hang.
const DefaultOutboxTimeout = 5 * time.Second

// Outbox returns the outbox repository.
func (db *DB) Outbox() *OutboxStore { return &OutboxStore{db: db, timeout: DefaultOutboxTimeout} }

// OutboxStore implements notify.Outbox.
type OutboxStore struct {
	db      *DB
	timeout time.Duration
}

var _ notify.Outbox = (*OutboxStore)(nil)

// WithTimeout returns the store with another deadline for each call.
func (s *OutboxStore) WithTimeout(d time.Duration) *OutboxStore {
	c := *s
	c.timeout = d
	return &c
}

func (s *OutboxStore) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.timeout)
}

// enqueue inserts messages unless their dedupe key exists; it returns how
// many were new. idb is the surrounding transaction, if any.
func enqueue(ctx context.Context, idb bun.IDB, now time.Time, msgs []notify.Message) (int, error) {
	n := 0
	for _, m := range msgs {
		row := outboxRow{Kind: m.Kind, Recipient: m.Recipient, Payload: notify.MarshalPayload(m.Payload), DedupeKey: m.DedupeKey,
			State: notify.Pending, NextAttemptAt: now, CreatedAt: now}
		res, err := idb.NewInsert().Model(&row).On("CONFLICT (dedupe_key) DO NOTHING").Exec(ctx)
		if err != nil {
			return n, fmt.Errorf("queuing %s to %s: %w", m.Kind, m.Recipient, err)
		}
		if c, _ := res.RowsAffected(); c == 1 {
			n++
		}
	}
	return n, nil
}

// Enqueue queues messages outside any other transaction.
func (s *OutboxStore) Enqueue(ctx context.Context, msgs ...notify.Message) (int, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var n int
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		n, err = enqueue(ctx, tx, s.db.utcNow(), msgs)
		return err
	})
	return n, err
}

func newLeaseToken() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Claim leases due rows. A row is due when its next attempt time passed and
// it is pending, or leased with the lease ended: Begin and Extend move the
// next attempt time of an in-flight row past its lease by the kind's wait,
// so a crashed send of an SMS is claimed again only after the DLR wait.
func (s *OutboxStore) Claim(ctx context.Context, kinds []string, limit int, lease time.Duration) ([]notify.Message, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	now := s.db.utcNow()
	skipLocked := ""
	if s.db.dialect == Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED" // replicas claim disjoint rows without waiting
	}
	var rows []outboxRow
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return tx.NewRaw(`UPDATE outbox SET state = ?, attempts = attempts + 1, locked_until = ?, lease_token = ?
			WHERE id IN (SELECT id FROM outbox WHERE kind IN (?) AND next_attempt_at <= ? AND
				(state = ? OR (state = ? AND locked_until < ?))
				ORDER BY id LIMIT ?`+skipLocked+`)
			RETURNING *`, notify.Sending, now.Add(lease), newLeaseToken(), bun.List(kinds), now,
			notify.Pending, notify.Sending, now, limit).Scan(ctx, &rows)
	})
	if err != nil {
		return nil, fmt.Errorf("claiming outbox messages: %w", err)
	}
	out := make([]notify.Message, len(rows))
	for i, r := range rows {
		out[i] = r.message()
	}
	return out, nil
}

// leased updates the row only while it carries m's lease in one of states.
func (s *OutboxStore) leased(ctx context.Context, m notify.Message, states []string, set func(*bun.UpdateQuery) *bun.UpdateQuery) (bool, error) {
	if m.Lease == "" {
		return false, fmt.Errorf("outbox message %d: no lease", m.ID)
	}
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	q := s.db.bun.NewUpdate().Model((*outboxRow)(nil)).
		Where("id = ?", m.ID).Where("lease_token = ?", m.Lease).Where("state IN (?)", bun.List(states))
	res, err := set(q).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("updating outbox message %d: %w", m.ID, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

var sendingOnly = []string{notify.Sending}

func (s *OutboxStore) Begin(ctx context.Context, m notify.Message, lease, wait time.Duration) (bool, error) {
	now := s.db.utcNow()
	return s.leased(ctx, m, sendingOnly, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("inflight_at = ?", now).Set("locked_until = ?", now.Add(lease)).Set("next_attempt_at = ?", now.Add(lease+wait))
	})
}

func (s *OutboxStore) Extend(ctx context.Context, m notify.Message, lease, wait time.Duration) (bool, error) {
	now := s.db.utcNow()
	ok, err := s.leased(ctx, m, sendingOnly, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("locked_until = ?", now.Add(lease)).Set("next_attempt_at = ?", now.Add(lease+wait))
	})
	if ok || err != nil {
		return ok, err
	}
	// A delivery report may have completed the row during the send: the
	// lease is still this worker's, there is just nothing to extend.
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	n, err := s.db.bun.NewSelect().Model((*outboxRow)(nil)).
		Where("id = ? AND lease_token = ? AND state = ?", m.ID, m.Lease, notify.Sent).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("reading outbox message %d: %w", m.ID, err)
	}
	return n == 1, nil
}

// MarkSent records the send. A row a delivery report already marked sent
// under this lease still gets its provider reference.
func (s *OutboxStore) MarkSent(ctx context.Context, m notify.Message, ref string) (bool, error) {
	now := s.db.utcNow()
	return s.leased(ctx, m, []string{notify.Sending, notify.Sent}, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("state = ?", notify.Sent).Set("provider_ref = ?", ref).Set("sent_at = COALESCE(sent_at, ?)", now).
			Set("locked_until = NULL").Set("last_error = ''")
	})
}

func (s *OutboxStore) Retry(ctx context.Context, m notify.Message, lastErr string, next time.Time, mayHaveLeft bool) (bool, error) {
	return s.leased(ctx, m, sendingOnly, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		q = q.Set("state = ?", notify.Pending).Set("last_error = ?", lastErr).Set("next_attempt_at = ?", next.UTC()).Set("locked_until = NULL")
		if !mayHaveLeft {
			q = q.Set("inflight_at = NULL")
		}
		return q
	})
}

func (s *OutboxStore) Fail(ctx context.Context, m notify.Message, lastErr string, mayHaveLeft bool) (bool, error) {
	return s.leased(ctx, m, sendingOnly, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		q = q.Set("state = ?", notify.Failed).Set("last_error = ?", lastErr).Set("locked_until = NULL")
		if !mayHaveLeft {
			q = q.Set("inflight_at = NULL")
		}
		return q
	})
}

func (s *OutboxStore) Release(ctx context.Context, m notify.Message) (bool, error) {
	now := s.db.utcNow()
	return s.leased(ctx, m, sendingOnly, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("state = ?", notify.Pending).Set("locked_until = NULL").Set("attempts = attempts - 1").Set("next_attempt_at = ?", now)
	})
}

func (s *OutboxStore) RecordDelivery(ctx context.Context, id int64, status string) (bool, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	now := s.db.utcNow()
	found := false
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row outboxRow
		q := tx.NewSelect().Model(&row).Column("id", "state", "attempts", "delivery_status").Where("id = ?", id)
		if s.db.dialect == Postgres {
			q = q.For("UPDATE") // concurrent reports for one message apply in turn
		}
		if err := q.Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		found = true
		applied := notify.DeliveryRank(status) > notify.DeliveryRank(row.DeliveryStatus)
		if _, err := tx.NewInsert().Model(&outboxReceiptRow{OutboxID: id, Status: status, Applied: applied, ReceivedAt: now}).Exec(ctx); err != nil {
			return err
		}
		up := tx.NewUpdate().Model((*outboxRow)(nil)).Where("id = ?", id)
		changed := false
		if applied {
			up = up.Set("delivery_status = ?", status)
			changed = true
		}
		if row.State != notify.Sent && row.Attempts > 0 {
			// The report proves the message left: an in-flight, retried or
			// given-up row is complete and must not be sent again.
			up = up.Set("state = ?", notify.Sent).Set("sent_at = COALESCE(sent_at, ?)", now).Set("locked_until = NULL")
			changed = true
		}
		if !changed {
			return nil
		}
		_, err := up.Exec(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("recording delivery of %d: %w", id, err)
	}
	return found, nil
}

// Receipts lists the delivery reports of one message as they arrived
// (operators: what the gateway said, including late reports not applied).
func (s *OutboxStore) Receipts(ctx context.Context, id int64) ([]notify.Receipt, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var rows []outboxReceiptRow
	if err := s.db.bun.NewSelect().Model(&rows).Where("outbox_id = ?", id).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing receipts of %d: %w", id, err)
	}
	out := make([]notify.Receipt, len(rows))
	for i, r := range rows {
		out[i] = notify.Receipt{Status: r.Status, Applied: r.Applied, ReceivedAt: r.ReceivedAt.UTC()}
	}
	return out, nil
}

// Message reads one outbox row.
func (s *OutboxStore) Message(ctx context.Context, id int64) (notify.Message, bool, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var row outboxRow
	if err := s.db.bun.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return notify.Message{}, false, nil
		}
		return notify.Message{}, false, fmt.Errorf("reading outbox message %d: %w", id, err)
	}
	return row.message(), true, nil
}

// Messages lists outbox rows (operators, tests), newest last.
func (s *OutboxStore) Messages(ctx context.Context, kind string) ([]notify.Message, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var rows []outboxRow
	q := s.db.bun.NewSelect().Model(&rows).OrderExpr("id")
	if kind != "" {
		q = q.Where("kind = ?", kind)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing outbox: %w", err)
	}
	out := make([]notify.Message, len(rows))
	for i, r := range rows {
		out[i] = r.message()
	}
	return out, nil
}
