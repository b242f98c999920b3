package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/notify"
)

// syncLockID is the Postgres advisory lock held during a sync.
const syncLockID = 0x64766362_02

const checkpointName = "nationaldb"

type syncRunRow struct {
	bun.BaseModel `bun:"table:sync_runs,alias:sr"`

	ID          int64      `bun:"id,pk,autoincrement"`
	StartedAt   time.Time  `bun:"started_at"`
	FinishedAt  *time.Time `bun:"finished_at"`
	WindowStart time.Time  `bun:"window_start"`
	WindowEnd   time.Time  `bun:"window_end"`
	State       string     `bun:"state"`
	Fetched     int        `bun:"fetched"`
	Created     int        `bun:"created"`
	Modified    int        `bun:"modified"`
	Cancelled   int        `bun:"cancelled"`
	Restored    int        `bun:"restored"`
	Alerts      int        `bun:"alerts"`
	Skipped     int        `bun:"skipped"`
	Error       string     `bun:"error"`
}

type syncSkipRow struct {
	bun.BaseModel `bun:"table:sync_skipped,alias:ss"`

	SystemID  int64     `bun:"system_id,pk"`
	Reason    string    `bun:"reason"`
	Error     string    `bun:"error"`
	Attempts  int       `bun:"attempts"`
	FirstRun  int64     `bun:"first_run"`
	LastRun   int64     `bun:"last_run"`
	FirstSeen time.Time `bun:"first_seen"`
	LastSeen  time.Time `bun:"last_seen"`
}

type checkpointRow struct {
	bun.BaseModel `bun:"table:sync_checkpoints,alias:sc"`

	Name      string    `bun:"name,pk"`
	Position  time.Time `bun:"position"`
	UpdatedAt time.Time `bun:"updated_at"`
}

type subscriptionRow struct {
	bun.BaseModel `bun:"table:alert_subscriptions,alias:as"`

	ID        int64     `bun:"id,pk,autoincrement"`
	Kind      string    `bun:"kind"`
	Recipient string    `bun:"recipient"`
	Name      string    `bun:"name"`
	CreatedAt time.Time `bun:"created_at"`
}

// Sync returns the sync's repository.
func (db *DB) Sync() *SyncStore { return &SyncStore{db} }

// SyncStore implements catalogsync.Store.
type SyncStore struct{ db *DB }

var _ catalogsync.Store = (*SyncStore)(nil)

// TryLock: a Postgres advisory lock on a connection of its own, so replicas
// never sync together; on SQLite (one process) a mutex.
func (s *SyncStore) TryLock(ctx context.Context) (func(), bool, error) {
	if s.db.dialect != Postgres {
		if !s.db.syncMu.TryLock() {
			return nil, false, nil
		}
		return s.db.syncMu.Unlock, true, nil
	}
	conn, err := s.db.bun.Conn(ctx)
	if err != nil {
		return nil, false, fmt.Errorf("sync lock: %w", err)
	}
	var ok bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(?)", syncLockID).Scan(&ok); err != nil {
		conn.Close()
		return nil, false, fmt.Errorf("sync lock: %w", err)
	}
	if !ok {
		conn.Close()
		return nil, false, nil
	}
	return func() {
		_, _ = conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(?)", syncLockID)
		conn.Close()
	}, true, nil
}

func (s *SyncStore) Checkpoint(ctx context.Context) (time.Time, bool, error) {
	var row checkpointRow
	err := s.db.bun.NewSelect().Model(&row).Where("name = ?", checkpointName).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the sync checkpoint: %w", err)
	}
	return row.Position.UTC(), true, nil
}

func (s *SyncStore) StartRun(ctx context.Context, start, end time.Time) (int64, error) {
	row := syncRunRow{StartedAt: s.db.utcNow(), WindowStart: start.UTC(), WindowEnd: end.UTC(), State: "running"}
	if _, err := s.db.bun.NewInsert().Model(&row).Exec(ctx); err != nil {
		return 0, fmt.Errorf("recording a sync run: %w", err)
	}
	return row.ID, nil
}

