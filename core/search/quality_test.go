package search

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

const (
	fullCatalogue = "../../testdata/tthc/procedures.jsonl.gz"
	demoCatalogue = "../demo/procedures.jsonl"
	heldOutPath   = "testdata/heldout.jsonl"
)

// top3 reports whether one of want is among the first three hits of q.
func top3(ix *Index, q string, want []string) (bool, []string) {
	got := ix.Codes(q)
	for _, c := range got[:min(3, len(got))] {
		if contains(want, c) {
			return true, got
		}
	}
	return false, got
}

// A request for a permit, a licence or a certificate, in Vietnamese or in
// English, finds that paper in the top 3 of the demo catalogue and of the
// full one (issue 11, item 6). These queries were tuned on; the held-out set
// (TestQuality) was not.
func TestRequestsFindTheirPaper(t *testing.T) {
	catalogues := map[string]*Index{"demo": loadIndex(t, demoCatalogue), "full": loadIndex(t, fullCatalogue)}
	houseBuilding := []string{"1.013225"} // Cấp giấy phép xây dựng mới … và nhà ở riêng lẻ
	tests := []struct {
		q    string
		want []string
	}{
		{"xin giay phep xay dung nha o", houseBuilding},
		{"xin giay phep xay dung", houseBuilding},
		{"xin giấy phép xây dựng nhà ở", houseBuilding},
		{"cap giay phep lai xe", []string{"3.000346"}},
		// First issuance, to households and individuals or to organisations.
		{"giay chung nhan quyen su dung dat", []string{"1.013978", "1.012753"}},
		{"birth registration", []string{"1.001193"}},
		{"FIND birth registration", []string{"1.001193"}}, // the help's example, if FIND reaches the search
		{"driving licence", []string{"3.000346"}},
		{"driving license", []string{"3.000346"}},
		{"marriage registration", []string{"1.000894"}},
		{"death certificate", []string{"1.000656"}},
		{"passport", []string{"1.001456", "1.001471"}},
		{"ID card lost", []string{"1.014064", "2.001194", "1.000757"}},
		{"citizen ID renewal", []string{"1.014063", "2.001195", "1.000889"}},
		{"temporary residence", []string{"1.004194"}},
		{"apply for a building permit", []string{"1.013225", "1.013236"}},
	}
	for _, tc := range tests {
		for name, ix := range catalogues {
			t.Run(name+"/"+tc.q, func(t *testing.T) {
				if ok, got := top3(ix, tc.q, tc.want); !ok {
					t.Errorf("%q in the %s catalogue: %v not in the top 3 of %v", tc.q, name, tc.want, got)
				}
			})
		}
	}
}

// TestQuality holds Recall@3 over the full catalogue at what was measured:
// the evaluation set in every variant, its source-labelled subset, and the
// held-out set of 30 queries written and labelled before the issue-11 tuning
// and never tuned on (`go test ./core/search -run Quality -v` prints them).
func TestQuality(t *testing.T) {
	ix := loadIndex(t, fullCatalogue)
	cases, err := ReadEval("testdata/eval.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	held, err := ReadEval(heldOutPath)
	if err != nil {
		t.Fatal(err)
	}
	var source []EvalCase
	for _, c := range cases {
		if c.Label == "dataset" {
			source = append(source, c)
		}
	}
	if len(cases) != 108 || len(source) != 36 || len(held) != 30 {
		t.Fatalf("%d evaluation cases (%d source-labelled), %d held out; want 108 (36), 30", len(cases), len(source), len(held))
	}
	variants := map[string]Variant{}
	for _, v := range Variants() {
		variants[v.Name] = v
	}
	tests := []struct {
		set     string
		cases   []EvalCase
		variant string
		hits3   int // measured; before issue 11 in the comment
	}{
		{"evaluation", cases, "as written", 103},        // 101 (0.935)
		{"evaluation", cases, "accent-free", 101},       // 99 (0.917)
		{"evaluation", cases, "SMS abbreviations", 101}, // 99 (0.917)
		{"evaluation", cases, "one typo", 101},          // 99 (0.917)
		{"source-labelled", source, "accent-free", 36},  // 36 (1.000); the target is ≥ 0.95
		{"held-out", held, "as written", 27},            // 20 (0.667)
		{"held-out", held, "accent-free", 27},           // 20 (0.667)
	}
	var b strings.Builder
	b.WriteString("| set | variant | n | Recall@1 | Recall@3 | MRR |\n|---|---|---|---|---|---|\n")
	for _, tc := range tests {
		v := variants[tc.variant]
		m, misses := Evaluate(tc.cases, v.Transform, ix.Codes)
		PrintMetrics(&b, tc.set, tc.variant, m)
		if got := int(math.Round(m.Recall3 * float64(m.N))); got < tc.hits3 {
			var lines []string
			for _, c := range misses {
				lines = append(lines, fmt.Sprintf("%q → %v (want %v)", v.Transform(c.Query), ix.Codes(v.Transform(c.Query)), c.Expected))
			}
			t.Errorf("%s, %s: %d of %d in the top 3, measured %d; misses:\n%s", tc.set, tc.variant, got, m.N, tc.hits3,
				strings.Join(lines, "\n"))
		}
	}
	t.Log("\n" + b.String())
}
