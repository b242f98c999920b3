package search

import (
	"fmt"
	"strings"
	"testing"

	"github.com/dvcbot/dvcbot/core/catalog"
)

func loadIndex(t testing.TB, path string) *Index {
	t.Helper()
	procs, err := catalog.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	an, err := NewAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	return Build(procs, an)
}

func TestSearchTopResults(t *testing.T) {
	ix := loadIndex(t, "../../testdata/tthc/procedures.jsonl.gz")
	tests := []struct {
		q    string
		want string // expected code within the top 5
	}{
		{"dang ky khai sinh", "1.001193"},
		{"Đăng ký khai sinh", "1.001193"},
		{"tim cap lai can cuoc", "1.014064"},
		{"cap lai cccd", "1.014064"},
		{"dang ky ket hon", "1.000894"},
		{"dang ky tam tru", "1.004194"},
		{"thu tuc dang ky thuong tru nhu the nao", "1.004222"},
		{"1.001612", "1.001612"},
		{"chung thuc chu ky", "2.000884"},
	}
	for _, tc := range tests {
		hits := ix.Search(tc.q, 5, 0)
		found := false
		for _, h := range hits {
			found = found || h.Code == tc.want
		}
		if !found {
			t.Errorf("%q: %s not in top 5: %+v", tc.q, tc.want, hits)
		}
	}
}

func smallIndex(t *testing.T) *Index {
	t.Helper()
	an, err := NewAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	procs := []catalog.Procedure{
		{Code: "1.001193", Name: "Thủ tục đăng ký khai sinh", Field: "Hộ tịch"},
		{Code: "1.004884", Name: "Thủ tục đăng ký lại khai sinh", Field: "Hộ tịch"},
		{Code: "1.000894", Name: "Thủ tục đăng ký kết hôn", Field: "Hộ tịch"},
		{Code: "3.000347", Name: "Đổi giấy phép lái xe", Field: "Sát hạch, cấp giấy phép lái xe"},
		{Code: "3.000348", Name: "Cấp lại giấy phép lái xe", Field: "Sát hạch, cấp giấy phép lái xe"},
		{Code: "1.014064", Name: "Cấp lại thẻ căn cước", Field: "Cấp, quản lý căn cước"},
		{Code: "1.014063", Name: "Cấp đổi thẻ căn cước", Field: "Cấp, quản lý căn cước"},
		{Code: "9.000001", Name: "Cấp lại sinh khai", Field: "Thử nghiệm"},                                // same syllables, other order
		{Code: "9.000002", Name: "Thủ tục khai sinh đã hủy", Field: "Hộ tịch", Status: catalog.Cancelled}, // never returned
		{Code: "9.000003", Name: "Cấp lai giấy phép lái xe", Field: "Sát hạch, cấp giấy phép lái xe"},     // lai: another word
	}
	return Build(procs, an)
}

func TestSearchBehaviour(t *testing.T) {
	ix := smallIndex(t)
	tests := []struct {
		name, q string
		first   string
		absent  string
	}{
		{"folded query finds accented names", "dang ky ket hon", "1.000894", ""},
		{"phrase beats the same syllables apart", "khai sinh", "1.001193", ""},
		{"abbreviation cccd", "cap lai cccd", "1.014064", ""},
		{"abbreviation gplx", "doi gplx", "3.000347", ""},
		{"fillers ignored", "thu tuc lam the nao de xin cap doi can cuoc o dau", "1.014063", ""},
		{"one typo in a 4+ letter syllable", "dang ky khia sinh", "1.001193", ""},
		{"another typo", "cap lai the can cuco", "1.014064", ""},
		{"procedure code", "1.000894", "1.000894", ""},
		{"cancelled never returned", "khai sinh da huy", "", "9.000002"},
		{"exact diacritics rank higher", "cấp lại giấy phép", "3.000348", ""},
		{"the other accent ranks higher when typed", "cấp lai giấy phép", "9.000003", ""},
		{"nothing matches", "xyzzy", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits := ix.Search(tc.q, 10, 0)
			if tc.first == "" && tc.absent == "" && len(hits) != 0 {
				t.Fatalf("want no hits, got %+v", hits)
			}
			if tc.first != "" && (len(hits) == 0 || hits[0].Code != tc.first) {
				t.Fatalf("first hit %+v, want %s", hits, tc.first)
			}
			for _, h := range hits {
				if h.Code == tc.absent {
					t.Fatalf("%s must not be returned: %+v", tc.absent, hits)
				}
			}
		})
	}
	if p := ix.Search("khai sinh", 1, 1); len(p) != 1 || p[0].Code == ix.Search("khai sinh", 1, 0)[0].Code {
		t.Fatalf("paging: %+v", p)
	}
}

