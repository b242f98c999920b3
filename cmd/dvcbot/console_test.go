package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/channels/email/emailtest"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
)

// runCmdIn runs the binary's entry with stdin.
func runCmdIn(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb syncBuffer
	code := run(context.Background(), args, envFrom(env), strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// waitUntil polls cond on a ticker until it holds or 30 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("waited 30 s for %s", what)
		}
	}
}

func openTestDB(t *testing.T, url string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

const haiChau = "UBND phường Hải Châu"

// The done criterion, in the binary and a real Chromium.
func TestConsoleDoneWhen(t *testing.T) {
	dbURL := filepath.Join(t.TempDir(), "dvcbot.db")
	env := map[string]string{"DVCBOT_DATABASE_URL": dbURL, "DVCBOT_LOG_LEVEL": "error", "DVCBOT_OUTBOX_MAX_ATTEMPTS": "1"}
	users := []struct{ email, role, agency, password string }{
		{"lan@example.gov.vn", "officer", haiChau, "lan-password-1"},
		{"admin@example.gov.vn", "admin", "", "admin-password-1"},
		{"leader@example.gov.vn", "leader", "", "leader-password-1"},
		{"viewer@example.gov.vn", "viewer", "", "viewer-password-1"},
	}
	for _, u := range users {
		args := []string{"console", "user", "add", "--email", u.email, "--role", u.role, "--password-stdin"}
		if u.agency != "" {
			args = append(args, "--agency", u.agency)
		}
		code, out, stderr := runCmdIn(t, env, u.password+"\n", args...)
		if code != 0 || !strings.Contains(out, u.email+", "+u.role) {
			t.Fatalf("%v: %d %s %s", args, code, out, stderr)
		}
	}
	code, out, _ := runCmdIn(t, env, "", "apikey", "create", "--role", "viewer", "--name", "bi-dashboard")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	viewerKey := lines[len(lines)-1]
	if code != 0 || !strings.HasPrefix(viewerKey, "dvck_") || strings.Contains(viewerKey, " ") {
		t.Fatalf("apikey create: %d %q", code, out)
	}

	// A mail server that is down: the alert fails with its error.
	down := freeAddr(t)
	var alertID int64
	t.Run("mail server down", func(t *testing.T) {
		e := map[string]string{"DVCBOT_SMTP_URL": "smtp://u:p@" + down, "DVCBOT_ALERT_FROM": "dvcbot <alerts@dvc.example.gov.vn>"}
		for k, v := range env {
			e[k] = v
		}
		startServe(t, e)
		db := openTestDB(t, dbURL)
		if _, err := db.Outbox().Enqueue(context.Background(), notify.Message{Kind: notify.Email, Recipient: "ttdvc@danang.gov.vn",
			DedupeKey: "alert-1", Payload: notify.Payload{Subject: "Thay đổi thủ tục", Text: "1.001193 phí thay đổi"}}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "the alert to fail", func() bool {
			msgs, _ := db.Outbox().Messages(context.Background(), notify.Email)
			for _, m := range msgs {
				if m.DedupeKey == "alert-1" {
					alertID = m.ID
					return m.State == notify.Failed
				}
			}
			return false
		})
	})

	smtp := emailtest.Start(t)
	e := map[string]string{"DVCBOT_SMTP_URL": "smtp://" + smtp.User + ":" + smtp.Pass + "@" + smtp.Addr, "DVCBOT_SMTP_CA_FILE": smtp.CAFile,
		"DVCBOT_ALERT_FROM": "dvcbot <alerts@dvc.example.gov.vn>", "DVCBOT_DOSSIER_SECRET": testSecret}
	for k, v := range env {
		e[k] = v
	}
	base, logs := startServe(t, e)
	// Another agency's dossier (the demo's are all Hải Châu's).
	if code, body := postEvent(t, base, eventJSON("other-1", "000.00.20.H17-261120-0042", "DANG_XU_LY"), testSecret); code != 200 {
		t.Fatalf("event: %d %s", code, body)
	}

	// A viewer key may read, not write.
	for _, tc := range []struct {
		method, path, body string
		want               int
	}{
		{"GET", "/console/api/v1/dossiers", "", 200},
		{"POST", "/console/api/v1/optouts", `{"phone":"0905123456"}`, 403},
		{"POST", "/console/api/v1/outbox/" + fmt.Sprint(alertID) + "/retry", "", 403},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Authorization", "Bearer "+viewerKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("viewer key %s %s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}

	// A page on another site that posts to the console.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/console/optouts"><input name="do" value="add"><input name="phone" value="0905999888"></form><script>document.getElementById('f').submit()</script>`, base)
	}))
	defer evil.Close()
	evilURL := strings.Replace(evil.URL, "127.0.0.1", "localhost", 1)

	ctx := channeltest.Browser(t, 120*time.Second)
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
			t.Fatalf("browser, %s: %v\npage now:\n%s\nlogs:\n%s", step, err, page, logs.String())
		}
	}
	text := func() string {
		s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		fail("reading the page", err)
		return s
	}
	signIn := func(email, password string) {
		t.Helper()
		fail("sign in "+email, chromedp.Do(ctx,
			chromedp.Navigate(base+"/console/signin"),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.SendKeys(chromedp.CSS(`#password`), password),
			chromedp.Click(chromedp.CSS(`#signin`)),
			chromedp.WaitVisible(chromedp.CSS(`#scope`)),
		))
	}
	signOut := func() {
		t.Helper()
		fail("sign out", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`header form button`)), chromedp.WaitVisible(chromedp.CSS(`#signin`))))
	}
	status := func(path string) int {
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(`fetch(%q).then(r => r.status)`, path), chromedp.EvalAwaitPromise))
		fail("fetch "+path, err)
		return n
	}

	// Lan, officer of Hải Châu, sees Hải Châu's dossiers only.
	signIn("lan@example.gov.vn", "lan-password-1")
	if s := text(); !strings.Contains(s, "Phạm vi dữ liệu: "+haiChau) || strings.Contains(s, "Hộp thư đi") {
		t.Fatalf("officer's home:\n%s", s)
	}
	fail("dossiers", chromedp.Do(ctx, chromedp.Navigate(base+"/console/dossiers"), chromedp.WaitVisible(chromedp.CSS(`#dossiers`))))
	agencies, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#dossiers td.agency')].map(e => e.textContent)`))
	fail("agencies", err)
	if len(agencies) != 12 {
		t.Fatalf("officer sees %d dossiers, want the 12 of %s: %v", len(agencies), haiChau, agencies)
	}
	for _, a := range agencies {
		if a != haiChau {
			t.Fatalf("officer of %s sees a dossier of %q", haiChau, a)
		}
	}
	for path, want := range map[string]int{
		"/console/api/v1/dossiers?agency=UBND+ph%C6%B0%E1%BB%9Dng+H%E1%BA%A3i+Ch%C3%A2u+I": 403,
		"/console/api/v1/dossiers/000.00.20.H17-261120-0042":                               403,
		"/console/api/v1/dossiers/000.00.20.H17-261102-0002":                               200,
		"/console/outbox":   403,
		"/console/accounts": 403,
	} {
		if got := status(path); got != want {
			t.Errorf("officer GET %s: %d, want %d", path, got, want)
		}
	}
	signOut()
	if got := status("/console/api/v1/dossiers"); got != 401 {
		t.Errorf("after sign-out: %d, want 401", got)
	}

	// The leader reads the operator pages; the viewer may not manage accounts.
	signIn("leader@example.gov.vn", "leader-password-1")
	if got, got2 := status("/console/sync"), status("/console/accounts"); got != 200 || got2 != 403 {
		t.Errorf("leader: sync %d, accounts %d; want 200, 403", got, got2)
	}
	signOut()
	signIn("viewer@example.gov.vn", "viewer-password-1")
	if got, got2 := status("/console/health"), status("/console/audit"); got != 200 || got2 != 403 {
		t.Errorf("viewer: health %d, audit %d; want 200, 403", got, got2)
	}
	signOut()

	// The admin sees the failed alert with its error and resends it with one click.
	signIn("admin@example.gov.vn", "admin-password-1")
	row := fmt.Sprintf("#msg-%d", alertID)
	fail("outbox", chromedp.Do(ctx, chromedp.Navigate(base+"/console/outbox?state=failed"), chromedp.WaitVisible(chromedp.CSS(row+` .retry`))))
	lastErr, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(row+` .last-error`)))
	fail("last error", err)
	if !strings.Contains(lastErr, down) {
		t.Fatalf("the failed alert's error %q does not name the mail server %s", lastErr, down)
	}
	fail("retry", chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row+` .retry`)), chromedp.WaitVisible(chromedp.CSS(`.flash`))))
	waitUntil(t, "the resent alert", func() bool { return len(smtp.Messages()) == 1 })
	if m := smtp.Messages()[0]; len(m.To) != 1 || m.To[0] != "ttdvc@danang.gov.vn" {
		t.Fatalf("resent to %v", m.To)
	}

	// A cross-site POST carrying the admin's session is refused.
	fail("cross-site post", chromedp.Do(ctx, chromedp.Navigate(evilURL)))
	_, err = chromedp.Run(ctx, chromedp.Poll[bool](`document.body && document.body.innerText.includes('cross-origin request refused')`, chromedp.WithPollingTimeout(20*time.Second)))
	fail("cross-site post refused", err)
	fail("opt-outs", chromedp.Do(ctx, chromedp.Navigate(base+"/console/optouts"), chromedp.WaitVisible(chromedp.CSS(`main h1`))))
	if s := text(); strings.Contains(s, "84905999888") {
		t.Fatalf("the cross-site POST added an opt-out:\n%s", s)
	}
	fail("audit", chromedp.Do(ctx, chromedp.Navigate(base+"/console/audit"), chromedp.WaitVisible(chromedp.CSS(`#audit`))))
	if s := text(); !strings.Contains(s, "outbox.retry") || !strings.Contains(s, "request.cross_origin_refused") || !strings.Contains(s, "signin.ok") {
		t.Fatalf("audit log page:\n%s", s)
	}
	signOut()
	if strings.Contains(logs.String(), "demo console admin created") {
		t.Fatal("a demo admin was created although accounts exist")
	}
}

