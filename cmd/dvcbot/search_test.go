package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/store/storetest"
)

// The done criterion: on the full imported corpus the driving-licence
// renewal comes first for "cap doi gplx".
func TestSearchCommandOnFullCorpus(t *testing.T) {
	env := map[string]string{"DVCBOT_DATABASE_URL": filepath.Join(t.TempDir(), "x.db"), "DVCBOT_DEMO": "false"}
	if code, _, stderr := runCmd(t, env, "import", "procedures", "../../testdata/tthc/procedures.jsonl.gz"); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	code, out, stderr := runCmd(t, env, "search", "--json", "cap doi gplx")
	if code != 0 {
		t.Fatalf("search: %d %s", code, stderr)
	}
	var res struct {
		Results []struct{ Code, Name string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %q", out)
	}
	if len(res.Results) == 0 || res.Results[0].Code != "3.000347" || res.Results[0].Name != "Đổi giấy phép lái xe" {
		t.Fatalf("results %+v", res.Results)
	}
	code, out, _ = runCmd(t, env, "search", "--limit", "2", "tim cap lai can cuoc")
	if code != 0 || !strings.Contains(out, "1.014064") || strings.Count(out, "\n") != 2 {
		t.Fatalf("text search: %d %q", code, out)
	}
	code, out, _ = runCmd(t, env, "search", "--eval", "../../core/search/testdata/eval.jsonl")
	if code != 0 || !strings.Contains(out, "| dvcbot (in-process)    | accent-free") {
		t.Fatalf("eval: %d %q", code, out)
	}
	if code, _, _ := runCmd(t, env, "search"); code != exitConfig {
		t.Fatalf("search without a query: exit %d", code)
	}
}

func apiCodes(t *testing.T, base, q string) []string {
	t.Helper()
	resp, err := http.Get(base + "/api/v1/procedures?q=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var res struct{ Results []struct{ Code string } }
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("%s: %s", q, b)
	}
	var out []string
	for _, r := range res.Results {
		out = append(out, r.Code)
	}
	return out
}

// Two replicas on one Postgres pick up an import made by a third process.
func TestSearchFreshnessAcrossReplicas(t *testing.T) {
	dbURL := storetest.PostgresSchemaURL(t)
	env := func() map[string]string {
		return map[string]string{"DVCBOT_DATABASE_URL": dbURL, "DVCBOT_SEARCH_REFRESH": "200ms"}
	}
	a, _ := startServe(t, env())
	b, _ := startServe(t, env())
	const q = "cap phep nuoi chim yen"
	for _, base := range []string{a, b} {
		if got := apiCodes(t, base, q); len(got) > 0 && got[0] == "9.999001" {
			t.Fatal("found before the import")
		}
	}
	file := filepath.Join(t.TempDir(), "new.jsonl")
	line := `{"code": "9.999001", "name": "Cấp phép nuôi chim yến trong khu dân cư", "field": "Chăn nuôi", "agency": "UBND cấp xã"}`
	if err := os.WriteFile(file, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCmd(t, env(), "import", "procedures", file); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	for _, base := range []string{a, b} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if got := apiCodes(t, base, q); len(got) > 0 && got[0] == "9.999001" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s did not pick up the import within 10 s", base)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
