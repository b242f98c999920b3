package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/session"
)

// The inbound table is on the hot path of every message, so its statements
// are written by hand and prepared (see DB.prepared).

const (
	inboundProcessing = "processing"
	inboundDone       = "done"
)

// Inbound returns the inbound-message store of the pipeline.
func (db *DB) Inbound() *InboundStore { return &InboundStore{db} }

// InboundStore implements inbound.Store.
type InboundStore struct{ db *DB }

var _ inbound.Store = (*InboundStore)(nil)

// inboundPayload keeps what a sweeper needs to rebuild the message.
type inboundPayload struct {
	Phone   string          `json:"phone,omitempty"`
	Choice  bool            `json:"choice,omitempty"`
	Event   string          `json:"event,omitempty"`
	ReplyTo string          `json:"reply_to,omitempty"`
	Source  string          `json:"source,omitempty"`
	Time    time.Time       `json:"time"`
	Raw     json.RawMessage `json:"raw,omitempty"`
}

const (
	claimInsertSQLite = `INSERT INTO inbound (channel, message_id, sender, text, payload, state, attempts, received_at, claimed_at)
	VALUES ($1, $2, $3, $4, $5, 'processing', 1, $6, $6)
	ON CONFLICT (channel, message_id, sender) DO NOTHING`
	claimReadSQLite = `SELECT cur.state, cur.reply, cur.sent, cur.claimed_at,
	EXISTS (SELECT 1 FROM inbound o WHERE o.channel = $1 AND o.message_id = $2 AND o.sender <> $3),
	s.lang, s.state, s.state_expires_at, s.rate_window_start, s.rate_count, s.version
	FROM inbound cur LEFT JOIN sessions s ON s.channel = $1 AND s.user_id = $3
	WHERE cur.channel = $1 AND cur.message_id = $2 AND cur.sender = $3`
	takeOverSQL = `UPDATE inbound SET attempts = attempts + 1, claimed_at = $4
	WHERE channel = $1 AND message_id = $2 AND sender = $3 AND state = 'processing' AND claimed_at < $5`
	completeSQL = `UPDATE inbound SET state = 'done', reply = $4, processed_at = $5,
	text = CASE WHEN $6 THEN '' ELSE text END, sent = $7
	WHERE channel = $1 AND message_id = $2 AND sender = $3`
)

// Claim implements inbound.Store.
func (s *InboundStore) Claim(ctx context.Context, in message.Inbound, raw []byte, staleAfter time.Duration, prefetch string) (inbound.Claim, error) {
	db := s.db
	now := db.utcNow()
	p := inboundPayload{Phone: in.Phone, Choice: in.Choice, Event: in.Event, ReplyTo: in.ReplyTo, Source: in.Source, Time: in.Time.UTC()}
	if json.Valid(raw) {
		p.Raw = raw
	}
	pb, _ := json.Marshal(p)
	var (
		c  claimRow
		ts sql.NullString
	)
	c.tickets = true // unknown: the hand-off route asks itself
	sqldb := db.bun.DB
	if db.dialect == Postgres {
		var err error
		c, err = db.hot.claims.do(ctx, claimReq{in.Channel, in.MessageID, in.UserID, in.Text, string(pb), prefetch, now, now.Add(-unratedWindow)})
		if err != nil {
			return inbound.Claim{}, fmt.Errorf("recording inbound %s: %w", inbound.KeyOf(in), err)
		}
	} else {
		res, err := sqldb.ExecContext(ctx, claimInsertSQLite, in.Channel, in.MessageID, in.UserID, in.Text, string(pb), db.ts(now))
		if err != nil {
			return inbound.Claim{}, fmt.Errorf("recording inbound %s: %w", inbound.KeyOf(in), err)
		}
		n, _ := res.RowsAffected()
		c.inserted = n == 1
		err = sqldb.QueryRowContext(ctx, claimReadSQLite, in.Channel, in.MessageID, in.UserID).Scan(append([]any{&c.state, &c.reply, &c.sent, &ts, &c.reused}, c.sc.dest()...)...)
		if err != nil {
			return inbound.Claim{}, fmt.Errorf("reading inbound %s: %w", inbound.KeyOf(in), err)
		}
		if c.inserted {
			c.state = sql.NullString{} // as on Postgres: nothing was there before
		} else if ts.Valid {
			t, err := parseSQLiteTime(ts.String)
			if err != nil {
				return inbound.Claim{}, err
			}
			c.claimed = sql.NullTime{Time: t, Valid: true}
		}
	}
	inserted, state, reply, sent, claimed, reused, sc := c.inserted, c.state, c.reply, c.sent, c.claimed, c.reused, &c.sc
	attach := readAhead(prefetch, c.dossier, db.dialect == Postgres, c.tickets)
	if inserted {
		return inbound.Claim{New: true, Reused: reused, Session: sc.session(in.Channel, in.UserID), Attach: attach}, nil
	}
	if state.String == inboundDone {
		var r message.Reply
		if reply.Valid {
			if err := json.Unmarshal([]byte(reply.String), &r); err != nil {
				return inbound.Claim{}, fmt.Errorf("stored reply of %s: %w", inbound.KeyOf(in), err)
			}
		}
		return inbound.Claim{Reply: &r, Sent: sent.Bool}, nil
	}
	if claimed.Valid && claimed.Time.Before(now.Add(-staleAfter)) {
		// A crashed attempt: take it over, atomically (one of several
		// retries or sweepers wins).
		res, err := sqldb.ExecContext(ctx, takeOverSQL, db.prepared(in.Channel, in.MessageID, in.UserID, db.ts(now), db.ts(now.Add(-staleAfter)))...)
		if err != nil {
			return inbound.Claim{}, fmt.Errorf("taking over inbound %s: %w", inbound.KeyOf(in), err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return inbound.Claim{New: true, Session: sc.session(in.Channel, in.UserID), Attach: attach}, nil
		}
	}
	return inbound.Claim{InFlight: true}, nil
}

func parseSQLiteTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}

