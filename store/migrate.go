package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/uptrace/bun"
)

// migration is one schema step. Its SQL is written once for both databases;
// {{pk}}, {{ts}} and {{json}} become the dialect's types.
type migration struct {
	name string
	sql  string
}

// migrations is the one ordered list. Never edit or reorder a released
// entry: append a new one.
var migrations = []migration{
	{"catalogue", `
CREATE TABLE procedures (
	code TEXT PRIMARY KEY,
	system_id BIGINT,
	name TEXT NOT NULL,
	kind TEXT NOT NULL DEFAULT '',
	field TEXT NOT NULL DEFAULT '',
	level TEXT NOT NULL DEFAULT '',
	steps TEXT NOT NULL DEFAULT '',
	channels TEXT NOT NULL DEFAULT '',
	documents {{json}},
	forms {{json}},
	fee TEXT NOT NULL DEFAULT '',
	charge TEXT NOT NULL DEFAULT '',
	time_limit TEXT NOT NULL DEFAULT '',
	applicants TEXT NOT NULL DEFAULT '',
	agency TEXT NOT NULL DEFAULT '',
	authority TEXT NOT NULL DEFAULT '',
	address TEXT NOT NULL DEFAULT '',
	result TEXT NOT NULL DEFAULT '',
	legal_bases {{json}},
	requirements TEXT NOT NULL DEFAULT '',
	online_level TEXT NOT NULL DEFAULT '',
	status TEXT NOT NULL,
	content_hash TEXT NOT NULL,
	version INTEGER NOT NULL,
	source TEXT NOT NULL DEFAULT '',
	upstream_updated_at {{ts}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	cancelled_at {{ts}}
);
CREATE INDEX procedures_status_idx ON procedures (status);
CREATE INDEX procedures_system_id_idx ON procedures (system_id);
CREATE TABLE procedure_versions (
	id {{pk}},
	procedure_code TEXT NOT NULL,
	version INTEGER NOT NULL,
	status TEXT NOT NULL,
	content_hash TEXT NOT NULL,
	change_kind TEXT NOT NULL,
	changed_fields {{json}},
	data {{json}} NOT NULL,
	source TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	UNIQUE (procedure_code, version)
);`},
	{"dossiers", `
CREATE TABLE dossiers (
	code TEXT PRIMARY KEY,
	procedure_code TEXT NOT NULL,
	procedure_name TEXT NOT NULL,
	agency TEXT NOT NULL,
	applicant_name TEXT NOT NULL DEFAULT '',
	applicant_phone TEXT NOT NULL DEFAULT '',
	submitted_via TEXT NOT NULL DEFAULT '',
	received_at {{ts}},
	due_at {{ts}},
	finished_at {{ts}},
	returned_at {{ts}},
	officer TEXT NOT NULL DEFAULT '',
	status INTEGER NOT NULL,
	note TEXT NOT NULL DEFAULT '',
	status_at {{ts}} NOT NULL,
	last_event_id TEXT NOT NULL,
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL
);
CREATE INDEX dossiers_applicant_phone_idx ON dossiers (applicant_phone);
CREATE TABLE dossier_events (
	id {{pk}},
	event_id TEXT NOT NULL UNIQUE,
	dossier_code TEXT NOT NULL,
	status INTEGER NOT NULL,
	note TEXT NOT NULL DEFAULT '',
	occurred_at {{ts}} NOT NULL,
	result TEXT NOT NULL,
	payload TEXT NOT NULL,
	received_at {{ts}} NOT NULL
);
CREATE INDEX dossier_events_dossier_idx ON dossier_events (dossier_code, occurred_at);`},
	{"ratings", `
CREATE TABLE ratings (
	dossier_code TEXT PRIMARY KEY,
	level TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	criteria {{json}},
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	raw_text TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL
);
CREATE TABLE rating_audit (
	id {{pk}},
	dossier_code TEXT NOT NULL,
	level TEXT NOT NULL,
	reason TEXT NOT NULL DEFAULT '',
	criteria {{json}},
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	raw_text TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL
);
CREATE INDEX rating_audit_dossier_idx ON rating_audit (dossier_code, created_at);`},
	{"conversations", `
CREATE TABLE sessions (
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	lang TEXT NOT NULL DEFAULT '',
	state {{json}},
	state_expires_at {{ts}},
	rate_window_start {{ts}},
	rate_count INTEGER NOT NULL DEFAULT 0,
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	PRIMARY KEY (channel, user_id)
);
CREATE TABLE inbound_messages (
	channel TEXT NOT NULL,
	message_id TEXT NOT NULL,
	user_id TEXT NOT NULL,
	text TEXT NOT NULL DEFAULT '',
	payload {{json}},
	state TEXT NOT NULL,
	reply {{json}},
	attempts INTEGER NOT NULL DEFAULT 0,
	received_at {{ts}} NOT NULL,
	processed_at {{ts}},
	PRIMARY KEY (channel, message_id)
);
CREATE INDEX inbound_messages_state_idx ON inbound_messages (state, received_at);`},
	{"outbox", `
CREATE TABLE outbox (
	id {{pk}},
	kind TEXT NOT NULL,
	recipient TEXT NOT NULL,
	payload {{json}} NOT NULL,
	dedupe_key TEXT NOT NULL UNIQUE,
	state TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	next_attempt_at {{ts}} NOT NULL,
	locked_until {{ts}},
	last_error TEXT NOT NULL DEFAULT '',
	provider_ref TEXT NOT NULL DEFAULT '',
	delivery_status TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	sent_at {{ts}}
);
CREATE INDEX outbox_due_idx ON outbox (state, next_attempt_at);`},
	{"sync", `
CREATE TABLE sync_runs (
	id {{pk}},
	started_at {{ts}} NOT NULL,
	finished_at {{ts}},
	window_start {{ts}} NOT NULL,
	window_end {{ts}} NOT NULL,
	state TEXT NOT NULL,
	fetched INTEGER NOT NULL DEFAULT 0,
	created INTEGER NOT NULL DEFAULT 0,
	modified INTEGER NOT NULL DEFAULT 0,
	cancelled INTEGER NOT NULL DEFAULT 0,
	error TEXT NOT NULL DEFAULT ''
);
CREATE TABLE sync_checkpoints (
	name TEXT PRIMARY KEY,
	position {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL
);
CREATE TABLE channel_credentials (
	name TEXT PRIMARY KEY,
	access_token TEXT NOT NULL DEFAULT '',
	refresh_token TEXT NOT NULL DEFAULT '',
	expires_at {{ts}},
	version INTEGER NOT NULL DEFAULT 0,
	updated_at {{ts}} NOT NULL
);`},
	{"catalogue version", `
CREATE TABLE catalog_state (
	id INTEGER PRIMARY KEY,
	version BIGINT NOT NULL,
	updated_at {{ts}}
);
INSERT INTO catalog_state (id, version) VALUES (1, 0)`},
	{"sms opt-outs", `
CREATE TABLE sms_optouts (
	phone TEXT PRIMARY KEY,
	created_at {{ts}} NOT NULL
)`},
	{"change alerts", `
ALTER TABLE procedure_versions ADD COLUMN alerted BOOLEAN NOT NULL DEFAULT TRUE;
CREATE INDEX procedure_versions_unalerted_idx ON procedure_versions (alerted, id);
ALTER TABLE sync_runs ADD COLUMN restored INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sync_runs ADD COLUMN alerts INTEGER NOT NULL DEFAULT 0;
CREATE TABLE alert_subscriptions (
	id {{pk}},
	kind TEXT NOT NULL,
	recipient TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	UNIQUE (kind, recipient)
)`},
	{"officers", `
CREATE TABLE officers (
	id {{pk}},
	name TEXT NOT NULL,
	email TEXT NOT NULL DEFAULT '',
	invite_code TEXT UNIQUE,
	invite_expires_at {{ts}},
	telegram_chat_id BIGINT UNIQUE,
	created_at {{ts}} NOT NULL,
	linked_at {{ts}}
)`},
	{"verification attempts and session versions", `
ALTER TABLE sessions ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
ALTER TABLE sessions ADD COLUMN ticket_hash TEXT;
ALTER TABLE sessions ADD COLUMN ticket_expires_at {{ts}};
-- partial: only rotated web-chat sessions carry a ticket
CREATE UNIQUE INDEX sessions_ticket_idx ON sessions (ticket_hash) WHERE ticket_hash IS NOT NULL;
CREATE TABLE verify_attempts (
	id {{pk}},
	attempt_key TEXT NOT NULL UNIQUE,
	dossier_code TEXT NOT NULL,
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	source TEXT NOT NULL DEFAULT '',
	checked BOOLEAN NOT NULL DEFAULT FALSE,
	verdict INTEGER NOT NULL DEFAULT 0,
	checks_left INTEGER NOT NULL DEFAULT 0,
	failed BOOLEAN NOT NULL DEFAULT TRUE,
	created_at {{ts}} NOT NULL
);
CREATE INDEX verify_attempts_dossier_idx ON verify_attempts (dossier_code, created_at);
CREATE INDEX verify_attempts_source_idx ON verify_attempts (source, created_at);
CREATE INDEX verify_attempts_user_idx ON verify_attempts (channel, user_id, created_at)`},
	{"inbound keyed by sender", `
CREATE TABLE inbound (
	channel TEXT NOT NULL,
	message_id TEXT NOT NULL,
	sender TEXT NOT NULL,
	text TEXT NOT NULL DEFAULT '',
	payload TEXT,
	state TEXT NOT NULL,
	reply TEXT,
	sent BOOLEAN NOT NULL DEFAULT FALSE,
	attempts INTEGER NOT NULL DEFAULT 1,
	received_at {{ts}} NOT NULL,
	claimed_at {{ts}} NOT NULL,
	processed_at {{ts}},
	PRIMARY KEY (channel, message_id, sender)
);
-- partial: a completed message leaves it, so completing adds no entry here
CREATE INDEX inbound_processing_idx ON inbound (claimed_at) WHERE state = 'processing';
INSERT INTO inbound (channel, message_id, sender, text, payload, state, reply, attempts, received_at, claimed_at, processed_at)
	SELECT channel, message_id, user_id, text, CAST(payload AS TEXT), state, CAST(reply AS TEXT), attempts, received_at, received_at, processed_at
	FROM inbound_messages;
DROP TABLE inbound_messages`},
	{"dossier arrival order", `
ALTER TABLE dossiers ADD COLUMN status_seq BIGINT NOT NULL DEFAULT 0;
UPDATE dossiers SET status_seq = COALESCE((SELECT e.id FROM dossier_events e WHERE e.event_id = dossiers.last_event_id), 0)`},
	{"outbox leases and delivery receipts", `
ALTER TABLE outbox ADD COLUMN lease_token TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN inflight_at {{ts}};
CREATE TABLE outbox_receipts (
	id {{pk}},
	outbox_id BIGINT NOT NULL,
	status TEXT NOT NULL,
	applied BOOLEAN NOT NULL,
	received_at {{ts}} NOT NULL
);
CREATE INDEX outbox_receipts_outbox_idx ON outbox_receipts (outbox_id, id)`},
	{"proactive notices", `
CREATE TABLE notices (
	outbox_id BIGINT PRIMARY KEY,
	dossier_code TEXT NOT NULL,
	kind TEXT NOT NULL,
	status INTEGER NOT NULL,
	due_date TEXT NOT NULL DEFAULT '',
	outbox_kind TEXT NOT NULL,
	recipient TEXT NOT NULL,
	identity TEXT NOT NULL DEFAULT '',
	lane TEXT NOT NULL,
	state TEXT NOT NULL,
	event_at {{ts}} NOT NULL,
	queued_at {{ts}} NOT NULL,
	held_until {{ts}},
	fallback_phone TEXT NOT NULL DEFAULT '',
	fallback_text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX notices_dossier_idx ON notices (dossier_code, lane, event_at);
CREATE TABLE notice_subscriptions (
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	dossier_code TEXT NOT NULL,
	phone TEXT NOT NULL DEFAULT '',
	active BOOLEAN NOT NULL,
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL,
	PRIMARY KEY (channel, user_id, dossier_code)
);
CREATE INDEX notice_subscriptions_dossier_idx ON notice_subscriptions (dossier_code);
CREATE INDEX notice_subscriptions_phone_idx ON notice_subscriptions (phone);
CREATE TABLE notice_optouts (
	identity TEXT PRIMARY KEY,
	created_at {{ts}} NOT NULL
);
INSERT INTO notice_optouts (identity, created_at) SELECT 'sms:' || phone, created_at FROM sms_optouts;
CREATE TABLE notice_audit (
	id {{pk}},
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	action TEXT NOT NULL,
	dossier_code TEXT NOT NULL DEFAULT '',
	detail TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL
);
CREATE INDEX notice_audit_user_idx ON notice_audit (channel, user_id, created_at);
CREATE TABLE notice_pace (
	name TEXT PRIMARY KEY,
	next_us BIGINT NOT NULL
);
ALTER TABLE dossiers ADD COLUMN applicant_email TEXT NOT NULL DEFAULT '';
CREATE INDEX dossiers_overdue_idx ON dossiers (status, due_at);
CREATE INDEX inbound_sender_idx ON inbound (channel, sender, received_at)`},
	{"console: accounts, sessions, API keys, audit log, search tuning, retention", `
CREATE TABLE console_accounts (
	id {{pk}},
	email TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL DEFAULT '',
	role TEXT NOT NULL,
	agency TEXT NOT NULL DEFAULT '',
	password_hash TEXT NOT NULL,
	closed_at {{ts}},
	failed_signins INTEGER NOT NULL DEFAULT 0,
	locked_until {{ts}},
	last_signin_at {{ts}},
	created_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL
);
CREATE TABLE console_sessions (
	token_hash TEXT PRIMARY KEY,
	account_id BIGINT NOT NULL,
	ip TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	expires_at {{ts}} NOT NULL
);
CREATE INDEX console_sessions_account_idx ON console_sessions (account_id);
CREATE INDEX console_sessions_expires_idx ON console_sessions (expires_at);
CREATE TABLE console_api_keys (
	id {{pk}},
	name TEXT NOT NULL,
	role TEXT NOT NULL,
	agency TEXT NOT NULL DEFAULT '',
	prefix TEXT NOT NULL,
	key_hash TEXT NOT NULL UNIQUE,
	created_at {{ts}} NOT NULL,
	revoked_at {{ts}},
	last_used_at {{ts}}
);
CREATE TABLE console_signins (
	id {{pk}},
	ip TEXT NOT NULL,
	ok BOOLEAN NOT NULL,
	created_at {{ts}} NOT NULL
);
CREATE INDEX console_signins_ip_idx ON console_signins (ip, created_at);
CREATE TABLE audit_log (
	id {{pk}},
	at {{ts}} NOT NULL,
	actor TEXT NOT NULL,
	role TEXT NOT NULL DEFAULT '',
	source TEXT NOT NULL DEFAULT '',
	action TEXT NOT NULL,
	target TEXT NOT NULL DEFAULT '',
	before_value TEXT NOT NULL DEFAULT '',
	after_value TEXT NOT NULL DEFAULT '',
	channel TEXT NOT NULL DEFAULT '',
	user_hash TEXT NOT NULL DEFAULT '',
	dossier_code TEXT NOT NULL DEFAULT '',
	agency TEXT NOT NULL DEFAULT '',
	tier INTEGER
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_dossier_idx ON audit_log (dossier_code, at);
CREATE INDEX audit_log_action_idx ON audit_log (action, at);
CREATE TABLE search_misses (
	query_key TEXT PRIMARY KEY,
	query TEXT NOT NULL DEFAULT '',
	kind TEXT NOT NULL,
	count INTEGER NOT NULL DEFAULT 0,
	first_seen {{ts}} NOT NULL,
	last_seen {{ts}} NOT NULL
);
CREATE INDEX search_misses_seen_idx ON search_misses (last_seen);
CREATE TABLE search_overrides (
	id {{pk}},
	kind TEXT NOT NULL,
	term TEXT NOT NULL,
	replacement TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL DEFAULT '',
	created_at {{ts}} NOT NULL,
	UNIQUE (kind, term)
);
CREATE TABLE search_overrides_state (
	id INTEGER PRIMARY KEY,
	version BIGINT NOT NULL
);
INSERT INTO search_overrides_state (id, version) VALUES (1, 0);
CREATE TABLE job_runs (
	name TEXT PRIMARY KEY,
	last_run_at {{ts}} NOT NULL
);
ALTER TABLE officers ADD COLUMN agency TEXT NOT NULL DEFAULT '';
ALTER TABLE dossier_events ADD COLUMN redacted BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX outbox_created_idx ON outbox (state, id)`},
	{"look-up links", `
CREATE TABLE lookup_links (
	token TEXT PRIMARY KEY,
	dossier_code TEXT NOT NULL,
	created_at {{ts}} NOT NULL
);
CREATE INDEX lookup_links_dossier_idx ON lookup_links (dossier_code);
CREATE TABLE lookup_secret (
	id INTEGER PRIMARY KEY,
	secret TEXT NOT NULL,
	created_at {{ts}} NOT NULL
)`},
	{"satisfaction reports: rating facts, daily roll-ups, change sequence", `
CREATE TABLE rating_seq (
	id INTEGER PRIMARY KEY,
	value BIGINT NOT NULL
);
INSERT INTO rating_seq (id, value) VALUES (1, 0);
CREATE TABLE rating_facts (
	dossier_code TEXT PRIMARY KEY,
	seq BIGINT NOT NULL,
	day INTEGER NOT NULL,
	level INTEGER NOT NULL,
	channel TEXT NOT NULL,
	agency TEXT NOT NULL,
	procedure_code TEXT NOT NULL,
	procedure_name TEXT NOT NULL DEFAULT '',
	field TEXT NOT NULL DEFAULT '',
	officer TEXT NOT NULL DEFAULT '',
	reason TEXT NOT NULL DEFAULT '',
	criteria {{json}},
	rated_at {{ts}} NOT NULL,
	updated_at {{ts}} NOT NULL
);
CREATE UNIQUE INDEX rating_facts_seq_idx ON rating_facts (seq);
CREATE INDEX rating_facts_rated_idx ON rating_facts (rated_at);
CREATE INDEX rating_facts_agency_idx ON rating_facts (agency, rated_at);
CREATE INDEX rating_facts_agency_level_idx ON rating_facts (agency, level, rated_at);
CREATE INDEX rating_facts_procedure_idx ON rating_facts (procedure_code, rated_at);
CREATE INDEX rating_facts_officer_idx ON rating_facts (officer, rated_at);
CREATE INDEX rating_facts_level_idx ON rating_facts (level, rated_at);
CREATE TABLE rating_rollup (
	dim TEXT NOT NULL,
	day INTEGER NOT NULL,
	channel TEXT NOT NULL,
	agency TEXT NOT NULL,
	gkey TEXT NOT NULL,
	label TEXT NOT NULL DEFAULT '',
	n1 BIGINT NOT NULL DEFAULT 0,
	n2 BIGINT NOT NULL DEFAULT 0,
	n3 BIGINT NOT NULL DEFAULT 0,
	s0 BIGINT NOT NULL DEFAULT 0,
	s1 BIGINT NOT NULL DEFAULT 0,
	s2 BIGINT NOT NULL DEFAULT 0,
	s3 BIGINT NOT NULL DEFAULT 0,
	s4 BIGINT NOT NULL DEFAULT 0,
	s5 BIGINT NOT NULL DEFAULT 0,
	s6 BIGINT NOT NULL DEFAULT 0,
	s7 BIGINT NOT NULL DEFAULT 0,
	s8 BIGINT NOT NULL DEFAULT 0,
	k0 BIGINT NOT NULL DEFAULT 0,
	k1 BIGINT NOT NULL DEFAULT 0,
	k2 BIGINT NOT NULL DEFAULT 0,
	k3 BIGINT NOT NULL DEFAULT 0,
	k4 BIGINT NOT NULL DEFAULT 0,
	k5 BIGINT NOT NULL DEFAULT 0,
	k6 BIGINT NOT NULL DEFAULT 0,
	k7 BIGINT NOT NULL DEFAULT 0,
	k8 BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (dim, day, channel, agency, gkey)
);
CREATE INDEX rating_rollup_agency_idx ON rating_rollup (dim, agency, day);
CREATE INDEX rating_rollup_key_idx ON rating_rollup (dim, gkey, day)`},
	{"hand-off tickets, officers' entries, Zalo pauses", `
CREATE TABLE tickets (
	number {{pk}},
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	address TEXT NOT NULL DEFAULT '',
	phone TEXT NOT NULL DEFAULT '',
	lang TEXT NOT NULL DEFAULT '',
	kind TEXT NOT NULL,
	state TEXT NOT NULL,
	agency TEXT NOT NULL DEFAULT '',
	dossier_code TEXT NOT NULL DEFAULT '',
	procedure_code TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL DEFAULT '',
	assignee_id BIGINT NOT NULL DEFAULT 0,
	assignee_name TEXT NOT NULL DEFAULT '',
	opened_at {{ts}} NOT NULL,
	first_answer_at {{ts}},
	last_citizen_at {{ts}} NOT NULL,
	last_activity_at {{ts}} NOT NULL,
	closed_at {{ts}},
	closed_by TEXT NOT NULL DEFAULT '',
	rating INTEGER NOT NULL DEFAULT 0,
	updated_at {{ts}} NOT NULL,
	version BIGINT NOT NULL DEFAULT 1
);
CREATE UNIQUE INDEX tickets_one_open_idx ON tickets (channel, user_id) WHERE state = 'open';
CREATE INDEX tickets_user_idx ON tickets (channel, user_id, closed_at);
CREATE INDEX tickets_updated_idx ON tickets (updated_at);
CREATE INDEX tickets_agency_idx ON tickets (agency, state, last_activity_at);
CREATE INDEX tickets_opened_idx ON tickets (opened_at);
CREATE TABLE ticket_entries (
	id {{pk}},
	ticket_number BIGINT NOT NULL,
	created_at {{ts}} NOT NULL,
	author TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	text TEXT NOT NULL DEFAULT ''
);
CREATE INDEX ticket_entries_ticket_idx ON ticket_entries (ticket_number, id);
CREATE TABLE human_pauses (
	channel TEXT NOT NULL,
	user_id TEXT NOT NULL,
	paused_until {{ts}} NOT NULL,
	PRIMARY KEY (channel, user_id)
)`}, // inbound (sender, channel, received_at) is indexed by "proactive notices" and the next
	// The sender's index must not serve a look-up by channel alone: without
	// planner statistics (a new table, autovacuum off) Postgres may pick it
	// over the primary key for "this id from another sender", a range over
	// every message of the channel. Sender first, it serves the same
	// queries (sender and channel known) and nothing else.
	{"inbound sender index led by the sender", `
DROP INDEX inbound_sender_idx;
CREATE INDEX inbound_sender_idx ON inbound (sender, channel, received_at)`},
	// Listed procedures the portal would not serve (unknown, or unusable):
	// shown to operators and fetched again by the following syncs, since
	// the checkpoint moves past them.
	{"sync: skipped upstream records", `
ALTER TABLE sync_runs ADD COLUMN skipped INTEGER NOT NULL DEFAULT 0;
CREATE TABLE sync_skipped (
	system_id BIGINT PRIMARY KEY,
	reason TEXT NOT NULL,
	error TEXT NOT NULL DEFAULT '',
	attempts INTEGER NOT NULL DEFAULT 1,
	first_run BIGINT NOT NULL,
	last_run BIGINT NOT NULL,
	first_seen {{ts}} NOT NULL,
	last_seen {{ts}} NOT NULL
)`},
	// The audit log is evidence (seed 004: who read shared data): the
	// database itself refuses to change or remove an entry, whoever asks.
	{"audit log append-only", `{{append_only audit_log}}`},
}

