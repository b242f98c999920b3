package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/notify"
)

// OutboxCancelled is the state of a failed message an operator gave up:
// no worker claims it again.
const OutboxCancelled = "cancelled"

// List lists outbox rows in a state (all when empty; "inflight": sending
// with a send begun), newest first.
func (s *OutboxStore) List(ctx context.Context, state string, limit int) ([]notify.Message, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	var rows []outboxRow
	q := s.db.bun.NewSelect().Model(&rows).OrderExpr("id DESC")
	switch state {
	case "":
	case "inflight":
		q = q.Where("state = ? AND inflight_at IS NOT NULL", notify.Sending)
	default:
		q = q.Where("state = ?", state)
	}
	if limit > 0 {
		q = q.Limit(int64(limit))
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

// ErrNotFailed: only a failed message can be requeued or cancelled.
var ErrNotFailed = errors.New("the message is not failed")

// Requeue gives a failed message a fresh set of attempts, due now. Its
// last error stays until a send succeeds.
func (s *OutboxStore) Requeue(ctx context.Context, id int64) (notify.Message, error) {
	return s.fromFailed(ctx, id, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("state = ?", notify.Pending).Set("attempts = 0").Set("next_attempt_at = ?", s.db.utcNow()).
			Set("locked_until = NULL").Set("inflight_at = NULL").Set("lease_token = ''")
	})
}

// Cancel gives a failed message up for good.
func (s *OutboxStore) Cancel(ctx context.Context, id int64) (notify.Message, error) {
	return s.fromFailed(ctx, id, func(q *bun.UpdateQuery) *bun.UpdateQuery {
		return q.Set("state = ?", OutboxCancelled).Set("locked_until = NULL")
	})
}

func (s *OutboxStore) fromFailed(ctx context.Context, id int64, set func(*bun.UpdateQuery) *bun.UpdateQuery) (notify.Message, error) {
	ctx, cancel := s.deadline(ctx)
	defer cancel()
	res, err := set(s.db.bun.NewUpdate().Model((*outboxRow)(nil)).Where("id = ? AND state = ?", id, notify.Failed)).Exec(ctx)
	if err != nil {
		return notify.Message{}, fmt.Errorf("updating outbox message %d: %w", id, err)
	}
	var row outboxRow
	if err := s.db.bun.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return notify.Message{}, sql.ErrNoRows
		}
		return notify.Message{}, fmt.Errorf("reading outbox message %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return row.message(), ErrNotFailed
	}
	return row.message(), nil
}
