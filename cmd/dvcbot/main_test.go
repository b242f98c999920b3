package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/signature"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	code := run(context.Background(), args, envFrom(env), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestConfigErrorsExitTwo(t *testing.T) {
	tests := []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"DVCBOT_LISTEN": "8080"}, nil, "DVCBOT_LISTEN"},
		{map[string]string{"DVCBOT_LISTEN": ":99999"}, nil, "DVCBOT_LISTEN"},
		{map[string]string{"DVCBOT_DATABASE_URL": "mysql://x"}, nil, "DVCBOT_DATABASE_URL"},
		{map[string]string{"DVCBOT_DEMO": "maybe"}, nil, "DVCBOT_DEMO"},
		{map[string]string{"DVCBOT_LOG_LEVEL": "loud"}, nil, "DVCBOT_LOG_LEVEL"},
		{map[string]string{"DVCBOT_DOSSIER_SECRET": "short"}, nil, "DVCBOT_DOSSIER_SECRET"},
		{map[string]string{"DVCBOT_SHUTDOWN_TIMEOUT": "-1s"}, nil, "DVCBOT_SHUTDOWN_TIMEOUT"},
		{map[string]string{"DVCBOT_RATE_LIMIT": "0"}, nil, "DVCBOT_RATE_LIMIT"},
		{map[string]string{"DVCBOT_WEB_ORIGINS": "example.com"}, nil, "DVCBOT_WEB_ORIGINS"},
		{nil, []string{"--listen", "nowhere"}, "DVCBOT_LISTEN (flag --listen)"},
	}
	for _, tc := range tests {
		code, _, stderr := runCmd(t, tc.env, append([]string{"serve"}, tc.args...)...)
		if code != exitConfig || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v %v: exit %d, stderr %q; want exit 2 naming %s", tc.env, tc.args, code, stderr, tc.want)
		}
	}
	if code, _, _ := runCmd(t, nil, "frobnicate"); code != exitConfig {
		t.Errorf("unknown command: exit %d", code)
	}
	if code, _, _ := runCmd(t, nil, "import", "things"); code != exitConfig {
		t.Errorf("bad import usage: exit %d", code)
	}
}

func TestFlagOverridesEnvironment(t *testing.T) {
	fsArgs := []string{"--listen", "127.0.0.1:9999"}
	cfg, _, err := LoadConfig(flag.NewFlagSet("t", flag.ContinueOnError), fsArgs, envFrom(map[string]string{"DVCBOT_LISTEN": ":7000", "DVCBOT_RATE_LIMIT": "30"}))
	if err != nil || cfg.Listen != "127.0.0.1:9999" || cfg.RateLimit != 30 || cfg.DatabaseURL != "./data/dvcbot.db" {
		t.Fatalf("cfg %+v, %v", cfg, err)
	}
}

func TestHelpAndVersion(t *testing.T) {
	code, out, _ := runCmd(t, nil, "help")
	for _, c := range []string{"serve", "migrate", "import", "version"} {
		if code != 0 || !strings.Contains(out, c) {
			t.Fatalf("help lacks %s: %q", c, out)
		}
	}
	if code, out, _ := runCmd(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "dvcbot ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

// The README's configuration table is `dvcbot help config`, row for row:
// every variable the binary reads, once, with its current default and text.
func TestReadmeListsEveryVariable(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCmd(t, nil, "help", "config")
	if code != 0 {
		t.Fatalf("help config: exit %d", code)
	}
	rows := func(text string) []string {
		var rs []string
		for line := range strings.Lines(text) {
			if strings.HasPrefix(line, "| `DVCBOT_") {
				rs = append(rs, strings.TrimSpace(line))
			}
		}
		return rs
	}
	got, want := rows(string(readme)), rows(out)
	if len(want) != len(settings(&Config{})) {
		t.Fatalf("help config lists %d variables, the binary reads %d", len(want), len(settings(&Config{})))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("README.md's configuration table differs from `go run ./cmd/dvcbot help config` (%d rows, want %d): paste its output", len(got), len(want))
		for i := range max(len(got), len(want)) {
			g, w := "", ""
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("row %d:\n README %s\n wanted %s", i+1, g, w)
				break
			}
		}
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServe runs `dvcbot serve` in-process and waits until /readyz is 200.
func startServe(t *testing.T, env map[string]string) (base string, logs *syncBuffer) {
	t.Helper()
	addr := freeAddr(t)
	env["DVCBOT_LISTEN"] = addr
	if env["DVCBOT_SPOOL_DIR"] == "" {
		env["DVCBOT_SPOOL_DIR"] = t.TempDir() // one spool per process, as two replicas on one host need
	}
	ctx, cancel := context.WithCancel(context.Background())
	logs = &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, envFrom(env), strings.NewReader(""), io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d: %s", code, logs.String())
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not shut down")
		}
	})
	base = "http://" + addr
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base, logs
			}
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before ready: %s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready within 10 s: %s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const testSecret = "integration-secret-123"