func (db *DB) render(sqlText string) string {
	r := strings.NewReplacer("{{pk}}", "BIGSERIAL PRIMARY KEY", "{{ts}}", "TIMESTAMPTZ", "{{json}}", "JSONB",
		"{{append_only audit_log}}", appendOnlyPG("audit_log"))
	if db.dialect == SQLite {
		r = strings.NewReplacer("{{pk}}", "INTEGER PRIMARY KEY AUTOINCREMENT", "{{ts}}", "TIMESTAMP", "{{json}}", "TEXT",
			"{{append_only audit_log}}", appendOnlySQLite("audit_log"))
	}
	return r.Replace(sqlText)
}

// appendOnlyPG and appendOnlySQLite make table refuse UPDATE, DELETE (and
// on Postgres TRUNCATE). Bodies hold semicolons, so they stay on one line:
// statements are split at a semicolon that ends a line.
func appendOnlyPG(table string) string {
	return `CREATE OR REPLACE FUNCTION dvcbot_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege'; END $$;
CREATE TRIGGER ` + table + `_append_only BEFORE UPDATE OR DELETE ON ` + table + ` FOR EACH ROW EXECUTE FUNCTION dvcbot_append_only();
CREATE TRIGGER ` + table + `_no_truncate BEFORE TRUNCATE ON ` + table + ` FOR EACH STATEMENT EXECUTE FUNCTION dvcbot_append_only()`
}

