package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/session"
)

// verifyAttemptRow is one guess at a dossier's verification digits. It is
// written as a failure before the guess is checked and turned into a
// success after, so a guess counts even if the process dies in between.
type verifyAttemptRow struct {
	bun.BaseModel `bun:"table:verify_attempts,alias:va"`

	ID        int64     `bun:"id,pk,autoincrement"`
	Key       string    `bun:"attempt_key"`
	Dossier   string    `bun:"dossier_code"`
	Channel   string    `bun:"channel"`
	UserID    string    `bun:"user_id"`
	Source    string    `bun:"source"`
	Checked   bool      `bun:"checked"`
	Verdict   int       `bun:"verdict"`
	Left      int       `bun:"checks_left"`
	Failed    bool      `bun:"failed"`
	CreatedAt time.Time `bun:"created_at"`
}

// BeginAttempt records and judges a guess in one transaction, serialised
// per dossier (an advisory lock on Postgres; SQLite's immediate
// transactions serialise all writers): of any number of concurrent guesses
// exactly as many as the limit allows are checked.
func (s sessionStore) BeginAttempt(ctx context.Context, a session.Attempt, l session.Limits) (session.Check, error) {
	var out session.Check
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if s.db.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(?))", "verify:"+a.Dossier); err != nil {
				return err
			}
		}
		var prev verifyAttemptRow
		err := tx.NewSelect().Model(&prev).Where("attempt_key = ?", a.Key).Scan(ctx)
		switch {
		case err == nil: // the same message handled again: the first verdict
			out = session.Check{Verdict: session.Verdict(prev.Verdict), Left: prev.Left}
			return nil
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		row := verifyAttemptRow{Key: a.Key, Dossier: a.Dossier, Channel: a.Channel, UserID: a.UserID, Source: a.Source,
			Failed: true, CreatedAt: a.At.UTC()}
		if _, err := tx.NewInsert().Model(&row).Exec(ctx); err != nil {
			return err
		}
		c, err := judge(ctx, tx, a, l, 0)
		if err != nil {
			return err
		}
		out = c
		_, err = tx.NewUpdate().Model((*verifyAttemptRow)(nil)).Set("checked = ?", c.Verdict == session.Allowed).
			Set("verdict = ?", int(c.Verdict)).Set("checks_left = ?", c.Left).Where("attempt_key = ?", a.Key).Exec(ctx)
		return err
	})
	if err != nil {
		return session.Check{}, fmt.Errorf("recording a verification attempt: %w", err)
	}
	return out, nil
}

func (s sessionStore) AttemptSucceeded(ctx context.Context, key string) error {
	_, err := s.db.bun.NewUpdate().Model((*verifyAttemptRow)(nil)).Set("failed = ?", false).Where("attempt_key = ?", key).Exec(ctx)
	if err != nil {
		return fmt.Errorf("recording a verification success: %w", err)
	}
	return nil
}

func (s sessionStore) AttemptsLocked(ctx context.Context, a session.Attempt, l session.Limits) (session.Verdict, error) {
	c, err := judge(ctx, s.db.bun, a, l, 1)
	return c.Verdict, err
}

// judge counts the failures in the window on each dimension, plus extra
// (1 when judging a guess not recorded yet).
func judge(ctx context.Context, db bun.IDB, a session.Attempt, l session.Limits, extra int) (session.Check, error) {
	since := a.At.Add(-l.Window).UTC()
	count := func(where string, args ...any) (int, error) {
		q := db.NewSelect().Model((*verifyAttemptRow)(nil)).Where("failed = ? AND created_at > ?", true, since).Where(where, args...)
		n, err := q.Count(ctx)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("counting verification attempts: %w", err)
		}
		return int(n) + extra, nil
	}
	d, err := count("dossier_code = ?", a.Dossier)
	if err != nil {
		return session.Check{}, err
	}
	src := 0
	if a.Source != "" {
		if src, err = count("source = ?", a.Source); err != nil {
			return session.Check{}, err
		}
	}
	u, err := count("channel = ? AND user_id = ?", a.Channel, a.UserID)
	if err != nil {
		return session.Check{}, err
	}
	return l.Judge(d, src, u, a.Source != ""), nil
}