func postEvent(t *testing.T, base, body, secret string) (int, string) {
	t.Helper()
	ts := time.Now().Unix()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/dossiers", strings.NewReader(body))
	req.Header.Set("X-DVC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-DVC-Signature", signature.Sign([]byte(secret), ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func eventJSON(id, code, status string) string {
	return fmt.Sprintf(`{"event_id": %q, "occurred_at": %q, "status": %q, "note": "Chuyển phòng Tư pháp thẩm định",
	  "dossier": {"code": %q, "procedure_code": "1.001193", "procedure_name": "Đăng ký khai sinh",
	  "agency": "UBND phường Hải Châu I", "applicant_name": "Nguyễn Văn An", "applicant_phone": "0905123456",
	  "received_at": "2026-11-20T08:01:00+07:00", "due_at": "2026-11-25T17:00:00+07:00"}}`,
		id, time.Now().Format(time.RFC3339), status, code)
}

func TestServeEndToEnd(t *testing.T) {
	for _, backend := range []struct{ name, url string }{
		{"sqlite", filepath.Join(t.TempDir(), "sub", "dvcbot.db")},
		{"postgres", storetest.PostgresSchemaURL(t)},
	} {
		t.Run(backend.name, func(t *testing.T) {
			base, logs := startServe(t, map[string]string{
				"DVCBOT_DATABASE_URL": backend.url, "DVCBOT_DOSSIER_SECRET": testSecret,
			})
			ev := eventJSON("e2e-1", "000.00.20.h17-261120-0042", "DANG_XU_LY")
			if code, body := postEvent(t, base, ev, testSecret); code != 200 || !strings.Contains(body, `"accepted"`) {
				t.Fatalf("signed event: %d %s", code, body)
			}
			if code, body := postEvent(t, base, ev, testSecret); code != 200 || !strings.Contains(body, `"duplicate"`) {
				t.Fatalf("replayed event: %d %s", code, body)
			}
			if code, body := postEvent(t, base, eventJSON("e2e-2", "000.00.20.H17-261120-0042", "DA_XU_LY_XONG"), "forged-secret-000000"); code != 401 {
				t.Fatalf("forged event: %d %s", code, body)
			}
			resp, err := http.Get(base + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			m, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, want := range []string{`dvcbot_dossier_events_total{result="accepted"} 1`, `dvcbot_dossier_events_total{result="duplicate"} 1`,
				`dvcbot_dossier_requests_refused_total{reason="signature"} 1`, `dvcbot_http_request_duration_seconds_count{code="200",route="GET /readyz"}`} {
				if !bytes.Contains(m, []byte(want)) {
					t.Errorf("metrics lack %s", want)
				}
			}
			// Logs are JSON lines.
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var v map[string]any
				if err := json.Unmarshal([]byte(line), &v); err != nil {
					t.Fatalf("log line is not JSON: %q", line)
				}
			}
		})
	}
}

func TestImportCommand(t *testing.T) {
	env := map[string]string{"DVCBOT_DATABASE_URL": filepath.Join(t.TempDir(), "x.db")}
	file := "../../testdata/tthc/procedures.jsonl.gz"
	code, out, stderr := runCmd(t, env, "import", "procedures", file)
	if code != 0 || !strings.Contains(out, "new 2849") {
		t.Fatalf("first import: %d %q %q", code, out, stderr)
	}
	code, out, _ = runCmd(t, env, "import", "procedures", file)
	if code != 0 || !strings.Contains(out, "unchanged 2849") {
		t.Fatalf("re-import: %d %q", code, out)
	}
	bad := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(bad, []byte("{\"code\":\"1.1\",\"name\":\"x\"}\n{oops\n"), 0o600)
	if code, _, stderr := runCmd(t, env, "import", "procedures", bad); code != exitFail || !strings.Contains(stderr, "line 2") {
		t.Fatalf("bad file: %d %q", code, stderr)
	}
	if code, out, _ := runCmd(t, env, "migrate"); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate: %d %q", code, out)
	}
}

func TestChannelAdminCommands(t *testing.T) {
	env := map[string]string{"DVCBOT_DATABASE_URL": filepath.Join(t.TempDir(), "c.db")}
	if code, out, _ := runCmd(t, env, "zalo", "set-token", "rt-seed"); code != 0 || !strings.Contains(out, "stored") {
		t.Fatalf("zalo set-token: %d %q", code, out)
	}
	if code, _, _ := runCmd(t, env, "zalo", "set-token"); code != exitConfig {
		t.Fatalf("zalo set-token without a token: %d", code)
	}
	code, out, _ := runCmd(t, env, "officer", "invite", "--name", "Trần Thị Bình", "--email", "binh@danang.gov.vn")
	if code != 0 || !strings.Contains(out, "/start ") {
		t.Fatalf("officer invite: %d %q", code, out)
	}
	if code, _, _ := runCmd(t, env, "officer", "invite", "--email", "x"); code != exitConfig {
		t.Fatalf("officer invite without a name: %d", code)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DVCBOT_ZALO_APP_ID": "1"}, "DVCBOT_ZALO_APP_SECRET"},
		{map[string]string{"DVCBOT_ZALO_APP_ID": "1", "DVCBOT_ZALO_APP_SECRET": "s"}, "DVCBOT_ZALO_OA_SECRET"},
		{map[string]string{"DVCBOT_TELEGRAM_TOKEN": "nocolon"}, "DVCBOT_TELEGRAM_TOKEN"},
		{map[string]string{"DVCBOT_TELEGRAM_TOKEN": "1:a"}, "DVCBOT_TELEGRAM_SECRET"},
		{map[string]string{"DVCBOT_TELEGRAM_TOKEN": "1:a", "DVCBOT_TELEGRAM_SECRET": "abc"}, "DVCBOT_PUBLIC_URL"},
		{map[string]string{"DVCBOT_TELEGRAM_SECRET": "bad secret!"}, "DVCBOT_TELEGRAM_SECRET"},
		{map[string]string{"DVCBOT_TELEGRAM_MODE": "push"}, "DVCBOT_TELEGRAM_MODE"},
	} {
		if code, _, stderr := runCmd(t, tc.env, "migrate"); code != exitConfig || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: %d %q; want exit 2 naming %s", tc.env, code, stderr, tc.want)
		}
	}
}
