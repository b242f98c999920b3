package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/demo"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

func TestSeedCoversEveryStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
		seeded, err := demo.Seed(ctx, db.Catalog(), db.Dossiers(), now)
		if err != nil || !seeded {
			t.Fatalf("Seed = %v, %v", seeded, err)
		}
		if again, err := demo.Seed(ctx, db.Catalog(), db.Dossiers(), now); err != nil || again {
			t.Fatalf("second Seed = %v, %v; want no-op", again, err)
		}
		if n, _ := db.Catalog().CountProcedures(ctx); n != 400 {
			t.Fatalf("%d demo procedures, want 400", n)
		}
		seen := map[dossier.Status]bool{}
		timings := map[dossier.Timing]bool{}
		for _, d := range demo.Dossiers() {
			got, err := db.Dossiers().Dossier(ctx, d.Code)
			if err != nil {
				t.Fatalf("%s: %v", d.Code, err)
			}
			if got.Status != d.Status {
				t.Fatalf("%s: status %v, want %v", d.Code, got.Status, d.Status)
			}
			if _, err := db.Catalog().Procedure(ctx, d.ProcedureCode); err != nil {
				t.Errorf("%s: procedure %s is not in the demo catalogue", d.Code, d.ProcedureCode)
			}
			seen[got.Status] = true
			tm, _ := got.Timing(now)
			timings[tm] = true
		}
		for _, s := range dossier.AllStatuses() {
			if !seen[s] {
				t.Errorf("no demo dossier in status %v", s)
			}
		}
		for _, tm := range []dossier.Timing{dossier.TimingOverdue, dossier.TimingEarly, dossier.TimingOnTrack} {
			if !timings[tm] {
				t.Errorf("no demo dossier with timing %v", tm)
			}
		}
	})
}
