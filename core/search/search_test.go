package search

import (
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
		want string // expected code within the top 3
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
		hits := ix.Search(tc.q, 3, 0)
		found := false
		for _, h := range hits {
			found = found || h.Code == tc.want
		}
		if !found {
			t.Errorf("%q: %s not in top 3: %+v", tc.q, tc.want, hits)
		}
	}
}
