package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/inbound"
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

// completePG is the completion as one Postgres statement: the session's
// compare-and-swap (when saved), the inbound record, and one look-up for
// the audit log; it returns 1 unless the session changed meanwhile.
// Its four shapes are each one prepared statement.
func completePG(db *DB, args []any, saved *session.Session, lookups []session.Lookup, k inbound.Key) (string, []any) {
	name := fmt.Sprintf("complete session=%v lookup=%v", saved != nil, len(lookups) == 1)
	q := db.stmt(name, func() string {
		var b strings.Builder
		b.WriteString("WITH ")
		guard := ""
		if saved != nil {
			b.WriteString(`s AS (` + sessionUpsertCols + `
	VALUES ($1, $3, $8, $9, $10, $11, $12, $13 + 1, $5, $5)
	ON CONFLICT (channel, user_id) DO UPDATE SET lang = EXCLUDED.lang, state = EXCLUDED.state,
		state_expires_at = EXCLUDED.state_expires_at, rate_window_start = EXCLUDED.rate_window_start,
		rate_count = EXCLUDED.rate_count, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
	WHERE sessions.version = $13
	RETURNING 1), `)
			guard = " AND EXISTS (SELECT 1 FROM s)"
		}
		b.WriteString(`u AS (UPDATE inbound SET state = 'done', reply = $4, processed_at = $5,
	text = CASE WHEN $6 THEN '' ELSE text END, sent = $7
	WHERE channel = $1 AND message_id = $2 AND sender = $3` + guard + ` RETURNING 1)`)
		if len(lookups) == 1 {
			n := 8
			if saved != nil {
				n = 14
			}
			p := func(i int) string { return fmt.Sprintf("$%d", n+i) }
			b.WriteString(`, a AS (` + lookupAuditCols + `
	SELECT $5, ` + p(0) + `, $1, 'dossier.lookup', ` + p(1) + `, $1, ` + p(2) + `, ` + p(1) + `,
		COALESCE((SELECT agency FROM dossiers WHERE code = ` + p(1) + `), ''), ` + p(3) + `
	WHERE EXISTS (SELECT 1 FROM u))`)
		}
		if saved != nil {
			b.WriteString(` SELECT count(*) FROM s`)
		} else {
			b.WriteString(` SELECT 1`)
		}
		return b.String()
	})
	if saved != nil {
		args = append(args, db.sessionArgs(saved)...)
	}
	if len(lookups) == 1 {
		args = append(args, lookupArgs(k.Channel, k.Sender, lookups[0])...)
	}
	return q, args
}

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
