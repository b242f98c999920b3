// Package citizentest builds a real citizen bot over a real store seeded
// with the demo data, for channel tests.
package citizentest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/core/demo"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/search"
	"github.com/dvcbot/dvcbot/store"
)

// New seeds db with the demo data (as of seedTime) and returns a bot on it.
func New(t testing.TB, db *store.DB, seedTime time.Time, opts ...citizen.Option) (*citizen.Bot, *i18n.Catalog) {
	t.Helper()
	ctx := context.Background()
	if _, err := demo.Seed(ctx, db.Catalog(), db.Dossiers(), seedTime); err != nil {
		t.Fatal(err)
	}
	procs, err := db.Catalog().PublishedProcedures(ctx)
	if err != nil {
		t.Fatal(err)
	}
	an, err := search.NewAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	tr, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]citizen.Option{citizen.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	return citizen.New(db.Dossiers(), db.Catalog(), search.NewHolder(search.Build(procs, an)), db.Ratings(), db.Sessions(), tr, opts...), tr
}