func TestEditDistance1(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"khai", "khia", true}, {"khai", "kai", true}, {"khai", "khaii", true}, {"khai", "khao", true},
		{"khai", "khai", false}, {"khai", "hkia", false}, {"thuong", "tuhong", true}, {"ab", "ba", true}, {"abc", "cab", false},
	} {
		if got := editDistance1(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance1(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// The pruned accumulation returns the same top results as scoring every
// posting of every term.
func TestPruningIsExact(t *testing.T) {
	ix := loadIndex(t, "../../testdata/tthc/procedures.jsonl.gz")
	cases, err := ReadEval("testdata/eval.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	full := func(q string, k int) []string {
		score := map[int32]float32{}
		aq := ix.an.analyze(q, ix.correct)
		for _, st := range ix.scoredTerms(aq.Terms) {
			for _, p := range st.ps {
				score[p.doc] += st.w * p.impact
			}
		}
		docs := make([]int32, 0, len(score))
		sc := make([]float32, len(ix.hits))
		for d, s := range score {
			docs = append(docs, d)
			sc[d] = s
		}
		var out []string
		for _, d := range topK(docs, ix.scores(sc, aq), ix.hits, k) {
			out = append(out, ix.hits[d].Code)
		}
		return out
	}
	checked := 0
	for _, v := range Variants() {
		for _, c := range cases {
			q := v.Transform(c.Query)
			if len(ix.an.Query(q).Codes) > 0 {
				continue
			}
			for _, k := range []int{1, 3, 10} {
				got := ix.Codes(q)[:0]
				for _, h := range ix.Search(q, k, 0) {
					got = append(got, h.Code)
				}
				want := full(q, k)
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Fatalf("%q k=%d: pruned %v, full %v", q, k, got, want)
				}
				checked++
			}
		}
	}
	if checked < 300 {
		t.Fatalf("only %d comparisons", checked)
	}
}

// Operators' hooks: a rewrite reaches the index, the observer sees the
// first page only, with the query as typed.
func TestHolderQueryHooks(t *testing.T) {
	an, err := NewAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	h := NewHolder(BuildDocs([]Doc{
		{Code: "1.001193", Name: "Thủ tục đăng ký khai sinh"},
		{Code: "2.000528", Name: "Thủ tục đăng ký kết hôn"},
	}, an))
	var seen []string
	h.SetQueryHooks(func(q string) string {
		if q == "lam giay khai sinh cho be" {
			return "dang ky khai sinh"
		}
		return q
	}, func(q string, hits []Hit) { seen = append(seen, fmt.Sprintf("%s:%d", q, len(hits))) })
	hits := h.Search("lam giay khai sinh cho be", 3, 0)
	if len(hits) == 0 || hits[0].Code != "1.001193" {
		t.Fatalf("rewritten query: %+v", hits)
	}
	h.Search("lam giay khai sinh cho be", 3, 3) // a later page: not observed
	if len(seen) != 1 || !strings.HasPrefix(seen[0], "lam giay khai sinh cho be:") {
		t.Fatalf("observed %v", seen)
	}
}
