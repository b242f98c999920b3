package catalog_test

import (
	"context"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// The real dataset (a copy of shared/data/tthc kept in testdata/).
const datasetPath = "../../testdata/tthc/procedures.jsonl.gz"

func TestImportRealDatasetIdempotent(t *testing.T) {
	procs, err := catalog.ReadFile(datasetPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(procs) != 2849 {
		t.Fatalf("read %d procedures, want 2849", len(procs))
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)
		sum, err := catalog.Import(ctx, db.Catalog(), procs, "test", now)
		if err != nil || sum.New != 2849 {
			t.Fatalf("first import: %v, %v", sum, err)
		}
		sum, err = catalog.Import(ctx, db.Catalog(), procs, "test", now.Add(time.Hour))
		if err != nil || sum.Unchanged != 2849 || sum.New+sum.Modified != 0 {
			t.Fatalf("re-import changed something: %v, %v", sum, err)
		}
		changed := append([]catalog.Procedure(nil), procs[:3]...)
		changed[1].Fee = "99.000 đồng"
		sum, err = catalog.Import(ctx, db.Catalog(), changed, "test", now.Add(2*time.Hour))
		if err != nil || sum.Modified != 1 || sum.Unchanged != 2 {
			t.Fatalf("one change: %v, %v", sum, err)
		}
		p, err := db.Catalog().Procedure(ctx, changed[1].Code)
		if err != nil || p.Version != 2 || p.Fee != "99.000 đồng" {
			t.Fatalf("changed procedure: %+v, %v", p, err)
		}
	})
}
