package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"
)

// Retention is what one retention pass removed.
type Retention struct {
	InboundStripped  int64 `json:"inbound_stripped"`   // inbound texts, payloads and replies emptied
	SessionsDeleted  int64 `json:"sessions_deleted"`   // citizens' conversation sessions
	ConsoleSessions  int64 `json:"console_sessions"`   // expired console sessions
	SignInsDeleted   int64 `json:"signins_deleted"`    // sign-in attempts (IP addresses) older than a day
	EventsRedacted   int64 `json:"events_redacted"`    // dossier event payloads stripped of personal fields
	MissesStripped   int64 `json:"misses_stripped"`    // search-miss texts (counts stay)
	OutboxStripped   int64 `json:"outbox_stripped"`    // payloads of sent or cancelled outbox messages
	AuditEntriesKept int64 `json:"audit_entries_kept"` // the audit log is never pruned
}

// RetentionJob names the daily retention pass among the scheduled jobs.
const RetentionJob = "retention"

// ApplyRetention deletes or strips personal data older than cutoff:
// inbound texts, citizens' sessions, personal fields of dossier event
// payloads, search-miss texts and the payloads of sent outbox messages.
// Aggregates (ratings, counts, sync runs) and the audit log stay.
func (db *DB) ApplyRetention(ctx context.Context, cutoff time.Time) (Retention, error) {
	var r Retention
	cutoff = cutoff.UTC()
	now := db.utcNow()
	exec := func(dst *int64, what, query string, args ...any) error {
		res, err := db.bun.ExecContext(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("retention, %s: %w", what, err)
		}
		*dst, _ = res.RowsAffected()
		return nil
	}
	steps := []func() error{
		func() error {
			// A message still being answered keeps its text unless its claim
			// is older than the cutoff too (a crash long ago).
			return exec(&r.InboundStripped, "inbound texts", `UPDATE inbound SET text = '', payload = NULL, reply = NULL
				WHERE received_at < ? AND (state <> 'processing' OR claimed_at < ?)
				AND (text <> '' OR payload IS NOT NULL OR reply IS NOT NULL)`, cutoff, cutoff)
		},
		func() error {
			return exec(&r.SessionsDeleted, "sessions", `DELETE FROM sessions WHERE updated_at < ?`, cutoff)
		},
		func() error {
			return exec(&r.ConsoleSessions, "console sessions", `DELETE FROM console_sessions WHERE expires_at < ? OR created_at < ?`, now, cutoff)
		},
		func() error {
			limit := now.Add(-24 * time.Hour)
			if cutoff.After(limit) {
				limit = cutoff
			}
			return exec(&r.SignInsDeleted, "sign-in attempts", `DELETE FROM console_signins WHERE created_at < ?`, limit)
		},
		func() error {
			return exec(&r.MissesStripped, "search misses", `UPDATE search_misses SET query = '' WHERE last_seen < ? AND query <> ''`, cutoff)
		},
		func() error {
			empty := "'{}'"
			if db.dialect == Postgres {
				empty = "'{}'::jsonb"
			}
			return exec(&r.OutboxStripped, "outbox payloads", `UPDATE outbox SET payload = `+empty+`
				WHERE state IN ('sent', 'cancelled') AND COALESCE(sent_at, created_at) < ? AND payload <> `+empty, cutoff)
		},
		func() error {
			n, err := db.redactEvents(ctx, cutoff)
			r.EventsRedacted = n
			return err
		},
		func() error {
			n, err := db.bun.NewSelect().Table("audit_log").Count(ctx)
			r.AuditEntriesKept = int64(n)
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return r, err
		}
	}
	return r, nil
}

type eventPayloadRow struct {
	bun.BaseModel `bun:"table:dossier_events,alias:de"`

	ID       int64  `bun:"id,pk"`
	Payload  string `bun:"payload"`
	Redacted bool   `bun:"redacted"`
}

// redactEvents strips the personal fields from the payloads of dossier
// events received before cutoff, in batches.
func (db *DB) redactEvents(ctx context.Context, cutoff time.Time) (int64, error) {
	var total int64
	for {
		var rows []eventPayloadRow
		if err := db.bun.NewSelect().Model(&rows).Column("id", "payload").
			Where("received_at < ? AND redacted = ?", cutoff, false).OrderExpr("id").Limit(500).Scan(ctx); err != nil {
			return total, fmt.Errorf("retention, event payloads: %w", err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		err := db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			for _, r := range rows {
				_, err := tx.NewUpdate().Model((*eventPayloadRow)(nil)).Set("payload = ?", RedactPayload(r.Payload)).
					Set("redacted = ?", true).Where("id = ?", r.ID).Exec(ctx)
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("retention, event payloads: %w", err)
		}
		total += int64(len(rows))
	}
}

// personalKeys are the parts of a JSON key that mark a personal field.
var personalKeys = []string{"applicant", "filer", "phone", "email", "address", "birth", "id_number", "identity",
	"cccd", "cmnd", "dinh_danh", "ho_ten", "nguoi_nop", "dia_chi", "so_dien_thoai", "ngay_sinh"}

// RedactPayload removes personal fields from a JSON document, at any depth;
// text that is not JSON is dropped whole.
func RedactPayload(payload string) string {
	var v any
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		return "{}"
	}
	b, _ := json.Marshal(redact(v))
	return string(b)
}

func redact(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, val := range t {
			lk := strings.ToLower(k)
			personal := false
			for _, p := range personalKeys {
				if strings.Contains(lk, p) {
					personal = true
					break
				}
			}
			if personal {
				delete(t, k)
				continue
			}
			t[k] = redact(val)
		}
		return t
	case []any:
		for i := range t {
			t[i] = redact(t[i])
		}
		return t
	}
	return v
}

// ClaimJob reports whether this process should run a job now: at most
// once per every across all replicas (the row's time moves atomically).
func (db *DB) ClaimJob(ctx context.Context, name string, every time.Duration) (bool, error) {
	now := db.utcNow()
	if _, err := db.bun.ExecContext(ctx, `INSERT INTO job_runs (name, last_run_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
		name, now.Add(-every-time.Minute)); err != nil {
		return false, fmt.Errorf("claiming job %s: %w", name, err)
	}
	res, err := db.bun.ExecContext(ctx, `UPDATE job_runs SET last_run_at = ? WHERE name = ? AND last_run_at <= ?`, now, name, now.Add(-every))
	if err != nil {
		return false, fmt.Errorf("claiming job %s: %w", name, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}