func runRow(r catalogsync.Run) syncRunRow {
	return syncRunRow{ID: r.ID, StartedAt: r.StartedAt.UTC(), FinishedAt: utcPtr(r.FinishedAt), WindowStart: r.WindowStart.UTC(),
		WindowEnd: r.WindowEnd.UTC(), State: r.State, Fetched: r.Fetched, Created: r.New, Modified: r.Modified,
		Cancelled: r.Cancelled, Restored: r.Restored, Alerts: r.Alerts, Skipped: r.Skipped, Error: r.Error}
}

func (r syncRunRow) run() catalogsync.Run {
	return catalogsync.Run{ID: r.ID, StartedAt: r.StartedAt.UTC(), FinishedAt: utcPtr(r.FinishedAt), WindowStart: r.WindowStart.UTC(),
		WindowEnd: r.WindowEnd.UTC(), State: r.State, Fetched: r.Fetched, New: r.Created, Modified: r.Modified,
		Cancelled: r.Cancelled, Restored: r.Restored, Alerts: r.Alerts, Skipped: r.Skipped, Error: r.Error}
}

// recordSkips keeps run's skipped procedures (a procedure skipped again
// counts one more attempt) and forgets those served this time.
func (s *SyncStore) recordSkips(ctx context.Context, tx bun.Tx, run catalogsync.Run) error {
	now := s.db.utcNow()
	for _, k := range run.Skips {
		row := syncSkipRow{SystemID: k.SystemID, Reason: k.Reason, Error: k.Error, Attempts: 1,
			FirstRun: run.ID, LastRun: run.ID, FirstSeen: now, LastSeen: now}
		if _, err := tx.NewInsert().Model(&row).On("CONFLICT (system_id) DO UPDATE").
			Set("reason = EXCLUDED.reason, error = EXCLUDED.error, last_run = EXCLUDED.last_run, last_seen = EXCLUDED.last_seen").
			Set("attempts = ss.attempts + 1").Exec(ctx); err != nil {
			return fmt.Errorf("recording skipped procedure %d: %w", k.SystemID, err)
		}
	}
	if len(run.Resolved) > 0 {
		if _, err := tx.NewDelete().Model((*syncSkipRow)(nil)).Where("system_id IN (?)", bun.List(run.Resolved)).Exec(ctx); err != nil {
			return fmt.Errorf("forgetting procedures served again: %w", err)
		}
	}
	return nil
}

// Skips implements catalogsync.Store: oldest first.
func (s *SyncStore) Skips(ctx context.Context) ([]catalogsync.Skip, error) {
	var rows []syncSkipRow
	if err := s.db.bun.NewSelect().Model(&rows).OrderExpr("first_seen, system_id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing skipped procedures: %w", err)
	}
	out := make([]catalogsync.Skip, len(rows))
	for i, r := range rows {
		out[i] = catalogsync.Skip{SystemID: r.SystemID, Reason: r.Reason, Error: r.Error, Attempts: r.Attempts,
			Retried: r.Attempts < catalogsync.MaxSkipAttempts, FirstRun: r.FirstRun, LastRun: r.LastRun,
			FirstSeen: r.FirstSeen.UTC(), LastSeen: r.LastSeen.UTC()}
	}
	return out, nil
}

