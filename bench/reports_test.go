package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/report"
	"github.com/dvcbot/dvcbot/store/ratingdemo"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// BenchmarkReports loads 1,000,000 demo ratings (20 agencies, ~400
// procedures, 120 officers, four channels, two years) into a private
// Postgres schema and measures the p95 of every report, 200 runs each with
// random periods and filters. DVCBOT_BENCH_RATINGS overrides the count.
//
//	go test ./bench -run '^$' -bench Reports -benchtime 1x -timeout 30m
func BenchmarkReports(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("DVCBOT_BENCH_RATINGS")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	db := storetest.Postgres(b)
	now := time.Date(2026, 6, 15, 12, 0, 0, 0, report.Local())
	start := time.Now()
	added, err := ratingdemo.Add(ctx, db, n, 42, now, 730, nil)
	if err != nil || added != n {
		b.Fatalf("loading: %d of %d: %v", added, n, err)
	}
	b.Logf("loaded %d ratings in %s", n, time.Since(start).Round(time.Second))
	if _, err := db.Bun().ExecContext(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	st := db.Reports()
	r := rand.New(rand.NewPCG(1, 2))
	channels := []string{"", "", "sms", "webchat", "zalo"}
	period := func(kind string) report.Period {
		return report.PeriodFor(kind, now.AddDate(0, 0, -r.IntN(600)))
	}
	agency := func() string { return ratingdemo.Agencies[r.IntN(len(ratingdemo.Agencies))] }
	build := func(q report.Query) error { _, err := report.Build(ctx, st, q); return err }
	cases := []struct {
		name string
		run  func() error
	}{
		{"agency_year", func() error {
			return build(report.Query{Period: period(report.Year), Dim: report.ByAgency, Channel: channels[r.IntN(len(channels))]})
		}},
		{"agency_quarter", func() error {
			return build(report.Query{Period: period(report.Quarter), Dim: report.ByAgency, Channel: channels[r.IntN(len(channels))]})
		}},
		{"agency_month", func() error { return build(report.Query{Period: period(report.Month), Dim: report.ByAgency}) }},
		{"agency_week", func() error { return build(report.Query{Period: period(report.Week), Dim: report.ByAgency}) }},
		{"agency_day", func() error { return build(report.Query{Period: period(report.Day), Dim: report.ByAgency}) }},
		{"range_2y_all", func() error {
			p, _ := report.ParsePeriod(report.Range, "", now.AddDate(-2, 0, 0).Format(time.DateOnly), now.Format(time.DateOnly), now)
			return build(report.Query{Period: p, Dim: report.ByAgency})
		}},
		{"procedure_year", func() error { return build(report.Query{Period: period(report.Year), Dim: report.ByProcedure}) }},
		{"procedure_quarter_one_agency", func() error {
			return build(report.Query{Period: period(report.Quarter), Dim: report.ByProcedure, Agency: agency()})
		}},
		{"officer_year", func() error { return build(report.Query{Period: period(report.Year), Dim: report.ByOfficer}) }},
		{"officer_month_one_agency", func() error {
			return build(report.Query{Period: period(report.Month), Dim: report.ByOfficer, Agency: agency()})
		}},
		{"dossiers_month_one_agency", func() error {
			p := period(report.Month)
			_, _, err := st.Dossiers(ctx, report.Filter{FromDay: p.FromDay(), ToDay: p.ToDay(), Agency: agency()}, 200, 0)
			return err
		}},
		{"dossiers_year_khl_one_agency", func() error {
			p := period(report.Year)
			_, _, err := st.Dossiers(ctx, report.Filter{FromDay: p.FromDay(), ToDay: p.ToDay(), Agency: agency(), Level: 3}, 200, 0)
			return err
		}},
		{"dossiers_quarter_all", func() error {
			p := period(report.Quarter)
			_, _, err := st.Dossiers(ctx, report.Filter{FromDay: p.FromDay(), ToDay: p.ToDay()}, 200, 0)
			return err
		}},
		{"feed_page_1000", func() error { _, err := st.Feed(ctx, r.Int64N(int64(n)), 1000); return err }},
		{"scoreboard_quarters", func() error {
			cur := report.PeriodFor(report.Quarter, now)
			for _, d := range []report.Dimension{report.ByAgency, report.ByField} {
				if err := build(report.Query{Period: cur, Dim: d}); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	const runs = 200
	b.ResetTimer()
	for range b.N {
		for _, c := range cases {
			d := make([]time.Duration, runs)
			for i := range runs {
				t0 := time.Now()
				if err := c.run(); err != nil {
					b.Fatalf("%s: %v", c.name, err)
				}
				d[i] = time.Since(t0)
			}
			slices.Sort(d)
			p50, p95, worst := d[runs/2], d[runs*95/100-1], d[runs-1]
			b.Logf("%-30s p50 %7.1f ms   p95 %7.1f ms   max %7.1f ms", c.name, ms(p50), ms(p95), ms(worst))
			b.ReportMetric(ms(p95), "p95-ms/"+c.name)
			if p95 > 300*time.Millisecond {
				b.Errorf("%s: p95 %s over the 300 ms target", c.name, p95)
			}
		}
	}
}

func ms(d time.Duration) float64 {
	v, _ := strconv.ParseFloat(fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)), 64)
	return v
}
