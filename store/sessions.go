package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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
	Version         int64      `bun:"version"`
	TicketHash      *string    `bun:"ticket_hash"`
	TicketExpiresAt *time.Time `bun:"ticket_expires_at"`
	CreatedAt       time.Time  `bun:"created_at"`
	UpdatedAt       time.Time  `bun:"updated_at"`
}

// Sessions returns the conversation-session repository.
func (db *DB) Sessions() session.Store { return sessionStore{db} }

type sessionStore struct{ db *DB }

func (s sessionStore) Session(ctx context.Context, channel, user string) (session.Session, error) {
	if t := session.TurnFor(ctx, channel, user); t != nil {
		return t.Loaded, nil // read with the inbound claim
	}
	var row sessionRow
	err := s.db.bun.NewSelect().Model(&row).Where("channel = ? AND user_id = ?", channel, user).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return session.Session{Channel: channel, UserID: user}, nil
	}
	if err != nil {
		return session.Session{}, fmt.Errorf("loading session %s/%s: %w", channel, user, err)
	}
	out := session.Session{Channel: channel, UserID: user, Lang: row.Lang, RateCount: row.RateCount, Version: row.Version}
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

// SaveSession is a compare-and-swap on the version column: a plain UPDATE
// with the version in its WHERE clause is atomic on SQLite and Postgres
// alike, and holds no lock while the bot thinks.
func (s sessionStore) SaveSession(ctx context.Context, in session.Session) error {
	if t := session.TurnFor(ctx, in.Channel, in.UserID); t != nil {
		t.Saved = &in // written with the inbound completion, compare-and-swap
		return nil
	}
	now := s.db.utcNow()
	row := sessionRow{Channel: in.Channel, UserID: in.UserID, Lang: in.Lang, RateCount: in.RateCount,
		Version: in.Version + 1, CreatedAt: now, UpdatedAt: now}
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
	var res sql.Result
	var err error
	if in.Version == 0 {
		res, err = s.db.bun.NewInsert().Model(&row).On("CONFLICT (channel, user_id) DO NOTHING").Exec(ctx)
	} else {
		res, err = s.db.bun.NewUpdate().Model(&row).
			Column("lang", "state", "state_expires_at", "rate_window_start", "rate_count", "version", "updated_at").
			Where("channel = ? AND user_id = ? AND version = ?", in.Channel, in.UserID, in.Version).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("saving session %s/%s: %w", in.Channel, in.UserID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return session.ErrConflict
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// hashTicket: only a hash of a ticket is stored, so a database read does not
// hand out cookies.
func hashTicket(t string) string {
	h := sha256.Sum256([]byte(t))
	return hex.EncodeToString(h[:])
}

func (s sessionStore) IssueID(ctx context.Context, channel string) (string, error) {
	now := s.db.utcNow()
	id := randomHex(16)
	_, err := s.db.bun.NewInsert().Model(&sessionRow{Channel: channel, UserID: id, Version: 1, CreatedAt: now, UpdatedAt: now}).Exec(ctx)
	if err != nil {
		return "", fmt.Errorf("issuing a %s session: %w", channel, err)
	}
	return id, nil
}

func (s sessionStore) KnownID(ctx context.Context, channel, id string) (bool, error) {
	n, err := s.db.bun.NewSelect().Model((*sessionRow)(nil)).Where("channel = ? AND user_id = ?", channel, id).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("checking a %s session: %w", channel, err)
	}
	return n > 0, nil
}

// RotateID renames the row: the state (language, verified dossiers) moves
// to the new id and the old id stops existing, so whoever else holds it
// starts over.
func (s sessionStore) RotateID(ctx context.Context, channel, id string, now time.Time) (string, string, error) {
	var newID, ticket string
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		newID, ticket, err = s.db.rotateSession(ctx, tx, channel, id, now)
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("rotating a %s session: %w", channel, err)
	}
	return newID, ticket, nil
}

// rotateSession renames the session (channel, id) to a new random id, sets
// a one-time ticket for the page to reconnect with, and moves to the new id
// what the citizen set up under the old one: verifications (so notices for
// a verified applicant reach the page they use now), notice subscriptions
// and a notice opt-out. sql.ErrNoRows when there is no such session. The
// ticket store moves a hand-off in the same transaction.
func (db *DB) rotateSession(ctx context.Context, tx bun.Tx, channel, id string, now time.Time) (newID, ticket string, err error) {
	newID, ticket = randomHex(16), randomHex(24)
	h, exp := hashTicket(ticket), now.Add(session.TicketTTL).UTC()
	res, err := tx.NewUpdate().Model((*sessionRow)(nil)).
		Set("user_id = ?", newID).Set("ticket_hash = ?", h).Set("ticket_expires_at = ?", exp).
		Set("version = version + 1").Set("updated_at = ?", db.utcNow()).
		Where("channel = ? AND user_id = ?", channel, id).Exec(ctx)
	if err != nil {
		return "", "", err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", "", sql.ErrNoRows
	}
	for _, table := range []string{"verify_attempts", "notice_subscriptions"} {
		if _, err := tx.NewUpdate().Table(table).Set("user_id = ?", newID).Where("channel = ? AND user_id = ?", channel, id).Exec(ctx); err != nil {
			return "", "", fmt.Errorf("moving %s to the new id: %w", table, err)
		}
	}
	if _, err := tx.NewUpdate().Table("notice_optouts").Set("identity = ?", channel+":"+newID).
		Where("identity = ?", channel+":"+id).Exec(ctx); err != nil {
		return "", "", fmt.Errorf("moving the notice opt-out to the new id: %w", err)
	}
	return newID, ticket, nil
}

func (s sessionStore) RedeemTicket(ctx context.Context, channel, ticket string, now time.Time) (string, error) {
	if ticket == "" {
		return "", nil
	}
	var row sessionRow
	err := s.db.bun.NewSelect().Model(&row).Column("user_id").
		Where("channel = ? AND ticket_hash = ? AND ticket_expires_at > ?", channel, hashTicket(ticket), now.UTC()).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("redeeming a %s ticket: %w", channel, err)
	}
	// Clearing the hash with the hash in the WHERE clause makes the ticket
	// single-use even when two requests race.
	res, err := s.db.bun.NewUpdate().Model((*sessionRow)(nil)).Set("ticket_hash = NULL").Set("ticket_expires_at = NULL").
		Where("channel = ? AND user_id = ? AND ticket_hash = ?", channel, row.UserID, hashTicket(ticket)).Exec(ctx)
	if err != nil {
		return "", fmt.Errorf("redeeming a %s ticket: %w", channel, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", nil
	}
	return row.UserID, nil
}