func (s *SyncStore) Finish(ctx context.Context, run catalogsync.Run, build func([]catalogsync.Pending) []notify.Message) (int, error) {
	queued := 0
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var rows []procedureVersionRow
		q := tx.NewSelect().Model(&rows).Where("alerted = ?", false).OrderExpr("id")
		if s.db.dialect == Postgres {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			return fmt.Errorf("reading unreported changes: %w", err)
		}
		pending := make([]catalogsync.Pending, len(rows))
		ids := make([]int64, len(rows))
		for i, r := range rows {
			var p struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal([]byte(r.Data), &p)
			pending[i] = catalogsync.Pending{VersionID: r.ID, Change: catalog.Change{Kind: catalog.ChangeKind(r.ChangeKind),
				Code: r.ProcedureCode, Name: p.Name, Version: r.Version, Fields: r.ChangedFields}}
			ids[i] = r.ID
		}
		var err error
		if queued, err = enqueue(ctx, tx, s.db.utcNow(), build(pending)); err != nil {
			return err
		}
		if len(ids) > 0 {
			if _, err := tx.NewUpdate().Model((*procedureVersionRow)(nil)).Set("alerted = ?", true).
				Where("id IN (?)", bun.List(ids)).Exec(ctx); err != nil {
				return fmt.Errorf("marking changes reported: %w", err)
			}
		}
		cp := checkpointRow{Name: checkpointName, Position: run.WindowEnd.UTC(), UpdatedAt: s.db.utcNow()}
		if _, err := tx.NewInsert().Model(&cp).On("CONFLICT (name) DO UPDATE").Set("position = EXCLUDED.position").
			Set("updated_at = EXCLUDED.updated_at").Exec(ctx); err != nil {
			return fmt.Errorf("moving the checkpoint: %w", err)
		}
		if err := s.recordSkips(ctx, tx, run); err != nil {
			return err
		}
		run.Alerts = queued
		row := runRow(run)
		if _, err := tx.NewUpdate().Model(&row).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("closing the sync run: %w", err)
		}
		return nil
	})
	return queued, err
}

func (s *SyncStore) FailRun(ctx context.Context, run catalogsync.Run) error {
	now := s.db.utcNow()
	run.FinishedAt = &now
	row := runRow(run)
	if _, err := s.db.bun.NewUpdate().Model(&row).WherePK().Exec(ctx); err != nil {
		return fmt.Errorf("recording a failed sync run: %w", err)
	}
	return nil
}

func (s *SyncStore) LastRun(ctx context.Context) (catalogsync.Run, bool, error) {
	var row syncRunRow
	err := s.db.bun.NewSelect().Model(&row).OrderExpr("id DESC").Limit(1).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return catalogsync.Run{}, false, nil
	}
	if err != nil {
		return catalogsync.Run{}, false, fmt.Errorf("reading the last sync run: %w", err)
	}
	return row.run(), true, nil
}

func (s *SyncStore) Subscribers(ctx context.Context) ([]catalogsync.Recipient, error) {
	var rows []subscriptionRow
	if err := s.db.bun.NewSelect().Model(&rows).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("reading alert subscriptions: %w", err)
	}
	out := make([]catalogsync.Recipient, len(rows))
	for i, r := range rows {
		out[i] = catalogsync.Recipient{Kind: r.Kind, Address: r.Recipient}
	}
	chats, err := s.db.linkedOfficerChats(ctx)
	if err != nil {
		return nil, err
	}
	for _, c := range chats {
		out = append(out, catalogsync.Recipient{Kind: notify.Telegram, Address: c})
	}
	return out, nil
}

// Subscribe adds an alert recipient (idempotent).
func (s *SyncStore) Subscribe(ctx context.Context, kind, recipient, name string) error {
	row := subscriptionRow{Kind: kind, Recipient: recipient, Name: name, CreatedAt: s.db.utcNow()}
	if _, err := s.db.bun.NewInsert().Model(&row).On("CONFLICT (kind, recipient) DO NOTHING").Exec(ctx); err != nil {
		return fmt.Errorf("subscribing %s: %w", recipient, err)
	}
	return nil
}

// Unsubscribe removes an alert recipient and reports whether it existed.
func (s *SyncStore) Unsubscribe(ctx context.Context, kind, recipient string) (bool, error) {
	res, err := s.db.bun.NewDelete().Model((*subscriptionRow)(nil)).Where("kind = ? AND recipient = ?", kind, recipient).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("unsubscribing %s: %w", recipient, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}
