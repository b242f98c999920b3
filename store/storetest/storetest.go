// Package storetest gives tests a fresh, migrated database on each backend:
// a SQLite file in a temp folder, and a private schema on a real Postgres.
// Postgres comes from DVCBOT_TEST_DATABASE_URL, else the local default; when
// neither answers the test fails: Postgres tests are never skipped.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/store"
)

// DefaultPostgresURL is used when DVCBOT_TEST_DATABASE_URL is unset.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// PostgresURL is the server tests run against.
func PostgresURL() string {
	if u := os.Getenv("DVCBOT_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return DefaultPostgresURL
}

// SQLite returns a migrated database in a fresh file.
func SQLite(t testing.TB) *store.DB {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "dvcbot.db"))
}

// SQLiteURL returns a path for a database the caller opens itself.
func SQLiteURL(t testing.TB) string {
	return filepath.Join(t.TempDir(), "dvcbot.db")
}

// Postgres returns a migrated database in a new schema, dropped at cleanup.
func Postgres(t testing.TB) *store.DB {
	t.Helper()
	return open(t, PostgresSchemaURL(t))
}

// PostgresSchemaURL creates a private schema and returns a URL whose
// search_path selects it; the schema is dropped at cleanup.
func PostgresSchemaURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	base := PostgresURL()
	admin, err := store.Open(ctx, base)
	if err != nil {
		t.Fatalf("Postgres is required for this test and %s does not answer: %v\n"+
			"Run the suite with `make test` (it finds or starts a server) or set DVCBOT_TEST_DATABASE_URL.", redact(base), err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := admin.Bun().ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("creating schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := admin.Bun().ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("bad DVCBOT_TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func open(t testing.TB, dsn string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatalf("opening %s: %v", redact(dsn), err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatalf("migrating: %v", err)
	}
	return db
}

// Backend is a named way to get a fresh database.
type Backend struct {
	Name string
	Open func(testing.TB) *store.DB
}

// Backends lists SQLite and Postgres.
func Backends() []Backend {
	return []Backend{{"sqlite", SQLite}, {"postgres", Postgres}}
}

// Each runs fn once per backend, as a subtest named after it.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, b := range Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Open(t)) })
	}
}