// Complete implements inbound.Store: on Postgres one statement, shared
// with concurrent completions, in the common case (no outbox rows, at most
// one look-up); otherwise a transaction (and always on SQLite, but for a
// bare reply).
func (s *InboundStore) Complete(ctx context.Context, k inbound.Key, reply message.Reply, secret bool, out []notify.Message, turn *session.Turn) error {
	db := s.db
	b, err := json.Marshal(reply)
	if err != nil {
		return err
	}
	now := db.utcNow()
	args := []any{k.Channel, k.MessageID, k.Sender, string(b), db.ts(now), secret, len(out) > 0}
	var saved *session.Session
	var lookups []session.Lookup
	if turn != nil {
		saved, lookups = turn.Saved, turn.Lookups
	}
	switch {
	case len(out) == 0 && len(lookups) <= 1 && db.dialect == Postgres:
		q := completeReq{k: k, reply: string(b), secret: secret, at: now, saved: saved}
		if len(lookups) == 1 {
			q.lookup = &lookups[0]
		}
		ok, err := db.hot.completes.do(ctx, q)
		if err != nil {
			return fmt.Errorf("completing inbound %s: %w", k, err)
		}
		if !ok {
			return session.ErrConflict
		}
		return nil
	case saved == nil && len(lookups) == 0 && len(out) == 0:
		if _, err := db.bun.DB.ExecContext(ctx, completeSQL, db.prepared(args...)...); err != nil {
			return fmt.Errorf("completing inbound %s: %w", k, err)
		}
		return nil
	}
	return db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if saved != nil {
			if err := db.saveTurnSession(ctx, tx, saved, now); err != nil {
				return err
			}
		}
		if err := db.insertLookups(ctx, tx, k.Channel, k.Sender, lookups, now); err != nil {
			return err
		}
		if _, err := tx.Tx.ExecContext(ctx, completeSQL, db.prepared(args...)...); err != nil {
			return fmt.Errorf("completing inbound %s: %w", k, err)
		}
		_, err := enqueue(ctx, tx, now, out)
		return err
	})
}

// Stale implements inbound.Store: it takes over claims left processing
// since before olderThan, oldest first.
func (s *InboundStore) Stale(ctx context.Context, olderThan time.Time, limit int) ([]inbound.Pending, error) {
	db := s.db
	type row struct {
		Channel   string `bun:"channel"`
		MessageID string `bun:"message_id"`
		Sender    string `bun:"sender"`
		Text      string `bun:"text"`
		Payload   string `bun:"payload"`
		Attempts  int    `bun:"attempts"`
	}
	var rows []row
	err := db.bun.NewSelect().Table("inbound").Column("channel", "message_id", "sender", "text", "payload", "attempts").
		Where("state = ? AND claimed_at < ?", inboundProcessing, olderThan.UTC()).
		OrderExpr("claimed_at").Limit(int64(limit)).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("listing unanswered inbound messages: %w", err)
	}
	now := db.utcNow()
	out := make([]inbound.Pending, 0, len(rows))
	for _, r := range rows {
		res, err := db.bun.DB.ExecContext(ctx, takeOverSQL, db.prepared(r.Channel, r.MessageID, r.Sender, db.ts(now), db.ts(olderThan))...)
		if err != nil {
			return out, fmt.Errorf("taking over inbound %s/%s: %w", r.Channel, r.MessageID, err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue // another replica's sweeper or a retry was first
		}
		var p inboundPayload
		_ = json.Unmarshal([]byte(r.Payload), &p)
		out = append(out, inbound.Pending{
			Inbound: message.Inbound{Channel: r.Channel, UserID: r.Sender, Text: r.Text, MessageID: r.MessageID,
				Time: p.Time, Phone: p.Phone, Choice: p.Choice, Event: p.Event, ReplyTo: p.ReplyTo, Source: p.Source},
			Raw: p.Raw, Attempts: r.Attempts + 1,
		})
	}
	return out, nil
}

// InboundState reports a message's state and stored reply (tests, operators).
func (s *InboundStore) InboundState(ctx context.Context, k inbound.Key) (state, text string, reply *message.Reply, err error) {
	var r struct {
		State string         `bun:"state"`
		Text  string         `bun:"text"`
		Reply sql.NullString `bun:"reply"`
	}
	err = s.db.bun.NewSelect().Table("inbound").Column("state", "text", "reply").
		Where("channel = ? AND message_id = ? AND sender = ?", k.Channel, k.MessageID, k.Sender).Scan(ctx, &r)
	if err != nil {
		return "", "", nil, err
	}
	if r.Reply.Valid {
		reply = &message.Reply{}
		if err := json.Unmarshal([]byte(r.Reply.String), reply); err != nil {
			return "", "", nil, err
		}
	}
	return r.State, r.Text, reply, nil
}
