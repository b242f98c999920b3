package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/session"
)

// The steady state of an inbound message on Postgres is two statements:
// the claim (with what the bot will read) and the completion (with what it
// wrote). Both go through a batcher, so concurrent messages share them.

// hotPath holds the batchers of the two statements (Postgres only).
type hotPath struct {
	pool      *sql.DB // connections of their own: see openHotPool
	claims    *batcher[claimReq, claimRow]
	completes *batcher[completeReq, bool]
}

// hotWorkers is how many batches of each statement may be in flight: with
// two of each, one fills while the other runs, and a 2-core Postgres is
// kept busy without the contention of many more.
const (
	hotWorkers = 4
	hotMax     = 64
)

func newHotPath(db *DB, pool *sql.DB) *hotPath {
	return &hotPath{
		pool: pool,
		claims: newBatcher(batchConfig[claimReq, claimRow]{
			run: db.claimBatch, single: db.claimOne, max: hotMax, workers: hotWorkers,
			// the reuse check compares senders of one id: those must see
			// each other's rows, so one id is claimed once per batch.
			key: func(q claimReq) string { return q.channel + "\x00" + q.messageID },
		}),
		completes: newBatcher(batchConfig[completeReq, bool]{
			run: db.completeBatch, single: db.completeOne, max: hotMax, workers: hotWorkers,
			key: func(q completeReq) string {
				if q.saved == nil {
					return ""
				}
				return q.k.Channel + "\x00" + q.k.Sender // an upsert touches a session once
			},
		}),
	}
}

func (h *hotPath) close() error {
	if h == nil {
		return nil
	}
	h.claims.close()
	h.completes.close()
	return h.pool.Close()
}

type claimReq struct {
	channel, messageID, sender, text, payload, prefetch string
	at, unratedSince                                    time.Time
}

// claimRow is what a claim read: the row before the insert (none when
// inserted), the reuse check, the session, the named dossier, and whether
// the sender has hand-off activity.
type claimRow struct {
	inserted bool
	state    sql.NullString
	reply    sql.NullString
	sent     sql.NullBool
	claimed  sql.NullTime
	reused   bool
	sc       sessionCols
	dossier  sql.NullString
	tickets  bool
}

func (c *claimRow) dest() []any {
	return append(append([]any{&c.inserted, &c.state, &c.reply, &c.sent, &c.claimed, &c.reused}, c.sc.dest()...), &c.dossier, &c.tickets)
}

// claimCols are the claim's answer after the insert ins and with the
// request r: the outer SELECT sees the table as it was before the insert
// (one snapshot), so cur is NULL on first sight.
const claimCols = `ins.sender IS NOT NULL, cur.state, cur.reply, cur.sent, cur.claimed_at,
	EXISTS (SELECT 1 FROM inbound o WHERE o.channel = r.channel AND o.message_id = r.message_id AND o.sender <> r.sender),
	s.lang, s.state, s.state_expires_at, s.rate_window_start, s.rate_count, s.version,
	(SELECT row_to_json(d)::text FROM dossiers d WHERE d.code = r.code),
	EXISTS (SELECT 1 FROM tickets t WHERE t.channel = r.channel AND t.user_id = r.sender
		AND (t.state = 'open' OR (t.state = 'closed' AND t.rating = 0 AND t.closed_at > r.unrated)))
	OR EXISTS (SELECT 1 FROM human_pauses h WHERE h.channel = r.channel AND h.user_id = r.sender AND h.paused_until > r.at)`

const claimInsert = `INSERT INTO inbound (channel, message_id, sender, text, payload, state, attempts, received_at, claimed_at)
	SELECT channel, message_id, sender, text, payload, 'processing', 1, at, at FROM r
	ON CONFLICT (channel, message_id, sender) DO NOTHING
	RETURNING channel, message_id, sender`

// claimBatchSQL claims many: one row per message, numbered i.
const claimBatchSQL = `WITH r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
	$7::timestamptz[], $8::timestamptz[]) WITH ORDINALITY AS r(channel, message_id, sender, text, payload, code, at, unrated, i)),
ins AS (` + claimInsert + `)
SELECT r.i, ` + claimCols + `
FROM r LEFT JOIN ins ON ins.channel = r.channel AND ins.message_id = r.message_id AND ins.sender = r.sender
LEFT JOIN inbound cur ON cur.channel = r.channel AND cur.message_id = r.message_id AND cur.sender = r.sender
LEFT JOIN sessions s ON s.channel = r.channel AND s.user_id = r.sender`

// claimOne and completeOne are the batches of one: the same prepared
// statement whatever the load.
func (db *DB) claimOne(ctx context.Context, q claimReq) (claimRow, error) {
	rs, err := db.claimBatch(ctx, []claimReq{q})
	if err != nil {
		return claimRow{}, err
	}
	return rs[0], nil
}

func (db *DB) completeOne(ctx context.Context, q completeReq) (bool, error) {
	rs, err := db.completeBatch(ctx, []completeReq{q})
	if err != nil {
		return false, err
	}
	return rs[0], nil
}