// `dvcbot retention run` with DVCBOT_RETENTION=1s leaves no inbound text.
func TestRetentionRunCommand(t *testing.T) {
	dbURL := filepath.Join(t.TempDir(), "dvcbot.db")
	env := map[string]string{"DVCBOT_DATABASE_URL": dbURL, "DVCBOT_LOG_LEVEL": "error", "DVCBOT_RETENTION": "1s"}
	if code, out, stderr := runCmdIn(t, env, "", "migrate"); code != 0 {
		t.Fatalf("migrate: %s %s", out, stderr)
	}
	db := openTestDB(t, dbURL)
	ctx := context.Background()
	at := time.Now().Add(-time.Minute).UTC()
	for i, text := range []string{"dvc 000.00.20.H17-261102-0001", "1234"} {
		if _, err := db.Bun().NewRaw(`INSERT INTO inbound (channel, message_id, sender, text, payload, state, attempts, received_at, claimed_at)
			VALUES ('sms', ?, '84905123456', ?, '{"phone":"84905123456"}', 'done', 1, ?, ?)`, fmt.Sprint("m", i), text, at, at).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		var n int
		if err := db.Bun().QueryRowContext(ctx, "SELECT count(*) FROM inbound WHERE text <> '' OR payload IS NOT NULL").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 2 {
		t.Fatalf("before: %d inbound texts", n)
	}
	code, out, stderr := runCmdIn(t, env, "", "retention", "run")
	if code != 0 || !strings.Contains(out, "retention 1s: 2 inbound messages stripped") {
		t.Fatalf("retention run: %d %s %s", code, out, stderr)
	}
	if n := count(); n != 0 {
		t.Fatalf("after retention: %d inbound texts left", n)
	}
}
