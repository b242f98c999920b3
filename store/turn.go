package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/core/ticket"
)

// The sender's session travels with the inbound claim (read in the claim's
// round trip) and with the completion (written, compare-and-swap on its
// version, in the completion's): see session.Turn.

// sessionCols are read after the claim's columns, from a LEFT JOIN.
type sessionCols struct {
	lang    sql.NullString
	state   sql.NullString
	expires nullTime
	window  nullTime
	count   sql.NullInt64
	version sql.NullInt64
}

func (c *sessionCols) dest() []any {
	return []any{&c.lang, &c.state, &c.expires, &c.window, &c.count, &c.version}
}

func (c *sessionCols) session(channel, user string) *session.Session {
	s := &session.Session{Channel: channel, UserID: user}
	if !c.version.Valid {
		return s // none stored yet: Version 0
	}
	s.Lang, s.Version, s.RateCount = c.lang.String, c.version.Int64, int(c.count.Int64)
	if c.state.Valid {
		s.State = json.RawMessage(c.state.String)
	}
	s.StateExpiresAt, s.RateWindowStart = c.expires.t, c.window.t
	return s
}

// nullTime scans a timestamp that SQLite may hand over as text.
type nullTime struct{ t time.Time }

func (n *nullTime) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		n.t = time.Time{}
	case time.Time:
		n.t = x.UTC()
	case string:
		t, err := parseSQLiteTime(x)
		n.t = t
		return err
	case []byte:
		t, err := parseSQLiteTime(string(x))
		n.t = t
		return err
	default:
		return fmt.Errorf("unexpected time %T", v)
	}
	return nil
}

// sessionArgs are a session's columns as statement arguments.
func (db *DB) sessionArgs(s *session.Session) []any {
	var state, expires, window any
	if len(s.State) > 0 {
		state, expires = string(s.State), db.ts(s.StateExpiresAt)
	}
	if !s.RateWindowStart.IsZero() {
		window = db.ts(s.RateWindowStart)
	}
	return []any{s.Lang, state, expires, window, s.RateCount, s.Version}
}

const sessionUpsertCols = `INSERT INTO sessions (channel, user_id, lang, state, state_expires_at, rate_window_start, rate_count, version, created_at, updated_at)`

// saveSessionSQL is the compare-and-swap on its own (inside a transaction).
const saveSessionSQL = sessionUpsertCols + `
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8 + 1, $9, $9)
	ON CONFLICT (channel, user_id) DO UPDATE SET lang = EXCLUDED.lang, state = EXCLUDED.state,
		state_expires_at = EXCLUDED.state_expires_at, rate_window_start = EXCLUDED.rate_window_start,
		rate_count = EXCLUDED.rate_count, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
	WHERE sessions.version = $8`

// saveTurnSession writes s in tx if the stored session is still at
// s.Version; session.ErrConflict otherwise.
func (db *DB) saveTurnSession(ctx context.Context, tx bun.Tx, s *session.Session, now time.Time) error {
	args := append([]any{s.Channel, s.UserID}, db.sessionArgs(s)...)
	args = append(args, db.ts(now))
	res, err := tx.Tx.ExecContext(ctx, saveSessionSQL, db.prepared(args...)...)
	if err != nil {
		return fmt.Errorf("saving session %s/%s: %w", s.Channel, s.UserID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return session.ErrConflict
	}
	return nil
}

// readAhead attaches what the claim read for the handlers: the dossier
// the message names and, when the sender has no ticket activity, that fact
// (Postgres only: on SQLite a read costs no network round trip, so none is
// made ahead).
func readAhead(code string, row sql.NullString, read bool, tickets bool) func(context.Context) context.Context {
	if !read {
		return nil
	}
	var d *dossier.Dossier
	known := code != ""
	if known && row.Valid {
		var r dossierRow
		if err := json.Unmarshal([]byte(row.String), &r); err != nil {
			known = false // the store reads it again
		} else {
			dd := r.dossier()
			d = &dd
		}
	}
	return func(ctx context.Context) context.Context {
		if known {
			ctx = dossier.WithPrefetched(ctx, code, d)
		}
		if !tickets {
			ctx = ticket.WithNoActivity(ctx)
		}
		return ctx
	}
}
