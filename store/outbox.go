package store

import (
	"context"
	"encoding/json"
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
}

func (r outboxRow) message() notify.Message {
	m := notify.Message{ID: r.ID, Kind: r.Kind, Recipient: r.Recipient, DedupeKey: r.DedupeKey, State: r.State,
		Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt.UTC(), LastError: r.LastError, ProviderRef: r.ProviderRef,
		DeliveryStatus: r.DeliveryStatus, CreatedAt: r.CreatedAt.UTC(), SentAt: utcPtr(r.SentAt)}
	_ = json.Unmarshal([]byte(r.Payload), &m.Payload)
	return m
}

// Outbox returns the outbox repository.
func (db *DB) Outbox() *OutboxStore { return &OutboxStore{db} }

// OutboxStore implements notify.Outbox.
type OutboxStore struct{ db *DB }

var _ notify.Outbox = (*OutboxStore)(nil)

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
	var n int
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		n, err = enqueue(ctx, tx, s.db.utcNow(), msgs)
		return err
	})
	return n, err
}

func (s *OutboxStore) Claim(ctx context.Context, kinds []string, limit int, lease time.Duration) ([]notify.Message, error) {
	now := s.db.utcNow()
	skipLocked := ""
	if s.db.dialect == Postgres {
		skipLocked = " FOR UPDATE SKIP LOCKED" // replicas claim disjoint rows without waiting
	}
	var rows []outboxRow
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return tx.NewRaw(`UPDATE outbox SET state = ?, attempts = attempts + 1, locked_until = ?
			WHERE id IN (SELECT id FROM outbox WHERE kind IN (?) AND
				((state = ? AND next_attempt_at <= ?) OR (state = ? AND locked_until < ?))
				ORDER BY id LIMIT ?`+skipLocked+`)
			RETURNING *`, notify.Sending, now.Add(lease), bun.List(kinds), notify.Pending, now, notify.Sending, now, limit).Scan(ctx, &rows)
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

func (s *OutboxStore) update(ctx context.Context, id int64, set map[string]any) error {
	q := s.db.bun.NewUpdate().Model((*outboxRow)(nil)).Where("id = ?", id)
	for col, v := range set {
		q = q.Set(col+" = ?", v)
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("updating outbox message %d: %w", id, err)
	}
	return nil
}

func (s *OutboxStore) MarkSent(ctx context.Context, id int64, ref string) error {
	return s.update(ctx, id, map[string]any{"state": notify.Sent, "provider_ref": ref, "sent_at": s.db.utcNow(), "locked_until": nil, "last_error": ""})
}

func (s *OutboxStore) Retry(ctx context.Context, id int64, lastErr string, next time.Time) error {
	return s.update(ctx, id, map[string]any{"state": notify.Pending, "last_error": lastErr, "next_attempt_at": next.UTC(), "locked_until": nil})
}

func (s *OutboxStore) Fail(ctx context.Context, id int64, lastErr string) error {
	return s.update(ctx, id, map[string]any{"state": notify.Failed, "last_error": lastErr, "locked_until": nil})
}

func (s *OutboxStore) RecordDelivery(ctx context.Context, id int64, status string) (bool, error) {
	res, err := s.db.bun.NewUpdate().Model((*outboxRow)(nil)).Set("delivery_status = ?", status).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("recording delivery of %d: %w", id, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Messages lists outbox rows (operators, tests), newest last.
func (s *OutboxStore) Messages(ctx context.Context, kind string) ([]notify.Message, error) {
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
