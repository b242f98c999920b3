package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/rating"
)

type ratingRow struct {
	bun.BaseModel `bun:"table:ratings,alias:r"`

	DossierCode string                            `bun:"dossier_code,pk"`
	Level       string                            `bun:"level"`
	Reason      string                            `bun:"reason"`
	Criteria    map[rating.Criterion]rating.Level `bun:"criteria,type:jsonb"`
	Channel     string                            `bun:"channel"`
	UserID      string                            `bun:"user_id"`
	RawText     string                            `bun:"raw_text"`
	CreatedAt   time.Time                         `bun:"created_at"`
	UpdatedAt   time.Time                         `bun:"updated_at"`
}

type ratingAuditRow struct {
	bun.BaseModel `bun:"table:rating_audit,alias:ra"`

	ID          int64                             `bun:"id,pk,autoincrement"`
	DossierCode string                            `bun:"dossier_code"`
	Level       string                            `bun:"level"`
	Reason      string                            `bun:"reason"`
	Criteria    map[rating.Criterion]rating.Level `bun:"criteria,type:jsonb"`
	Channel     string                            `bun:"channel"`
	UserID      string                            `bun:"user_id"`
	RawText     string                            `bun:"raw_text"`
	CreatedAt   time.Time                         `bun:"created_at"`
}

// Ratings returns the rating repository.
func (db *DB) Ratings() rating.Store { return ratingStore{db} }

type ratingStore struct{ db *DB }

func (s ratingStore) Rating(ctx context.Context, code string) (rating.Rating, error) {
	var row ratingRow
	err := s.db.bun.NewSelect().Model(&row).Where("dossier_code = ?", code).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return rating.Rating{}, rating.ErrNotFound
	}
	if err != nil {
		return rating.Rating{}, fmt.Errorf("loading rating of %s: %w", code, err)
	}
	return rating.Rating{DossierCode: row.DossierCode, Level: rating.Level(row.Level), Reason: row.Reason,
		Criteria: row.Criteria, Channel: row.Channel, UserID: row.UserID, RawText: row.RawText,
		CreatedAt: row.CreatedAt.UTC(), UpdatedAt: row.UpdatedAt.UTC()}, nil
}

func (s ratingStore) SaveRating(ctx context.Context, r rating.Rating) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	now := r.UpdatedAt.UTC()
	var updated bool
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		n, err := tx.NewSelect().Model((*ratingRow)(nil)).Where("dossier_code = ?", r.DossierCode).Count(ctx)
		if err != nil {
			return err
		}
		updated = n > 0
		row := ratingRow{DossierCode: r.DossierCode, Level: string(r.Level), Reason: r.Reason, Criteria: r.Criteria,
			Channel: r.Channel, UserID: r.UserID, RawText: r.RawText, CreatedAt: now, UpdatedAt: now}
		// The edit window is checked in the upsert so two replicas cannot race past it.
		res, err := tx.NewInsert().Model(&row).On("CONFLICT (dossier_code) DO UPDATE").
			Set("level = EXCLUDED.level").Set("reason = EXCLUDED.reason").Set("criteria = EXCLUDED.criteria").
			Set("channel = EXCLUDED.channel").Set("user_id = EXCLUDED.user_id").Set("raw_text = EXCLUDED.raw_text").
			Set("updated_at = EXCLUDED.updated_at").
			Where("r.created_at >= ?", now.Add(-rating.EditWindow)).Exec(ctx)
		if err != nil {
			return fmt.Errorf("saving rating of %s: %w", r.DossierCode, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return rating.ErrLocked
		}
		audit := ratingAuditRow{DossierCode: r.DossierCode, Level: string(r.Level), Reason: r.Reason,
			Criteria: r.Criteria, Channel: r.Channel, UserID: r.UserID, RawText: r.RawText, CreatedAt: now}
		if _, err := tx.NewInsert().Model(&audit).Exec(ctx); err != nil {
			return fmt.Errorf("auditing rating of %s: %w", r.DossierCode, err)
		}
		return ratingChanged(ctx, tx, r.DossierCode) // reports: facts, roll-ups, feed sequence (reports.go)
	})
	return updated, err
}

// RatingAudit returns every rating submitted for a dossier, oldest first.
func (db *DB) RatingAudit(ctx context.Context, code string) ([]rating.Rating, error) {
	var rows []ratingAuditRow
	if err := db.bun.NewSelect().Model(&rows).Where("dossier_code = ?", code).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading rating audit of %s: %w", code, err)
	}
	out := make([]rating.Rating, len(rows))
	for i, r := range rows {
		out[i] = rating.Rating{DossierCode: r.DossierCode, Level: rating.Level(r.Level), Reason: r.Reason,
			Criteria: r.Criteria, Channel: r.Channel, UserID: r.UserID, RawText: r.RawText, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}
