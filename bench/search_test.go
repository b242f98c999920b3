// Package bench holds the project's load and speed benchmarks.
package bench

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bench/pgfts"
	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/search"
	"github.com/dvcbot/dvcbot/core/search/searchtest"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const (
	corpusPath = "../testdata/tthc/procedures.jsonl.gz"
	evalPath   = "../core/search/testdata/eval.jsonl"
)

// catalogue returns n procedures generated from the real records
// (searchtest.Provincial).
func catalogue(tb testing.TB, n int) []catalog.Procedure {
	tb.Helper()
	real, err := catalog.ReadFile(corpusPath)
	if err != nil {
		tb.Fatal(err)
	}
	return searchtest.Provincial(real, n)
}

func queries(tb testing.TB) []string {
	tb.Helper()
	cases, err := search.ReadEval(evalPath)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, v := range search.Variants() {
		for _, c := range cases {
			out = append(out, v.Transform(c.Query))
		}
	}
	return out
}

func rssMB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			kb, _ := strconv.Atoi(strings.Fields(l)[1])
			return float64(kb) / 1024
		}
	}
	return 0
}

// docs projects procedures onto the indexed fields, as the store does for serve.
func docs(procs []catalog.Procedure) []search.Doc {
	out := make([]search.Doc, len(procs))
	for i, p := range procs {
		out[i] = search.DocOf(p)
	}
	return out
}

// BenchmarkSearchBuild100k: index build time and memory for 100,000 procedures.
func BenchmarkSearchBuild100k(b *testing.B) {
	ds := docs(catalogue(b, 100_000))
	runtime.GC()
	an, err := search.NewAnalyzer()
	if err != nil {
		b.Fatal(err)
	}
	var ix *search.Index
	var before, after runtime.MemStats
	for b.Loop() {
		ix = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		ix = search.BuildDocs(ds, an)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "index-MB")
	debug.FreeOSMemory() // resident = input documents + index, as in serve
	b.ReportMetric(rssMB(), "rss-MB")
	runtime.KeepAlive(ds)
	b.ReportMetric(float64(ix.Terms()), "terms")
}

// latencies runs every query once per round and reports p50 and p99.
func latencies(b *testing.B, qs []string, search func(string)) {
	var d []time.Duration
	i := 0
	for b.Loop() {
		q := qs[i%len(qs)]
		i++
		start := time.Now()
		search(q)
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkSearchQuery: latency of the evaluation queries (all variants) on
// the real catalogue and on 100,000 procedures. Run with -cpu 1 for one core.
func BenchmarkSearchQuery(b *testing.B) {
	an, err := search.NewAnalyzer()
	if err != nil {
		b.Fatal(err)
	}
	qs := queries(b)
	for _, n := range []int{2849, 100_000} {
		ix := search.Build(catalogue(b, n), an)
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			latencies(b, qs, func(q string) { ix.Search(q, 3, 0) })
		})
	}
}

// BenchmarkBaselineQuery: the Postgres full-text baseline on the real catalogue.
func BenchmarkBaselineQuery(b *testing.B) {
	db := storetest.Postgres(b)
	ctx := context.Background()
	base, err := pgfts.Load(ctx, db.Bun(), catalogue(b, 2849))
	if err != nil {
		b.Fatal(err)
	}
	qs := queries(b)
	b.Run("2849", func(b *testing.B) {
		latencies(b, qs, func(q string) {
			if _, err := base.Search(ctx, q, 3); err != nil {
				b.Fatal(err)
			}
		})
	})
}
