package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/console"
	"github.com/dvcbot/dvcbot/core/session"
)

// The audit log is append-only: this file inserts and reads it, nothing
// updates or deletes it (retention keeps it too).

type auditRow struct {
	bun.BaseModel `bun:"table:audit_log,alias:al"`

	ID      int64     `bun:"id,pk,autoincrement"`
	At      time.Time `bun:"at"`
	Actor   string    `bun:"actor"`
	Role    string    `bun:"role"`
	Source  string    `bun:"source"`
	Action  string    `bun:"action"`
	Target  string    `bun:"target"`
	Before  string    `bun:"before_value"`
	After   string    `bun:"after_value"`
	Channel string    `bun:"channel"`
	User    string    `bun:"user_hash"`
	Dossier string    `bun:"dossier_code"`
	Agency  string    `bun:"agency"`
	Tier    *int      `bun:"tier"`
}

func (r auditRow) entry() console.AuditEntry {
	return console.AuditEntry{ID: r.ID, At: r.At.UTC(), Actor: r.Actor, Role: r.Role, Source: r.Source, Action: r.Action,
		Target: r.Target, Before: r.Before, After: r.After, Channel: r.Channel, User: r.User, Dossier: r.Dossier,
		Agency: r.Agency, Tier: r.Tier}
}

// AppendAudit adds one entry to the audit log.
func (s *ConsoleStore) AppendAudit(ctx context.Context, e console.AuditEntry) error {
	if e.At.IsZero() {
		e.At = s.db.utcNow()
	}
	row := auditRow{At: e.At.UTC(), Actor: e.Actor, Role: e.Role, Source: e.Source, Action: e.Action, Target: e.Target,
		Before: e.Before, After: e.After, Channel: e.Channel, User: e.User, Dossier: e.Dossier, Agency: e.Agency, Tier: e.Tier}
	if _, err := s.db.bun.NewInsert().Model(&row).Exec(ctx); err != nil {
		return fmt.Errorf("writing the audit log: %w", err)
	}
	return nil
}

// Audit lists entries, newest first.
func (s *ConsoleStore) Audit(ctx context.Context, f console.AuditFilter) ([]console.AuditEntry, error) {
	var rows []auditRow
	q := s.db.bun.NewSelect().Model(&rows).OrderExpr("id DESC")
	if f.Actor != "" {
		q = q.Where("actor = ?", f.Actor)
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if f.Dossier != "" {
		q = q.Where("dossier_code = ?", f.Dossier)
	}
	if f.Channel != "" {
		q = q.Where("channel = ?", f.Channel)
	}
	if f.User != "" {
		q = q.Where("user_hash = ?", f.User)
	}
	if f.Agency != "" {
		q = q.Where("agency = ?", f.Agency)
	}
	if !f.From.IsZero() {
		q = q.Where("at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("at < ?", f.To.UTC())
	}
	if f.BeforeID > 0 {
		q = q.Where("id < ?", f.BeforeID)
	}
	if f.Limit > 0 {
		q = q.Limit(int64(f.Limit))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("reading the audit log: %w", err)
	}
	out := make([]console.AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = r.entry()
	}
	return out, nil
}

// LookupAudit is the audit log as the citizen bot records look-ups.
func (db *DB) LookupAudit() console.LookupAudit { return db.Console() }

// Record implements console.LookupAudit: a dossier look-up on a channel,
// with the tier shown. The user id is kept as a hash; the dossier's agency
// is noted so that an agency's officers can be shown their look-ups.
func (s *ConsoleStore) Record(ctx context.Context, channel, user, code string, tier int) error {
	if t := session.TurnFor(ctx, channel, user); t != nil {
		t.Lookups = append(t.Lookups, session.Lookup{Dossier: code, Tier: tier}) // written with the reply
		return nil
	}
	agency := ""
	var row dossierRow
	if err := s.db.bun.NewSelect().Model(&row).Column("agency").Where("code = ?", code).Scan(ctx); err == nil {
		agency = row.Agency
	} else if !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("recording a look-up of %s: %w", code, err)
	}
	t := tier
	return s.AppendAudit(ctx, console.AuditEntry{Actor: channel + ":" + console.UserHash(channel, user), Source: channel,
		Action: "dossier.lookup", Target: code, Channel: channel, User: console.UserHash(channel, user), Dossier: code,
		Agency: agency, Tier: &t})
}

// lookupAuditSQL appends a look-up, the agency read from the dossier, in a
// statement of its own (inside a transaction) or in the batched completion (completeBatchSQL).
const lookupAuditCols = `INSERT INTO audit_log (at, actor, source, action, target, channel, user_hash, dossier_code, agency, tier)`

// lookupArgs are a look-up's arguments: actor, code, user hash, tier.
func lookupArgs(channel, user string, l session.Lookup) []any {
	h := console.UserHash(channel, user)
	return []any{channel + ":" + h, l.Dossier, h, l.Tier}
}

// insertLookups writes look-ups in tx.
func (db *DB) insertLookups(ctx context.Context, tx bun.Tx, channel, user string, ls []session.Lookup, now time.Time) error {
	q := lookupAuditCols + ` SELECT $1, $2, $3, 'dossier.lookup', $4, $3, $5, $4, COALESCE((SELECT agency FROM dossiers WHERE code = $4), ''), $6`
	for _, l := range ls {
		a := lookupArgs(channel, user, l)
		if _, err := tx.Tx.ExecContext(ctx, q, db.prepared(db.ts(now), a[0], channel, a[1], a[2], a[3])...); err != nil {
			return fmt.Errorf("writing the audit log: %w", err)
		}
	}
	return nil
}
