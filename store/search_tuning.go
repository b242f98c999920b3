package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/console"
)

type missRow struct {
	bun.BaseModel `bun:"table:search_misses,alias:sm"`

	QueryKey  string    `bun:"query_key,pk"`
	Query     string    `bun:"query"`
	Kind      string    `bun:"kind"`
	Count     int       `bun:"count"`
	FirstSeen time.Time `bun:"first_seen"`
	LastSeen  time.Time `bun:"last_seen"`
}

type overrideRow struct {
	bun.BaseModel `bun:"table:search_overrides,alias:so2"`

	ID          int64     `bun:"id,pk,autoincrement"`
	Kind        string    `bun:"kind"`
	Term        string    `bun:"term"`
	Replacement string    `bun:"replacement"`
	CreatedBy   string    `bun:"created_by"`
	CreatedAt   time.Time `bun:"created_at"`
}

func (r overrideRow) override() console.Override {
	return console.Override{ID: r.ID, Kind: r.Kind, Term: r.Term, Replacement: r.Replacement, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC()}
}

// RecordMisses counts search misses, one row per folded query.
func (s *ConsoleStore) RecordMisses(ctx context.Context, misses []console.MissHit) error {
	return s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, m := range misses {
			row := missRow{QueryKey: m.Key, Query: m.Query, Kind: m.Kind, Count: 1, FirstSeen: m.At.UTC(), LastSeen: m.At.UTC()}
			_, err := tx.NewInsert().Model(&row).On("CONFLICT (query_key) DO UPDATE").
				Set("count = sm.count + 1").Set("last_seen = EXCLUDED.last_seen").Set("kind = EXCLUDED.kind").
				Set("query = EXCLUDED.query").Exec(ctx)
			if err != nil {
				return fmt.Errorf("counting a search miss: %w", err)
			}
		}
		return nil
	})
}

// Misses lists the most frequent misses.
func (s *ConsoleStore) Misses(ctx context.Context, limit int) ([]console.Miss, error) {
	var rows []missRow
	q := s.db.bun.NewSelect().Model(&rows).OrderExpr("count DESC, last_seen DESC")
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing search misses: %w", err)
	}
	out := make([]console.Miss, len(rows))
	for i, r := range rows {
		out[i] = console.Miss{Query: r.Query, Kind: r.Kind, Count: r.Count, FirstSeen: r.FirstSeen.UTC(), LastSeen: r.LastSeen.UTC()}
	}
	return out, nil
}

// OverridesVersion changes whenever a synonym or stop-word does.
func (s *ConsoleStore) OverridesVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db.bun.NewRaw("SELECT version FROM search_overrides_state WHERE id = 1").Scan(ctx, &v); err != nil {
		return 0, fmt.Errorf("reading the search overrides version: %w", err)
	}
	return v, nil
}

func (s *ConsoleStore) Overrides(ctx context.Context) ([]console.Override, error) {
	var rows []overrideRow
	if err := s.db.bun.NewSelect().Model(&rows).OrderExpr("kind, term").Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing search overrides: %w", err)
	}
	out := make([]console.Override, len(rows))
	for i, r := range rows {
		out[i] = r.override()
	}
	return out, nil
}

func bumpOverrides(ctx context.Context, tx bun.Tx) error {
	_, err := tx.ExecContext(ctx, "UPDATE search_overrides_state SET version = version + 1 WHERE id = 1")
	return err
}

func (s *ConsoleStore) AddOverride(ctx context.Context, o console.Override) (console.Override, error) {
	row := overrideRow{Kind: o.Kind, Term: o.Term, Replacement: o.Replacement, CreatedBy: o.CreatedBy, CreatedAt: o.CreatedAt.UTC()}
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			if isUniqueViolation(err) {
				return console.ErrExists
			}
			return err
		}
		return bumpOverrides(ctx, tx)
	})
	if err != nil && !errors.Is(err, console.ErrExists) {
		err = fmt.Errorf("adding a search override: %w", err)
	}
	return row.override(), err
}

func (s *ConsoleStore) DeleteOverride(ctx context.Context, id int64) (console.Override, error) {
	var row overrideRow
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return console.ErrNotFound
			}
			return err
		}
		if _, err := tx.NewDelete().Model((*overrideRow)(nil)).Where("id = ?", id).Exec(ctx); err != nil {
			return err
		}
		return bumpOverrides(ctx, tx)
	})
	return row.override(), err
}