func (db *DB) claimBatch(ctx context.Context, qs []claimReq) ([]claimRow, error) {
	n := len(qs)
	channel, id, sender, text, payload, code := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at, unrated := make([]time.Time, n), make([]time.Time, n)
	for i, q := range qs {
		channel[i], id[i], sender[i], text[i], payload[i], code[i] = q.channel, q.messageID, q.sender, q.text, q.payload, q.prefetch
		at[i], unrated[i] = q.at, q.unratedSince
	}
	rows, err := db.hot.pool.QueryContext(ctx, claimBatchSQL, db.prepared(channel, id, sender, text, payload, code, at, unrated)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]claimRow, n)
	seen := 0
	for rows.Next() {
		var i int
		var c claimRow
		if err := rows.Scan(append([]any{&i}, c.dest()...)...); err != nil {
			return nil, err
		}
		if i < 1 || i > n {
			return nil, fmt.Errorf("claim batch: row %d of %d", i, n)
		}
		out[i-1] = c
		seen++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if seen != n {
		return nil, fmt.Errorf("claim batch: %d rows for %d messages", seen, n)
	}
	return out, nil
}

// completeReq is a completion the batch can take: no outbox rows, at most
// one look-up.
type completeReq struct {
	k            inbound.Key
	reply        string
	secret, sent bool
	at           time.Time
	saved        *session.Session
	lookup       *session.Lookup
}

const completeBatchSQL = `WITH r AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[],
	$7::timestamptz[], $8::bool[], $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[], $13::bigint[], $14::bigint[],
	$15::text[], $16::text[], $17::text[], $18::bigint[])
	WITH ORDINALITY AS r(channel, message_id, sender, reply, secret, sent, at, saved, lang, state, expires, rwindow, rcount, version,
		code, actor, user_hash, tier, i)),
s AS (` + sessionUpsertCols + `
	SELECT channel, sender, lang, state::jsonb, expires, rwindow, rcount, version + 1, at, at FROM r WHERE saved
	ON CONFLICT (channel, user_id) DO UPDATE SET lang = EXCLUDED.lang, state = EXCLUDED.state,
		state_expires_at = EXCLUDED.state_expires_at, rate_window_start = EXCLUDED.rate_window_start,
		rate_count = EXCLUDED.rate_count, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
	WHERE sessions.version = EXCLUDED.version - 1
	RETURNING channel, user_id),
ok AS (SELECT * FROM r WHERE NOT saved OR EXISTS (SELECT 1 FROM s WHERE s.channel = r.channel AND s.user_id = r.sender)),
u AS (UPDATE inbound m SET state = 'done', reply = ok.reply, processed_at = ok.at,
	text = CASE WHEN ok.secret THEN '' ELSE m.text END, sent = ok.sent
	FROM ok WHERE m.channel = ok.channel AND m.message_id = ok.message_id AND m.sender = ok.sender
	RETURNING ok.i),
a AS (` + lookupAuditCols + `
	SELECT ok.at, ok.actor, ok.channel, 'dossier.lookup', ok.code, ok.channel, ok.user_hash, ok.code,
		COALESCE((SELECT agency FROM dossiers WHERE code = ok.code), ''), ok.tier
	FROM ok WHERE ok.code IS NOT NULL AND EXISTS (SELECT 1 FROM u WHERE u.i = ok.i))
SELECT i FROM ok`

func (db *DB) completeBatch(ctx context.Context, qs []completeReq) ([]bool, error) {
	n := len(qs)
	channel, id, sender, reply := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	secret, sent, saved := make([]bool, n), make([]bool, n), make([]bool, n)
	at := make([]time.Time, n)
	lang, state := make([]string, n), make([]*string, n)
	expires, window := make([]*time.Time, n), make([]*time.Time, n)
	rcount, version := make([]int64, n), make([]int64, n)
	code, actor, hash, tier := make([]*string, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, q := range qs {
		channel[i], id[i], sender[i], reply[i] = q.k.Channel, q.k.MessageID, q.k.Sender, q.reply
		secret[i], sent[i], at[i] = q.secret, q.sent, q.at
		if s := q.saved; s != nil {
			saved[i], lang[i], rcount[i], version[i] = true, s.Lang, int64(s.RateCount), s.Version
			if len(s.State) > 0 {
				st, exp := string(s.State), s.StateExpiresAt.UTC()
				state[i], expires[i] = &st, &exp
			}
			if !s.RateWindowStart.IsZero() {
				w := s.RateWindowStart.UTC()
				window[i] = &w
			}
		}
		if l := q.lookup; l != nil {
			a := lookupArgs(q.k.Channel, q.k.Sender, *l)
			c := l.Dossier
			code[i], actor[i], hash[i], tier[i] = &c, a[0].(string), a[2].(string), int64(l.Tier)
		}
	}
	rows, err := db.hot.pool.QueryContext(ctx, completeBatchSQL, db.prepared(channel, id, sender, reply, secret, sent, at, saved,
		lang, state, expires, window, rcount, version, code, actor, hash, tier)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make([]bool, n)
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return nil, err
		}
		if i < 1 || i > n {
			return nil, fmt.Errorf("completion batch: row %d of %d", i, n)
		}
		out[i-1] = true
	}
	return out, rows.Err()
}
