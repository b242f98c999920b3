package report_test

import (
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/report"
)

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 4, 1, 0, 30, 0, 0, report.Local()) // 17:30 UTC on 31 March
	tests := []struct {
		kind, value, from, to string
		want, prev            string // from_to
		wantErr               bool
	}{
		{"", "", "", "", "2026-04-01_2026-04-30", "2026-03-01_2026-03-31", false},
		{report.Day, "", "", "", "2026-04-01_2026-04-01", "2026-03-31_2026-03-31", false},
		{report.Week, "2026-W14", "", "", "2026-03-30_2026-04-05", "2026-03-23_2026-03-29", false},
		{report.Week, "2026-01-01", "", "", "2025-12-29_2026-01-04", "2025-12-22_2025-12-28", false},
		{report.Month, "2026-02", "", "", "2026-02-01_2026-02-28", "2026-01-01_2026-01-31", false},
		{report.Quarter, "2026-Q1", "", "", "2026-01-01_2026-03-31", "2025-10-01_2025-12-31", false},
		{report.Year, "2025", "", "", "2025-01-01_2025-12-31", "2024-01-01_2024-12-31", false},
		{report.Range, "", "2026-03-10", "2026-03-19", "2026-03-10_2026-03-19", "2026-02-28_2026-03-09", false},
		{report.Range, "", "2026-03-19", "2026-03-10", "", "", true},
		{report.Quarter, "2026-Q5", "", "", "", "", true},
		{"fortnight", "", "", "", "", "", true},
	}
	for _, tc := range tests {
		p, err := report.ParsePeriod(tc.kind, tc.value, tc.from, tc.to, now)
		if tc.wantErr {
			if err == nil {
				t.Errorf("%s %s: no error", tc.kind, tc.value)
			}
			continue
		}
		f := func(p report.Period) string { return p.From.Format(time.DateOnly) + "_" + p.To.Format(time.DateOnly) }
		if err != nil || f(p) != tc.want || f(p.Previous()) != tc.prev {
			t.Errorf("%s %s %s %s: %s (previous %s) %v, want %s (%s)", tc.kind, tc.value, tc.from, tc.to, f(p), f(p.Previous()), err, tc.want, tc.prev)
		}
	}
	if d := report.DayOf(time.Date(2026, 3, 31, 16, 59, 0, 0, time.UTC)); d != 20260331 {
		t.Errorf("23:59 local: %d", d)
	}
	if d := report.DayOf(time.Date(2026, 3, 31, 17, 1, 0, 0, time.UTC)); d != 20260401 {
		t.Errorf("00:01 local: %d", d)
	}
}
