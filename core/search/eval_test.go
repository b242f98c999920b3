package search_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/dvcbot/dvcbot/bench/pgfts"
	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/search"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const (
	evalPath    = "testdata/eval.jsonl"
	heldOutPath = "testdata/heldout.jsonl" // never tuned on: reported apart
	corpusPath  = "../../testdata/tthc/procedures.jsonl.gz"
)

// TestEval prints Recall@1, Recall@3 and MRR over the full corpus for every
// query variant, for the in-process engine and, in the same run, the Postgres
// full-text baseline, then the same for the held-out set
// (`go test ./core/search -run Eval -v`).
func TestEval(t *testing.T) {
	procs, err := catalog.ReadFile(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	an, err := search.NewAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	ix := search.Build(procs, an)
	cases, err := search.ReadEval(evalPath)
	if err != nil {
		t.Fatal(err)
	}
	db := storetest.Postgres(t)
	base, err := pgfts.Load(context.Background(), db.Bun(), procs)
	if err != nil {
		t.Fatal(err)
	}
	baseCodes := func(q string) []string {
		codes, err := base.Search(context.Background(), q, 10)
		if err != nil {
			t.Fatalf("baseline %q: %v", q, err)
		}
		return codes
	}
	var b strings.Builder
	b.WriteString("| engine | variant | n | Recall@1 | Recall@3 | MRR |\n|---|---|---|---|---|---|\n")
	for _, v := range search.Variants() {
		m, misses := search.Evaluate(cases, v.Transform, ix.Codes)
		search.PrintMetrics(&b, "dvcbot (in-process)", v.Name, m)
		if os.Getenv("DVCBOT_EVAL_MISSES") != "" {
			for _, c := range misses {
				t.Logf("%s miss: %q → %v (want %v)", v.Name, v.Transform(c.Query), ix.Codes(v.Transform(c.Query)), c.Expected)
			}
		}
		if v.Name == "accent-free" && m.Recall3 < 0.90 {
			t.Errorf("Recall@3 on the accent-free form is %.3f, the target is 0.90", m.Recall3)
		}
	}
	for _, v := range search.Variants() {
		m, _ := search.Evaluate(cases, v.Transform, baseCodes)
		search.PrintMetrics(&b, "Postgres FTS baseline", v.Name, m)
	}
	// Queries whose answers come from the source data, not from our labels.
	var fromSource []search.EvalCase
	for _, c := range cases {
		if c.Label == "dataset" {
			fromSource = append(fromSource, c)
		}
	}
	fold := search.Variants()[1]
	m, _ := search.Evaluate(fromSource, fold.Transform, ix.Codes)
	search.PrintMetrics(&b, "dvcbot, source-labelled", fold.Name, m)
	m, _ = search.Evaluate(fromSource, fold.Transform, baseCodes)
	search.PrintMetrics(&b, "baseline, source-labelled", fold.Name, m)
	// The held-out queries (TestQuality holds the engine at its figures).
	held, err := search.ReadEval(heldOutPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range search.Variants()[:2] {
		m, _ := search.Evaluate(held, v.Transform, ix.Codes)
		search.PrintMetrics(&b, "dvcbot, held-out", v.Name, m)
	}
	for _, v := range search.Variants()[:2] {
		m, _ := search.Evaluate(held, v.Transform, baseCodes)
		search.PrintMetrics(&b, "baseline, held-out", v.Name, m)
	}
	t.Log("\n" + b.String())
}
