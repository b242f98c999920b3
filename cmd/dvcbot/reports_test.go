package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/xuri/excelize/v2"

	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/core/rating"
)

const (
	rptAgencyA = "UBND phường Thạch Thang"
	rptAgencyB = "Sở Tư pháp Đà Nẵng"
)

func reportEventJSON(id, code, agency, officer string) string {
	return fmt.Sprintf(`{"event_id": %q, "occurred_at": %q, "status": "DA_TRA_KET_QUA",
	  "dossier": {"code": %q, "procedure_code": "1.001193", "procedure_name": "Đăng ký khai sinh",
	  "agency": %q, "officer": %q, "applicant_name": "Nguyễn Văn An", "applicant_phone": "0905123456",
	  "received_at": "2026-01-05T08:01:00+07:00", "due_at": "2026-01-10T17:00:00+07:00"}}`,
		id, time.Now().Add(-time.Hour).Format(time.RFC3339), code, agency, officer)
}

// Reports in the binary: the scoreboard, the feed with API keys, and a
// leader and an officer in a real Chromium (charts drawn, exports parsed).
func TestReportsInBrowser(t *testing.T) {
	dbURL := filepath.Join(t.TempDir(), "dvcbot.db")
	env := map[string]string{"DVCBOT_DATABASE_URL": dbURL, "DVCBOT_LOG_LEVEL": "error", "DVCBOT_DOSSIER_SECRET": testSecret}
	for _, u := range []struct{ email, role, agency, password string }{
		{"leader@example.gov.vn", "leader", "", "leader-password-1"},
		{"tam@example.gov.vn", "officer", rptAgencyA, "officer-password-1"},
	} {
		args := []string{"console", "user", "add", "--email", u.email, "--role", u.role, "--password-stdin"}
		if u.agency != "" {
			args = append(args, "--agency", u.agency)
		}
		if code, out, stderr := runCmdIn(t, env, u.password+"\n", args...); code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, stderr)
		}
	}
	key := func(role, agency string) string {
		args := []string{"apikey", "create", "--role", role, "--name", "portal-" + role}
		if agency != "" {
			args = append(args, "--agency", agency)
		}
		code, out, _ := runCmdIn(t, env, "", args...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if code != 0 {
			t.Fatalf("apikey: %s", out)
		}
		return lines[len(lines)-1]
	}
	leaderKey, officerKey := key("leader", ""), key("officer", rptAgencyA)
	base, _ := startServe(t, env)

	officers := map[string]string{"A1": "Lê Văn Tám", "A2": "Lê Văn Tám", "A3": "Phạm Thu Hà", "B1": "Võ Minh Quân"}
	levels := map[string]rating.Level{"A1": rating.RatHaiLong, "A2": rating.RatHaiLong, "A3": rating.KhongHaiLong, "B1": rating.HaiLong}
	codes := map[string]string{}
	db := openTestDB(t, dbURL)
	for i, k := range []string{"A1", "A2", "A3", "B1"} {
		agency := rptAgencyA
		if k[0] == 'B' {
			agency = rptAgencyB
		}
		codes[k] = fmt.Sprintf("000.00.%d.H17-260105-%04d", 40+i/3, i+1)
		if code, body := postEvent(t, base, reportEventJSON("rpt-"+k, codes[k], agency, officers[k]), testSecret); code != 200 {
			t.Fatalf("event: %d %s", code, body)
		}
		r := rating.Rating{DossierCode: codes[k], Level: levels[k], Channel: "sms", UserID: "84905123456", UpdatedAt: time.Now()}
		if r.Level == rating.KhongHaiLong {
			r.Reason = "Trả kết quả trễ hẹn"
		}
		if k == "A1" {
			r.Channel, r.Criteria = "webchat", map[rating.Criterion]rating.Level{"a": rating.RatHaiLong, "b": rating.HaiLong}
		}
		if _, err := db.Ratings().SaveRating(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("public scoreboard", func(t *testing.T) {
		resp, err := http.Get(base + "/cong-khai")
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		page := b.String()
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") == "" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=") {
			t.Fatalf("%d %v", resp.StatusCode, resp.Header)
		}
		for _, want := range []string{rptAgencyA, rptAgencyB, "66,67%", "100,00%", "Hộ tịch"} {
			if !strings.Contains(page, want) {
				t.Errorf("the scoreboard lacks %q", want)
			}
		}
		for _, secret := range []string{"Nguyễn Văn An", "Nguyễn V. A.", "0905123456", "84905123456", "Lê Văn Tám", "Phạm Thu Hà", "Võ Minh Quân", "trễ hẹn"} {
			if strings.Contains(page, secret) {
				t.Errorf("the scoreboard shows %q", secret)
			}
		}
	})

	t.Run("ratings feed", func(t *testing.T) {
		get := func(auth, q string) (int, map[string]any) {
			req, _ := http.NewRequest("GET", base+"/api/v1/ratings"+q, nil)
			if auth != "" {
				req.Header.Set("Authorization", "Bearer "+auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var v map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&v)
			return resp.StatusCode, v
		}
		if code, _ := get("", ""); code != 401 {
			t.Errorf("no key: %d", code)
		}
		if code, _ := get(officerKey, ""); code != 403 {
			t.Errorf("officer key: %d", code)
		}
		code, page := get(leaderKey, "?limit=3")
		items, _ := page["ratings"].([]any)
		if code != 200 || len(items) != 3 {
			t.Fatalf("page 1: %d %v", code, page)
		}
		first := items[0].(map[string]any)
		for _, f := range []string{"dossier_code", "procedure_code", "agency", "level", "criteria", "channel", "rated_at"} {
			if _, ok := first[f]; !ok {
				t.Errorf("feed item lacks %s: %v", f, first)
			}
		}
		body, _ := json.Marshal(page)
		if strings.Contains(string(body), "0905123456") || strings.Contains(string(body), "Nguyễn") || strings.Contains(string(body), "Tám") {
			t.Errorf("feed shows personal data: %s", body)
		}
		_, page2 := get(leaderKey, "?limit=3&since="+page["next_cursor"].(string))
		items2, _ := page2["ratings"].([]any)
		_, page3 := get(leaderKey, "?limit=3&since="+page2["next_cursor"].(string))
		items3, _ := page3["ratings"].([]any)
		if len(items2) != 1 || len(items3) != 0 || page3["next_cursor"] != page2["next_cursor"] {
			t.Errorf("pages 2 and 3: %v %v", page2, page3)
		}
	})

	allocCtx := channeltest.BrowserAllocator(t)

	signIn := func(t *testing.T, email, password string) context.Context {
		ctx, cancel := chromedp.NewContext(allocCtx)
		t.Cleanup(cancel)
		ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
		t.Cleanup(cancelT)
		if err := chromedp.Do(ctx,
			chromedp.Navigate(base+"/console/signin?next=%2Fconsole%2Freports"),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.SendKeys(chromedp.CSS(`#password`), password),
			chromedp.Click(chromedp.CSS(`#signin`)),
			chromedp.WaitVisible(chromedp.CSS(`#chart-trend`)),
		); err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("signing in as %s: %v\n%s", email, err, page)
		}
		return ctx
	}
	eval := func(t *testing.T, ctx context.Context, js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("%s: %v", js, err)
		}
		return v
	}
	// fetchExport downloads an export link as the page's user and returns
	// its file name and bytes.
	fetchExport := func(t *testing.T, ctx context.Context, sel string) (string, []byte) {
		t.Helper()
		out := eval(t, ctx, `(async () => { const r = await fetch(document.querySelector(`+"`"+sel+"`"+`).href);
			const b = new Uint8Array(await r.arrayBuffer()); let s = ''; for (const x of b) s += String.fromCharCode(x);
			return JSON.stringify({status: r.status, cd: r.headers.get('content-disposition'), b64: btoa(s)}); })()`)
		var v struct {
			Status int
			CD     string
			B64    string
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Status != 200 {
			t.Fatalf("export %s: %s %v", sel, out, err)
		}
		b, _ := base64.StdEncoding.DecodeString(v.B64)
		return v.CD, b
	}
	month := time.Now().In(time.FixedZone("ICT", 7*3600)).Format("2006-01")

	t.Run("leader", func(t *testing.T) {
		ctx := signIn(t, "leader@example.gov.vn", "leader-password-1")
		got := eval(t, ctx, `JSON.stringify({rows: document.querySelectorAll('#report tbody tr').length,
			bars: document.querySelectorAll('#chart-trend rect.bar').length, segs: document.querySelectorAll('#chart-stack rect.seg').length,
			crit: document.querySelectorAll('#chart-criteria rect.bar').length, line: !!document.querySelector('#chart-trend polyline.share'),
			share: document.querySelector('#share').textContent, total: document.querySelector('#total').textContent,
			width: document.querySelector('#chart-trend').getBoundingClientRect().width, vw: window.innerWidth})`)
		var v struct {
			Rows, Bars, Segs, Crit int
			Line                   bool
			Share, Total           string
			Width, VW              float64
		}
		_ = json.Unmarshal([]byte(got), &v)
		if v.Rows != 2 || v.Bars == 0 || v.Segs != 6 || v.Crit != 2 || !v.Line || v.Share != "75,00%" || v.Total != "4" || v.Width > v.VW {
			t.Errorf("leader's report: %s", got)
		}
		cd, body := fetchExport(t, ctx, "#csv")
		if !strings.Contains(cd, "danh-gia-hai-long_theo-don-vi_"+month+".csv") {
			t.Errorf("file name: %s", cd)
		}
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(body), "\uFEFF"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		want := [][]string{{"Cơ quan, đơn vị", "Tổng số đánh giá", "Rất hài lòng", "Hài lòng", "Không hài lòng", "Tỷ lệ hài lòng (%)"},
			{rptAgencyA, "3", "2", "0", "1", "66.67"}, {rptAgencyB, "1", "0", "1", "0", "100.00"}, {"Tổng cộng", "4", "2", "1", "1", "75.00"}}
		if len(recs) != len(want) {
			t.Fatalf("CSV: %q", recs)
		}
		for i, w := range want {
			if strings.Join(recs[i][:6], "|") != strings.Join(w, "|") {
				t.Errorf("CSV row %d: %q, want %q", i, recs[i][:6], w)
			}
		}
		// The dossiers behind agency A's figure.
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#report tbody tr:first-child th a`)), chromedp.WaitVisible(chromedp.CSS(`#rated`))); err != nil {
			t.Fatal(err)
		}
		if n := eval(t, ctx, `String(document.querySelectorAll('#rated tbody tr').length)`); n != "3" {
			t.Errorf("dossiers behind A: %s rows", n)
		}
	})

	t.Run("officer", func(t *testing.T) {
		ctx := signIn(t, "tam@example.gov.vn", "officer-password-1")
		got := eval(t, ctx, `JSON.stringify({rows: document.querySelectorAll('#report tbody tr').length,
			agency: document.querySelector('#agency').textContent, page: document.body.innerText})`)
		if !strings.Contains(got, `"rows":1`) || !strings.Contains(got, `"agency":"`+rptAgencyA+`"`) || strings.Contains(got, rptAgencyB) {
			t.Errorf("officer's report: %s", got)
		}
		cd, body := fetchExport(t, ctx, "#xlsx")
		if !strings.Contains(cd, ".xlsx") {
			t.Errorf("file name: %s", cd)
		}
		f, err := excelize.OpenReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := f.GetRows("Tong hop")
		if err != nil || len(rows) != 3 || rows[1][0] != rptAgencyA || rows[1][1] != "3" || rows[1][5] != "66.67" {
			t.Errorf("XLSX: %q %v", rows, err)
		}
		// Another agency is refused.
		status := eval(t, ctx, `fetch('/console/api/v1/reports?agency=`+strings.ReplaceAll(rptAgencyB, " ", "%20")+`').then(r => String(r.status))`)
		if status != "403" {
			t.Errorf("officer asking for another agency: %s", status)
		}
	})
}

