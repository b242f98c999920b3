package search

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/search/searchtest"
)

// provincialCatalogue returns n procedures generated from the real ones as
// the search benchmark does (searchtest.Provincial).
func provincialCatalogue(t testing.TB, n int) []catalog.Procedure {
	t.Helper()
	real, err := catalog.ReadFile(fullCatalogue)
	if err != nil {
		t.Fatal(err)
	}
	return searchtest.Provincial(real, n)
}

// fullSearch is Search without pruning: every posting of every term added
// in order, then the best by final score and code.
func fullSearch(ix *Index, query string, limit, offset int) []Hit {
	q := ix.an.analyze(query, ix.correct)
	for _, c := range q.Codes {
		if _, ok := ix.byCode[c]; ok {
			return ix.Search(query, limit, offset) // no scoring
		}
	}
	score := make([]float32, len(ix.hits))
	var docs []int32
	for _, t := range ix.scoredTerms(q.Terms) {
		for _, p := range t.ps {
			if score[p.doc] == 0 {
				docs = append(docs, p.doc)
			}
			score[p.doc] += t.w * p.impact
		}
	}
	sc := ix.scores(score, q)
	var out []Hit
	for _, d := range topK(docs, sc, ix.hits, offset+limit) {
		h := ix.hits[d]
		h.Score = math.Round(float64(sc.final(d))*1000) / 1000
		out = append(out, h)
	}
	return page(out, limit, offset)
}

// exactQueries are the evaluation and held-out queries in every variant
// (the benchmark's queries and more), and a few with very long lists.
func exactQueries(t testing.TB) []string {
	t.Helper()
	var qs []string
	for _, path := range []string{"testdata/eval.jsonl", heldOutPath} {
		cases, err := ReadEval(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range Variants() {
			for _, c := range cases {
				qs = append(qs, v.Transform(c.Query))
			}
		}
	}
	return append(qs, "cap", "dang ky", "giấy", "thu tuc hanh chinh", "cấp giấy phép", "ho so", "o dau", "la gi",
		"cap doi cap lai giay phep lai xe bi mat hong", "dang ky kinh doanh ho kinh doanh ca the", "driving licence",
		"xyzzy", "1.001193", "9.999999 khai sinh")
}

// checkExact compares Search with fullSearch for every query, several page
// sizes and a later page: the same procedures in the same order with the
// same scores.
func checkExact(t *testing.T, ix *Index, qs []string) {
	t.Helper()
	pages := []struct{ limit, offset int }{{1, 0}, {3, 0}, {10, 0}, {10, 10}, {50, 0}}
	show := func(hs []Hit) string {
		var b strings.Builder
		for _, h := range hs {
			fmt.Fprintf(&b, "%s:%v ", h.Code, h.Score)
		}
		return b.String()
	}
	diffs := 0
	for _, q := range qs {
		for _, p := range pages {
			got, want := show(ix.Search(q, p.limit, p.offset)), show(fullSearch(ix, q, p.limit, p.offset))
			if got != want {
				t.Errorf("%q limit %d offset %d:\n pruned %s\n full   %s", q, p.limit, p.offset, got, want)
				if diffs++; diffs > 10 {
					t.FailNow()
				}
			}
		}
	}
}

// Pruning never changes a result: on the real catalogue and on the
// benchmark's provincial copies (100,000 procedures; fewer under the race
// detector, which makes the build 8 times slower).
func TestSearchExactAsFullScan(t *testing.T) {
	qs := exactQueries(t)
	an, err := NewAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{2849, 100_000}
	if raceEnabled {
		sizes[1] = 20_000
	}
	if testing.Short() {
		sizes = sizes[:1]
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			checkExact(t, Build(provincialCatalogue(t, n), an), qs)
		})
	}
}
