package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/session"
)

type sessionRow struct {
	bun.BaseModel `bun:"table:sessions,alias:s"`

	Channel         string     `bun:"channel,pk"`
	UserID          string     `bun:"user_id,pk"`
	Lang            string     `bun:"lang"`
	State           *string    `bun:"state"`
	StateExpiresAt  *time.Time `bun:"state_expires_at"`
	RateWindowStart *time.Time `bun:"rate_window_start"`
	RateCount       int        `bun:"rate_count"`
	CreatedAt       time.Time  `bun:"created_at"`
	UpdatedAt       time.Time  `bun:"updated_at"`
}

// Sessions returns the conversation-session repository.
func (db *DB) Sessions() session.Store { return sessionStore{db} }

type sessionStore struct{ db *DB }

func (s sessionStore) Session(ctx context.Context, channel, user string) (session.Session, error) {
	var row sessionRow
	err := s.db.bun.NewSelect().Model(&row).Where("channel = ? AND user_id = ?", channel, user).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return session.Session{Channel: channel, UserID: user}, nil
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("loading session %s/%s: %w", channel, user, err)
	}
	out := session.Session{Channel: channel, UserID: user, Lang: row.Lang, RateCount: row.RateCount}
	if row.State != nil {
		out.State = json.RawMessage(*row.State)
	}
	if row.StateExpiresAt != nil {
		out.StateExpiresAt = row.StateExpiresAt.UTC()
	}
	if row.RateWindowStart != nil {
		out.RateWindowStart = row.RateWindowStart.UTC()
	}
	return out, nil
}

func (s sessionStore) SaveSession(ctx context.Context, in session.Session) error {
	now := s.db.utcNow()
	row := sessionRow{Channel: in.Channel, UserID: in.UserID, Lang: in.Lang, RateCount: in.RateCount,
		CreatedAt: now, UpdatedAt: now}
	if len(in.State) > 0 {
		st := string(in.State)
		row.State = &st
		exp := in.StateExpiresAt.UTC()
		row.StateExpiresAt = &exp
	}
	if !in.RateWindowStart.IsZero() {
		w := in.RateWindowStart.UTC()
		row.RateWindowStart = &w
	}
	_, err := s.db.bun.NewInsert().Model(&row).On("CONFLICT (channel, user_id) DO UPDATE").
		Set("lang = EXCLUDED.lang").Set("state = EXCLUDED.state").Set("state_expires_at = EXCLUDED.state_expires_at").
		Set("rate_window_start = EXCLUDED.rate_window_start").Set("rate_count = EXCLUDED.rate_count").
		Set("updated_at = EXCLUDED.updated_at").Exec(ctx)
	if err != nil {
		return fmt.Errorf("saving session %s/%s: %w", in.Channel, in.UserID, err)
	}
	return nil
}