// `dvcbot demo ratings --n N` fills an empty database; the reports add up.
func TestDemoRatingsCommand(t *testing.T) {
	dbURL := filepath.Join(t.TempDir(), "dvcbot.db")
	env := map[string]string{"DVCBOT_DATABASE_URL": dbURL, "DVCBOT_LOG_LEVEL": "error"}
	code, out, stderr := runCmdIn(t, env, "", "demo", "ratings", "--n", "2500", "--seed", "7")
	if code != 0 || !strings.Contains(out, "added 2500 ratings") {
		t.Fatalf("demo ratings: %d %s %s", code, out, stderr)
	}
	db := openTestDB(t, dbURL)
	var facts, ratings, rollup int
	for q, dst := range map[string]*int{"SELECT count(*) FROM rating_facts": &facts, "SELECT count(*) FROM ratings": &ratings,
		"SELECT coalesce(sum(n1 + n2 + n3), 0) FROM rating_rollup WHERE dim = 'agency'": &rollup} {
		if err := db.Bun().QueryRowContext(context.Background(), q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	if facts != 2500 || ratings != 2500 || rollup != 2500 {
		t.Errorf("facts %d, ratings %d, roll-up total %d; want 2500 each", facts, ratings, rollup)
	}
	if code, _, _ := runCmdIn(t, env, "", "demo", "ratings"); code != 2 {
		t.Errorf("without --n: exit %d, want 2", code)
	}
}
