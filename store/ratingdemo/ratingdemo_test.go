package ratingdemo_test

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/report"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/ratingdemo"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// The roll-ups kept rating by rating equal the ones rebuilt in SQL after a
// deferred load, at both grains, and add up to the facts.
func TestRollupsIncrementalEqualRebuilt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.Date(2026, 6, 15, 12, 0, 0, 0, report.Local())
		n, err := ratingdemo.Add(ctx, db, 3000, 9, now, 400, nil)
		if err != nil || n != 3000 {
			t.Fatalf("%d %v", n, err)
		}
		snap := func() map[string][]report.Group {
			out := map[string][]report.Group{}
			for _, kind := range []string{report.Year, report.Quarter, report.Week} {
				per := report.PeriodFor(kind, now.AddDate(0, -2, 0))
				for _, dim := range []report.Dimension{report.ByAgency, report.ByProcedure, report.ByOfficer, report.ByField} {
					g, err := db.Reports().Aggregate(ctx, report.Filter{FromDay: per.FromDay(), ToDay: per.ToDay()}, dim)
					if err != nil {
						t.Fatal(err)
					}
					sort.Slice(g, func(i, j int) bool { return g[i].Agency+g[i].Key < g[j].Agency+g[j].Key })
					out[kind+string(dim)] = g
				}
			}
			return out
		}
		before := snap()
		var total int64
		for _, g := range before["yearagency"] {
			total += g.Counts.Total()
		}
		if total == 0 {
			t.Fatal("no ratings in the year")
		}
		if err := db.RebuildRatingRollups(ctx); err != nil {
			t.Fatal(err)
		}
		if after := snap(); !reflect.DeepEqual(before, after) {
			t.Errorf("rebuilt roll-ups differ from the incremental ones")
		}
	})
}
