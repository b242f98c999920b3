package search

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// EvalCase is one query of the evaluation set with the procedure codes that
// answer it (any of them counts).
type EvalCase struct {
	Query    string   `json:"query"`
	Expected []string `json:"expected"`
	Source   string   `json:"source"`
	Label    string   `json:"label"`
}

// ReadEval reads an evaluation set (JSON lines).
func ReadEval(path string) ([]EvalCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []EvalCase
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var c EvalCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil || c.Query == "" || len(c.Expected) == 0 {
			return nil, fmt.Errorf("%s line %d: want {\"query\", \"expected\": [codes]}", path, n)
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

// Variant rewrites a query the way citizens type it on a phone.
type Variant struct {
	Name      string
	Transform func(string) string
}

// smsAbbreviations are what people write instead of the words (folded).
var smsAbbreviations = strings.NewReplacer(
	"can cuoc cong dan", "cccd", "chung minh nhan dan", "cmnd", "giay phep lai xe", "gplx",
	"giay phep xay dung", "gpxd", "ho kinh doanh", "hkd", "bao hiem xa hoi", "bhxh",
	"bao hiem y te", "bhyt", "giay chung nhan", "gcn", "dang ky", "dk",
)

// Variants are the forms each query is evaluated in: as written, without
// diacritics, SMS-style (no diacritics, abbreviations), and with one typo.
func Variants() []Variant {
	fold := func(s string) string { return strings.Join(vntext.FoldWords(s), " ") }
	return []Variant{
		{"as written", func(s string) string { return s }},
		{"accent-free", fold},
		{"SMS abbreviations", func(s string) string { return smsAbbreviations.Replace(fold(s)) }},
		{"one typo", func(s string) string { return typo(fold(s)) }},
	}
}

// typo swaps the 2nd and 3rd letters of the longest word of 5+ letters.
func typo(s string) string {
	words := strings.Fields(s)
	best := -1
	for i, w := range words {
		if len(w) >= 5 && (best < 0 || len(w) > len(words[best])) {
			best = i
		}
	}
	if best < 0 {
		return s
	}
	w := []byte(words[best])
	w[1], w[2] = w[2], w[1]
	words[best] = string(w)
	return strings.Join(words, " ")
}

// Metrics are the quality figures of one run.
type Metrics struct {
	N       int
	Recall1 float64
	Recall3 float64
	MRR     float64 // over the first 10 results
}

// Evaluate runs every case through search (which returns codes, best first).
func Evaluate(cases []EvalCase, transform func(string) string, search func(q string) []string) (Metrics, []EvalCase) {
	var m Metrics
	var misses []EvalCase
	for _, c := range cases {
		got := search(transform(c.Query))
		rank := 0
		for i, code := range got[:min(len(got), 10)] {
			if contains(c.Expected, code) {
				rank = i + 1
				break
			}
		}
		m.N++
		if rank == 1 {
			m.Recall1++
		}
		if rank >= 1 && rank <= 3 {
			m.Recall3++
		} else {
			misses = append(misses, c)
		}
		if rank > 0 {
			m.MRR += 1 / float64(rank)
		}
	}
	if m.N > 0 {
		m.Recall1 /= float64(m.N)
		m.Recall3 /= float64(m.N)
		m.MRR /= float64(m.N)
	}
	return m, misses
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// PrintMetrics writes one table row.
func PrintMetrics(w io.Writer, engine, variant string, m Metrics) {
	fmt.Fprintf(w, "| %-22s | %-18s | %3d | %.3f | %.3f | %.3f |\n", engine, variant, m.N, m.Recall1, m.Recall3, m.MRR)
}

// Codes adapts an index to Evaluate.
func (ix *Index) Codes(q string) []string {
	hits := ix.Search(q, 10, 0)
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.Code
	}
	return out
}
