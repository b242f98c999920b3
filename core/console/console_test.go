package console_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/console"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/search"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const (
	haiChau = "UBND phường Hải Châu"
	thanhKe = "UBND phường Thanh Khê"
	pw      = "correct horse battery"
)

type fixture struct {
	db      *store.DB
	srv     *httptest.Server
	keys    map[string]string // role name → API key
	tuner   *console.Tuner
	failed  int64 // a failed outbox message
	pending int64 // a pending one
}

func event(id, code, agency string) dossier.Event {
	now := time.Now().UTC().Add(-time.Hour)
	d := dossier.Dossier{Code: code, ProcedureCode: "1.001193", ProcedureName: "Đăng ký khai sinh", Agency: agency,
		ApplicantName: "Nguyễn Văn An", ApplicantPhone: "84905123456", Status: dossier.DangXuLy, StatusAt: now, LastEventID: id}
	return dossier.Event{ID: id, OccurredAt: now, Status: dossier.DangXuLy, Dossier: d,
		Payload: json.RawMessage(`{"event_id":"` + id + `","dossier":{"code":"` + code + `","applicant_name":"Nguyễn Văn An","applicant_phone":"0905123456"}}`)}
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx := context.Background()
	cs := db.Console()
	f := &fixture{db: db, keys: map[string]string{}}
	for _, a := range []struct {
		name   string
		role   console.Role
		agency string
	}{{"admin", console.Admin, ""}, {"leader", console.Leader, ""}, {"officer", console.Officer, haiChau},
		{"viewer", console.Viewer, ""}, {"scopedviewer", console.Viewer, haiChau}} {
		_, secret, err := console.CreateAPIKey(ctx, cs, a.name, a.role, a.agency)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[a.name] = secret
	}
	if _, err := db.Dossiers().ApplyEvents(ctx, []dossier.Event{event("e1", "000.00.20.H17-261102-0101", haiChau),
		event("e2", "000.00.31.H17-261102-0102", thanhKe)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Outbox().Enqueue(ctx, notify.Message{Kind: notify.Email, Recipient: "lan@example.gov.vn", DedupeKey: "k1",
		Payload: notify.Payload{Subject: "Thay đổi thủ tục", Text: "x"}}, notify.Message{Kind: notify.Email, Recipient: "b@example.gov.vn", DedupeKey: "k2",
		Payload: notify.Payload{Text: "y"}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := db.Outbox().Claim(ctx, []string{notify.Email}, 1, time.Minute)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("claim: %v %v", msgs, err)
	}
	if ok, err := db.Outbox().Fail(ctx, msgs[0], "550 mailbox unavailable", false); !ok || err != nil {
		t.Fatalf("fail: %v %v", ok, err)
	}
	f.failed, f.pending = msgs[0].ID, msgs[0].ID+1
	f.tuner = console.NewTuner(cs, time.Second, nil)
	srv, err := console.New(console.Config{Store: cs, Ops: cs, Tuner: f.tuner, ZaloCredential: "zalo_oa",
		Invite: func(ctx context.Context, name, email string) (int64, string, error) {
			code := console.NewToken("")[:12]
			o, err := db.Officers().CreateInvite(ctx, name, email, code, time.Now().Add(time.Hour))
			return o.ID, code, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) call(t *testing.T, who, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+f.keys[who])
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Every route, for every role: the status the role gets.
func TestAPIRolesOnEveryEndpoint(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		type want struct{ admin, leader, officer, viewer, scoped int }
		all := want{200, 200, 200, 200, 200}
		ops := want{200, 200, 403, 200, 403}
		adm := want{200, 403, 403, 403, 403}
		tests := []struct {
			method, path, body string
			want               want
		}{
			{"GET", "/console/api/v1/session", "", all},
			{"GET", "/console/api/v1/dossiers", "", all},
			{"GET", "/console/api/v1/dossiers?agency=" + strings.ReplaceAll(thanhKe, " ", "+"), "", want{200, 200, 403, 200, 403}},
			{"GET", "/console/api/v1/dossiers/000.00.20.H17-261102-0101", "", all},
			{"GET", "/console/api/v1/dossiers/000.00.31.H17-261102-0102", "", want{200, 200, 403, 200, 403}},
			{"GET", "/console/api/v1/dossiers/000.00.31.H17-261102-9999", "", want{404, 404, 404, 404, 404}},
			{"GET", "/console/api/v1/officers", "", all},
			{"POST", "/console/api/v1/officers", `{"name":"Lan"}`, want{200, 403, 200, 403, 403}},
			{"POST", "/console/api/v1/officers", `{"name":"Minh","agency":"` + thanhKe + `"}`, want{200, 403, 403, 403, 403}},
			{"GET", "/console/api/v1/subscriptions", "", ops},
			{"POST", "/console/api/v1/subscriptions", `{"kind":"email","address":"ttdvc@danang.gov.vn"}`, adm},
			{"DELETE", "/console/api/v1/subscriptions/email/ttdvc@danang.gov.vn", "", want{204, 403, 403, 403, 403}},
			{"GET", "/console/api/v1/sync/runs", "", ops},
			{"GET", "/console/api/v1/sync/skipped", "", ops},
			{"GET", "/console/api/v1/outbox?state=failed", "", ops},
			{"GET", "/console/api/v1/outbox?state=bogus", "", want{400, 400, 403, 400, 403}},
			{"POST", "/console/api/v1/outbox/{pending}/retry", "", want{409, 403, 403, 403, 403}},
			{"POST", "/console/api/v1/outbox/{failed}/retry", "", adm},
			{"POST", "/console/api/v1/outbox/{failed}/cancel", "", want{409, 403, 403, 403, 403}},
			{"GET", "/console/api/v1/optouts", "", ops},
			{"POST", "/console/api/v1/optouts", `{"phone":"0905123456"}`, adm},
			{"DELETE", "/console/api/v1/optouts/84905123456", "", want{204, 403, 403, 403, 403}},
			{"GET", "/console/api/v1/health", "", ops},
			{"GET", "/console/api/v1/search/misses", "", ops},
			{"GET", "/console/api/v1/search/overrides", "", ops},
			{"POST", "/console/api/v1/search/overrides", `{"kind":"stopword","term":"ạ"}`, adm},
			{"DELETE", "/console/api/v1/search/overrides/1", "", want{204, 403, 403, 403, 403}},
			{"GET", "/console/api/v1/audit", "", adm},
			{"GET", "/console/api/v1/audit.csv", "", adm},
			{"GET", "/console/api/v1/accounts", "", adm},
			{"POST", "/console/api/v1/accounts", `{"email":"hoa@example.gov.vn","role":"viewer","password":"` + pw + `"}`, adm},
			{"PATCH", "/console/api/v1/accounts/1", `{"closed":true}`, adm},
			{"GET", "/console/api/v1/apikeys", "", adm},
			{"POST", "/console/api/v1/apikeys", `{"name":"bi","role":"viewer"}`, adm},
			{"DELETE", "/console/api/v1/apikeys/99", "", want{404, 403, 403, 403, 403}},
		}
		roles := []string{"leader", "officer", "viewer", "scopedviewer", "admin"} // admin last: its writes change state
		for _, tc := range tests {
			path := strings.NewReplacer("{pending}", itoa(f.pending), "{failed}", itoa(f.failed)).Replace(tc.path)
			for _, role := range roles {
				w := map[string]int{"admin": tc.want.admin, "leader": tc.want.leader, "officer": tc.want.officer,
					"viewer": tc.want.viewer, "scopedviewer": tc.want.scoped}[role]
				if code, body := f.call(t, role, tc.method, path, tc.body); code != w {
					t.Errorf("%s %s as %s: %d, want %d: %s", tc.method, path, role, code, w, body)
				}
			}
		}
		if code, _ := f.call(t, "", "GET", "/console/api/v1/dossiers", ""); code != 401 {
			t.Errorf("no credentials: %d, want 401", code)
		}
	})
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

// An officer sees only its agency's dossiers; the viewer key is read-only.
func TestScopeAndReadOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		var got struct {
			Agency   string               `json:"agency"`
			Dossiers []console.DossierRow `json:"dossiers"`
		}
		_, body := f.call(t, "officer", "GET", "/console/api/v1/dossiers", "")
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if got.Agency != haiChau || len(got.Dossiers) != 1 || got.Dossiers[0].Agency != haiChau || got.Dossiers[0].Applicant != "Nguyễn V. A." {
			t.Fatalf("officer's dossiers: %s", body)
		}
		for _, write := range []struct{ method, path, body string }{
			{"POST", "/console/api/v1/optouts", `{"phone":"0905123456"}`},
			{"POST", "/console/api/v1/officers", `{"name":"X"}`},
			{"POST", "/console/api/v1/outbox/" + itoa(f.failed) + "/retry", ""},
		} {
			if code, _ := f.call(t, "viewer", write.method, write.path, write.body); code != http.StatusForbidden {
				t.Errorf("viewer %s %s: %d, want 403", write.method, write.path, code)
			}
		}
	})
}

// A failed message shows its error and is queued again by one retry.
func TestOutboxRetry(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		_, body := f.call(t, "admin", "GET", "/console/api/v1/outbox?state=failed", "")
		var list struct {
			Messages []console.OutboxMessage `json:"messages"`
		}
		_ = json.Unmarshal([]byte(body), &list)
		if len(list.Messages) != 1 || list.Messages[0].LastError != "550 mailbox unavailable" || list.Messages[0].Subject != "Thay đổi thủ tục" {
			t.Fatalf("failed list: %s", body)
		}
		code, body := f.call(t, "admin", "POST", "/console/api/v1/outbox/"+itoa(f.failed)+"/retry", "")
		var m console.OutboxMessage
		_ = json.Unmarshal([]byte(body), &m)
		if code != 200 || m.State != notify.Pending || m.Attempts != 0 {
			t.Fatalf("retry: %d %s", code, body)
		}
		claimed, err := db.Outbox().Claim(context.Background(), []string{notify.Email}, 10, time.Minute)
		if err != nil || len(claimed) != 2 {
			t.Fatalf("after retry the worker claims %d messages (%v), want 2", len(claimed), err)
		}
		entries, _ := db.Console().Audit(context.Background(), console.AuditFilter{Action: "outbox.retry"})
		if len(entries) != 1 || entries[0].Actor != "apikey:admin" ||
			entries[0].Before != `{"attempts":1,"last_error":"550 mailbox unavailable","state":"failed"}` ||
			entries[0].After != `{"attempts":0,"last_error":"550 mailbox unavailable","state":"pending"}` {
			t.Fatalf("audit of the retry: %+v", entries)
		}
	})
}