func appendOnlySQLite(table string) string {
	return `CREATE TRIGGER ` + table + `_no_update BEFORE UPDATE ON ` + table + ` BEGIN SELECT RAISE(ABORT, '` + table + ` is append-only: UPDATE refused'); END;
CREATE TRIGGER ` + table + `_no_delete BEFORE DELETE ON ` + table + ` BEGIN SELECT RAISE(ABORT, '` + table + ` is append-only: DELETE refused'); END`
}

// migrationLockID is the Postgres advisory lock that serialises migrations
// of replicas starting together.
const migrationLockID = 0x64766362_01 // "dvcb" 1

// Migrate applies every pending migration, each in its own transaction, and
// returns how many it applied.
func (db *DB) Migrate(ctx context.Context) (int, error) {
	err := db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := db.migrationLock(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at `+db.render("{{ts}}")+` NOT NULL)`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("creating schema_migrations: %w", err)
	}
	applied := 0
	for i, m := range migrations {
		version := i + 1
		err := db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if err := db.migrationLock(ctx, tx); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ?", version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return errAlreadyApplied
			}
			for _, stmt := range splitStatements(db.render(m.sql)) {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("%w\n%s", err, stmt)
				}
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)", version, m.name, db.utcNow())
			return err
		})
		if errors.Is(err, errAlreadyApplied) {
			continue
		}
		if err != nil {
			return applied, fmt.Errorf("migration %d (%s): %w", version, m.name, err)
		}
		applied++
	}
	return applied, nil
}

// migrationLock serialises migrating replicas on Postgres; SQLite's
// immediate transactions already do.
func (db *DB) migrationLock(ctx context.Context, tx bun.Tx) error {
	if db.dialect != Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", migrationLockID)
	return err
}

var errAlreadyApplied = errors.New("already applied")

func splitStatements(s string) []string {
	var out []string
	for _, stmt := range strings.Split(strings.TrimSuffix(strings.TrimSpace(s), ";")+"\n", ";\n") {
		if stmt = strings.TrimSpace(stmt); stmt != "" {
			out = append(out, stmt)
		}
	}
	return out
}

// PendingMigrations counts migrations not applied yet (readiness).
func (db *DB) PendingMigrations(ctx context.Context) (int, error) {
	var n int
	err := db.bun.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n)
	if err != nil {
		if isMissingTable(err) {
			return len(migrations), nil
		}
		return 0, fmt.Errorf("reading schema_migrations: %w", err)
	}
	return len(migrations) - n, nil
}

func isMissingTable(err error) bool {
	if errors.Is(err, sql.ErrNoRows) {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "no such table") || strings.Contains(msg, "does not exist")
}
