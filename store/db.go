// Package store keeps everything dvcbot persists, through bun, on Postgres
// (production) or an embedded SQLite file (the zero-config default): one
// ordered list of migrations, models, and repositories that implement the
// interfaces the core declares.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" driver (pure Go: static binaries)
)

// Dialect names the database behind a DB.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DB is the project's database handle.
type DB struct {
	bun     *bun.DB
	dialect Dialect
	now     func() time.Time
	syncMu  sync.Mutex   // the sync lock on SQLite (one process)
	notices *NoticeStore // set by EnableNotices: Dossiers() queues notices
	stmts   sync.Map     // name → SQL text of hot-path statements
	hot     *hotPath     // the batched claim and completion (Postgres)
}

// IsPostgresURL reports whether a DVCBOT_DATABASE_URL names Postgres rather
// than a SQLite file.
func IsPostgresURL(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// Open connects to url: a postgres:// URL, or a SQLite file path (its folder
// is created). It does not migrate.
func Open(ctx context.Context, url string) (*DB, error) {
	var db *DB
	if IsPostgresURL(url) {
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			return nil, fmt.Errorf("DVCBOT_DATABASE_URL: %w", err)
		}
		// bun writes the arguments into the SQL text, so every statement is
		// new: the simple protocol saves pgx a prepare round trip per query.
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		sqldb := stdlib.OpenDB(*cfg)
		sqldb.SetMaxOpenConns(32)
		sqldb.SetMaxIdleConns(32)
		sqldb.SetConnMaxIdleTime(5 * time.Minute)
		db = &DB{bun: bun.NewDB(sqldb, pgdialect.New()), dialect: Postgres}
		db.hot = newHotPath(db, openHotPool(cfg))
	} else {
		path := strings.TrimPrefix(url, "sqlite://")
		path = strings.TrimPrefix(path, "file:")
		if path == "" {
			return nil, fmt.Errorf("empty SQLite path")
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("creating the folder of %s: %w", path, err)
			}
		}
		// WAL lets readers run beside the writer; immediate transactions and a
		// busy timeout make concurrent writers queue instead of failing.
		// The path goes into a file: URI: escape what a URI would read.
		escaped := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(path)
		dsn := "file:" + escaped + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
			"&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		sqldb, err := sql.Open("sqlite", dsn)
		if err != nil {
			return nil, fmt.Errorf("opening sqlite %s: %w", path, err)
		}
		sqldb.SetMaxOpenConns(4)
		db = &DB{bun: bun.NewDB(sqldb, sqlitedialect.New()), dialect: SQLite}
	}
	db.now = time.Now
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openHotPool opens the connections of the batched hot-path statements
// (hotpath.go). Those are written as index look-ups per row, and these
// connections keep them so: each plan is made once per connection
// (generic), and the planner may not trade the look-ups for scans of
// inbound or sessions, which it otherwise does while their statistics are
// those of a smaller table (seen on a fresh database: a hash join over a
// sequential scan of every inbound row, per batch). Planning anew per
// execution would also cost more than running: the batch's array length
// makes every custom plan look cheaper than the generic one.
func openHotPool(cfg *pgx.ConnConfig) *sql.DB {
	hc := cfg.Copy()
	for k, v := range map[string]string{"plan_cache_mode": "force_generic_plan",
		"enable_seqscan": "off", "enable_hashjoin": "off", "enable_mergejoin": "off"} {
		hc.RuntimeParams[k] = v
	}
	hot := stdlib.OpenDB(*hc)
	hot.SetMaxOpenConns(2 * hotWorkers)
	hot.SetMaxIdleConns(2 * hotWorkers)
	hot.SetConnMaxIdleTime(5 * time.Minute)
	return hot
}

// Dialect reports which database this is.
func (db *DB) Dialect() Dialect { return db.dialect }

// Bun exposes the bun handle to the store's own packages and tests.
func (db *DB) Bun() *bun.DB { return db.bun }

// SetClock replaces time.Now for the store's bookkeeping times (tests).
func (db *DB) SetClock(now func() time.Time) { db.now = now }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.bun.PingContext(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	return nil
}

// Close closes the pool.
func (db *DB) Close() error {
	err := db.hot.close()
	return errors.Join(err, db.bun.Close())
}

func (db *DB) utcNow() time.Time { return db.now().UTC() }

// prepared returns the arguments of a hand-written hot-path statement
// ($1, $2… placeholders, run on the *sql.DB or *sql.Tx directly). On
// Postgres it asks pgx to prepare the statement once per connection and
// reuse its plan: bun writes arguments into the SQL text, so each of its
// statements is parsed and planned anew.
func (db *DB) prepared(args ...any) []any {
	if db.dialect == Postgres {
		return append([]any{pgx.QueryExecModeCacheStatement}, args...)
	}
	return args
}

// ts is a time argument of a hand-written statement, stored the way bun
// stores it (on SQLite a text that sorts in time order).
func (db *DB) ts(t time.Time) any {
	if db.dialect == SQLite {
		return t.UTC().Format("2006-01-02 15:04:05.999999-07:00")
	}
	return t.UTC()
}

// stmt returns the SQL text of a hot-path statement, built once by build
// (typically bun's query builder with $1… placeholders, which bun leaves
// alone) and then reused, so that pgx can prepare it once per connection.
func (db *DB) stmt(name string, build func() string) string {
	if q, ok := db.stmts.Load(name); ok {
		return q.(string)
	}
	q := build()
	db.stmts.Store(name, q)
	return q
}

// getOne runs a prepared hot-path query and scans its single row into dst
// (a bun model); no row is sql.ErrNoRows.
func (db *DB) getOne(ctx context.Context, query string, dst any, args ...any) error {
	rows, err := db.bun.DB.QueryContext(ctx, query, db.prepared(args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	return db.bun.ScanRow(ctx, rows, dst)
}