// A miss typed by a citizen is counted; a synonym added on one replica
// makes the same query succeed on another after its refresh.
func TestMissesAndSynonymsAcrossReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		an, err := search.NewAnalyzer()
		if err != nil {
			t.Fatal(err)
		}
		holder := search.NewHolder(search.Build([]catalog.Procedure{{Code: "1.001193", Name: "Đăng ký khai sinh", Status: "active"}}, an))
		replica2 := console.NewTuner(db.Console(), time.Second, nil)
		if _, err := replica2.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		bot1, bot2 := f.tuner.Searcher(holder), replica2.Searcher(holder)
		const q = "làm giấy chào đời"
		if hits := bot1.Search(q, 3, 0); len(hits) != 0 {
			t.Fatalf("before the synonym: %v", hits)
		}
		bot1.Search(q, 3, 0)
		if err := f.tuner.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		_, body := f.call(t, "leader", "GET", "/console/api/v1/search/misses", "")
		var misses struct {
			Misses []console.Miss `json:"misses"`
		}
		_ = json.Unmarshal([]byte(body), &misses)
		if len(misses.Misses) != 1 || misses.Misses[0].Query != q || misses.Misses[0].Count != 2 || misses.Misses[0].Kind != "none" {
			t.Fatalf("misses: %s", body)
		}
		if code, body := f.call(t, "admin", "POST", "/console/api/v1/search/overrides", `{"kind":"synonym","term":"giấy chào đời","replacement":"khai sinh"}`); code != 200 {
			t.Fatalf("adding the synonym: %d %s", code, body)
		}
		if changed, err := replica2.Refresh(context.Background()); !changed || err != nil {
			t.Fatalf("replica 2 refresh: %v %v", changed, err)
		}
		if hits := bot2.Search(q, 3, 0); len(hits) == 0 || hits[0].Code != "1.001193" {
			t.Fatalf("replica 2 after the synonym: %v", hits)
		}
	})
}

// A look-up on a channel is in the audit log with its tier; a user is
// found by its id though only a hash is kept.
func TestLookupAudit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		if err := db.LookupAudit().Record(context.Background(), "webchat", "ws-stranger-1", "000.00.20.H17-261102-0101", 0); err != nil {
			t.Fatal(err)
		}
		_, body := f.call(t, "admin", "GET", "/console/api/v1/audit?action=dossier.lookup&channel=webchat&user=ws-stranger-1", "")
		var got struct {
			Entries []console.AuditEntry `json:"entries"`
		}
		_ = json.Unmarshal([]byte(body), &got)
		if len(got.Entries) != 1 || got.Entries[0].Dossier != "000.00.20.H17-261102-0101" || got.Entries[0].Tier == nil ||
			*got.Entries[0].Tier != 0 || got.Entries[0].Agency != haiChau || strings.Contains(body, "ws-stranger-1") {
			t.Fatalf("look-up audit: %s", body)
		}
	})
}

// Sign-in: the form works without JavaScript, wrong passwords lock the
// account, a cross-site POST is refused.
func TestSignInFormLockAndCrossSite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		hash, _ := console.HashPassword(pw)
		if _, err := db.Console().CreateAccount(context.Background(), console.Account{Email: "lan@example.gov.vn", Role: console.Officer, Agency: haiChau}, hash); err != nil {
			t.Fatal(err)
		}
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		post := func(password string, header map[string]string) *http.Response {
			req, _ := http.NewRequest("POST", f.srv.URL+"/console/signin", strings.NewReader("email=lan%40example.gov.vn&password="+strings.ReplaceAll(password, " ", "+")))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp
		}
		if r := post(pw, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}); r.StatusCode != 403 {
			t.Fatalf("cross-site sign-in: %d", r.StatusCode)
		}
		r := post(pw, map[string]string{"Sec-Fetch-Site": "same-origin"})
		cookie := r.Header.Get("Set-Cookie")
		if r.StatusCode != 303 || r.Header.Get("Location") != "/console" || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
			t.Fatalf("sign-in: %d %v", r.StatusCode, r.Header)
		}
		codes := []int{}
		for range console.MaxFailures + 1 {
			codes = append(codes, post("wrong password!", nil).StatusCode)
		}
		codes = append(codes, post(pw, nil).StatusCode)
		want := []int{401, 401, 401, 401, 401, 423, 423}
		if jsonOf(codes) != jsonOf(want) {
			t.Fatalf("sign-in codes %v, want %v", codes, want)
		}
	})
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// A procedure the national portal would not serve is listed on the sync
// page and in the API, with why, how often it was tried and whether the
// syncs still ask for it.
func TestSyncSkipsShown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db)
		now := time.Now().UTC()
		for _, k := range []struct {
			id       int64
			reason   string
			attempts int
		}{{1010, "invalid", 2}, {1011, "not_found", 10}} {
			if _, err := db.Bun().NewRaw(`INSERT INTO sync_skipped (system_id, reason, error, attempts, first_run, last_run, first_seen, last_seen)
				VALUES (?, ?, 'procedure: unusable', ?, 1, 3, ?, ?)`, k.id, k.reason, k.attempts, now, now).Exec(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		code, body := f.call(t, "viewer", "GET", "/console/api/v1/sync/skipped", "")
		var got struct {
			Skipped []catalogsync.Skip `json:"skipped"`
		}
		if err := json.Unmarshal([]byte(body), &got); code != 200 || err != nil {
			t.Fatalf("GET sync/skipped: %d %s %v", code, body, err)
		}
		if len(got.Skipped) != 2 || got.Skipped[0].SystemID != 1010 || !got.Skipped[0].Retried ||
			got.Skipped[1].SystemID != 1011 || got.Skipped[1].Retried || got.Skipped[1].Reason != "not_found" {
			t.Fatalf("skipped %+v", got.Skipped)
		}
		hash, _ := console.HashPassword(pw)
		if _, err := db.Console().CreateAccount(context.Background(), console.Account{Email: "ops@example.gov.vn", Role: console.Admin}, hash); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", f.srv.URL+"/console/signin", strings.NewReader("email=ops%40example.gov.vn&password="+strings.ReplaceAll(pw, " ", "+")))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := noRedirect.Do(req)
		if err != nil || resp.StatusCode != 303 {
			t.Fatalf("sign-in: %v %v", resp, err)
		}
		resp.Body.Close()
		req, _ = http.NewRequest("GET", f.srv.URL+"/console/sync?lang=en", nil)
		for _, c := range resp.Cookies() {
			req.AddCookie(c)
		}
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		code, page := resp.StatusCode, string(b)
		for _, want := range []string{`<table id="skipped">`, "<td>1010</td>", "Unusable content", "Unknown to the portal", "no longer retried"} {
			if code != 200 || !strings.Contains(page, want) {
				t.Fatalf("sync page (%d) lacks %q:\n%s", code, want, page)
			}
		}
	})
}
