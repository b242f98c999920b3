package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/report"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const (
	agencyA = "UBND phường Thanh Khê"
	agencyB = "Sở Tư pháp"
)

var vn = report.Local()

// clock is the bot's settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func at(s string) time.Time      { t, _ := time.ParseInLocation("2006-01-02 15:04", s, vn); return t }
func pct(p *float64) string      { return fmt.Sprintf("%.2f", deref(p)) }
func deref(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// pushDossier stores a dossier with its result returned, rateable.
func pushDossier(t *testing.T, db *store.DB, code, agency, phone, officer string, when time.Time) {
	t.Helper()
	d := dossier.Dossier{Code: code, ProcedureCode: "1.001193", ProcedureName: "Đăng ký khai sinh", Agency: agency,
		ApplicantName: "Trần Thị Bích", ApplicantPhone: phone, Officer: officer}
	res, err := db.Dossiers().ApplyEvents(context.Background(), []dossier.Event{{ID: "ev-" + code, OccurredAt: when,
		Status: dossier.DaTraKetQua, Dossier: d, Payload: []byte(`{}`)}})
	if err != nil || res[0].Result != dossier.Accepted {
		t.Fatalf("pushing %s: %v %v", code, res, err)
	}
}

type botUser struct {
	bot  *citizen.Bot
	in   message.Inbound
	caps message.Capabilities
}

func (u botUser) say(t *testing.T, text string) string {
	t.Helper()
	in := u.in
	in.Text = text
	return u.bot.Handle(context.Background(), in, u.caps).Text
}

func smsUser(b *citizen.Bot, phone string) botUser {
	return botUser{b, message.Inbound{Channel: message.SMS, UserID: phone, Phone: phone}, message.Capabilities{}}
}

func webUser(b *citizen.Bot, id string) botUser {
	return botUser{b, message.Inbound{Channel: message.WebChat, UserID: id}, message.Capabilities{Buttons: true}}
}

// The done criterion: ratings made through the SMS and web-chat
// dialogs for dossiers of two agencies; the agency report and its CSV give
// exactly those counts and shares.
func TestAgencyReportFromBotRatings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: at("2026-03-10 09:00")}
		bot, _ := citizentest.New(t, db, clk.now(), citizen.WithClock(clk.now))
		const pa, pb = "84905111222", "84912333444"
		codes := map[string]string{}
		for i, x := range []struct{ key, agency, phone, officer string }{
			{"A1", agencyA, pa, "Lê Văn Tám"}, {"A2", agencyA, pa, "Lê Văn Tám"}, {"A3", agencyA, pa, "Phạm Thu Hà"}, {"A4", agencyA, pa, "Phạm Thu Hà"},
			{"B1", agencyB, pb, "Võ Minh Quân"}, {"B2", agencyB, pb, "Võ Minh Quân"}, {"B3", agencyB, pb, "Đỗ Ngọc Lan"},
		} {
			codes[x.key] = fmt.Sprintf("000.00.%d.H17-260301-%04d", 30+i/4, i+1)
			pushDossier(t, db, codes[x.key], x.agency, x.phone, x.officer, at("2026-03-05 10:00"))
		}
		smsA, smsB := smsUser(bot, pa), smsUser(bot, pb)
		webA, webB := webUser(bot, "cookie-a"), webUser(bot, "cookie-b")
		steps := []struct {
			u          botUser
			text, want string
		}{
			{smsA, "DG " + codes["A1"] + " 1", "Rất hài lòng"},
			{smsA, "DG " + codes["A2"] + " 2", "Hài lòng"},
			{smsA, "DG " + codes["A3"] + " 3 Trả kết quả trễ hẹn", "Không hài lòng"},
			{webA, "DG " + codes["A4"] + " 2", "4 số cuối"},
			{webA, "1222", "Hài lòng"},
			{webA, "TC " + codes["A4"] + " a 1", ""},
			{webA, "TC " + codes["A4"] + " b 3", ""},
			{smsB, "DG " + codes["B1"] + " 1", "Rất hài lòng"},
			{webB, "DG " + codes["B2"] + " 3", "4 số cuối"},
			{webB, "3444", "lý do"},
			{webB, "Cán bộ hướng dẫn chưa rõ ràng", "Không hài lòng"},
			{smsB, "DG " + codes["B3"] + " 2", "Hài lòng"},
		}
		for i, s := range steps {
			clk.set(at("2026-03-10 09:00").Add(time.Duration(i) * time.Minute))
			if got := s.u.say(t, s.text); !strings.Contains(strings.ToLower(got), strings.ToLower(s.want)) {
				t.Fatalf("step %d %q: bot said %q, want %q in it", i, s.text, got, s.want)
			}
		}
		a4, err := db.Ratings().Rating(ctx, codes["A4"])
		if err != nil || a4.Channel != message.WebChat || a4.Criteria["a"] != rating.RatHaiLong || a4.Criteria["b"] != rating.KhongHaiLong {
			t.Fatalf("web-chat rating of A4: %+v %v", a4, err)
		}

		per, _ := report.ParsePeriod(report.Month, "2026-03", "", "", time.Now())
		rep, err := report.Build(ctx, db.Reports(), report.Query{Period: per, Dim: report.ByAgency})
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			agency         string
			total, r, h, k int64
			share          string
			critA, critB   string
		}{
			{agencyA, 4, 1, 2, 1, "75.00", "2.00", "0.00"},
			{agencyB, 3, 1, 1, 1, "66.67", "-1.00", "-1.00"},
		}
		if len(rep.Rows) != len(want) {
			t.Fatalf("rows %+v", rep.Rows)
		}
		for i, w := range want {
			r := rep.Rows[i]
			if r.Key != w.agency || r.Total != w.total || r.RHL != w.r || r.HL != w.h || r.KHL != w.k || pct(r.Share) != w.share ||
				pct(r.Criteria[0]) != w.critA || pct(r.Criteria[1]) != w.critB || r.PrevTotal != 0 || r.Delta != nil {
				t.Errorf("row %d: %+v share %s, want %+v", i, r, pct(r.Share), w)
			}
		}
		if rep.Total.Total != 7 || pct(rep.Total.Share) != "71.43" {
			t.Errorf("total %+v share %s", rep.Total, pct(rep.Total.Share))
		}
		if len(rep.Reasons) != 2 || rep.Reasons[0].Reason != "Cán bộ hướng dẫn chưa rõ ràng" || rep.Reasons[1].Reason != "Trả kết quả trễ hẹn" {
			t.Errorf("reasons %+v", rep.Reasons)
		}

		// The CSV says the same.
		var buf bytes.Buffer
		if err := report.WriteCSV(&buf, report.SummaryTable(rep)); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(buf.String(), "\uFEFF"))).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if recs[0][0] != "Cơ quan, đơn vị" || recs[0][1] != "Tổng số đánh giá" || recs[0][5] != "Tỷ lệ hài lòng (%)" {
			t.Errorf("CSV header %q", recs[0])
		}
		wantCSV := [][]string{{agencyA, "4", "1", "2", "1", "75.00"}, {agencyB, "3", "1", "1", "1", "66.67"}, {"Tổng cộng", "7", "2", "3", "2", "71.43"}}
		for i, w := range wantCSV {
			if got := recs[i+1][:6]; strings.Join(got, "|") != strings.Join(w, "|") {
				t.Errorf("CSV row %d: %q, want %q", i+1, got, w)
			}
		}
		if name := report.SummaryFile(rep, "csv"); name != "danh-gia-hai-long_theo-don-vi_2026-03.csv" {
			t.Errorf("file name %q", name)
		}

		// Channel filter and the dossier list behind a figure.
		sms, err := report.Build(ctx, db.Reports(), report.Query{Period: per, Dim: report.ByAgency, Channel: message.SMS})
		if err != nil || sms.Total.Total != 5 {
			t.Errorf("SMS only: %+v %v", sms.Total, err)
		}
		list, n, err := db.Reports().Dossiers(ctx, report.Filter{FromDay: per.FromDay(), ToDay: per.ToDay(), Agency: agencyA, Level: 3}, 10, 0)
		if err != nil || n != 1 || list[0].DossierCode != codes["A3"] || list[0].Officer != "Phạm Thu Hà" {
			t.Errorf("KHL dossiers of A: %d %+v %v", n, list, err)
		}
		off, err := report.Build(ctx, db.Reports(), report.Query{Period: per, Dim: report.ByOfficer, Agency: agencyA})
		if err != nil || len(off.Rows) != 2 || off.Rows[0].Total != 2 || off.Rows[1].Total != 2 {
			t.Errorf("per officer of A: %+v %v", off.Rows, err)
		}

		// An edit within the window moves the rating, it is not counted twice.
		clk.set(at("2026-03-12 08:00"))
		if got := smsA.say(t, "DG "+codes["A3"]+" 1"); !strings.Contains(got, "Rất hài lòng") {
			t.Fatalf("re-rating: %q", got)
		}
		rep, _ = report.Build(ctx, db.Reports(), report.Query{Period: per, Dim: report.ByAgency})
		if r := rep.Rows[0]; r.Total != 4 || r.RHL != 2 || r.KHL != 0 || pct(r.Share) != "100.00" {
			t.Errorf("after the edit: %+v", r)
		}
	})
}

// Period edges are local: 23:59 and 00:01 Vietnam time on a month
// boundary fall into different months (16:59 and 17:01 UTC the same day).
func TestPeriodEdgesInLocalTime(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		clk := &clock{t: at("2026-03-20 09:00")}
		bot, _ := citizentest.New(t, db, clk.now(), citizen.WithClock(clk.now))
		const ph = "84905000111"
		late, early := "000.00.30.H17-260320-0001", "000.00.30.H17-260320-0002"
		pushDossier(t, db, late, agencyA, ph, "", at("2026-03-20 10:00"))
		pushDossier(t, db, early, agencyA, ph, "", at("2026-03-20 10:00"))
		u := smsUser(bot, ph)
		clk.set(at("2026-03-31 23:59"))
		u.say(t, "DG "+late+" 1")
		clk.set(at("2026-04-01 00:01"))
		u.say(t, "DG "+early+" 3 Chậm")
		tests := []struct {
			kind, value string
			total, khl  int64
			prevTotal   int64
		}{
			{report.Month, "2026-03", 1, 0, 0},
			{report.Month, "2026-04", 1, 1, 1},
			{report.Day, "2026-03-31", 1, 0, 0},
			{report.Day, "2026-04-01", 1, 1, 1},
			{report.Quarter, "2026-Q1", 1, 0, 0},
			{report.Quarter, "2026-Q2", 1, 1, 1},
			{report.Week, "2026-W14", 2, 1, 0}, // Monday 30 March to Sunday 5 April
			{report.Year, "2026", 2, 1, 0},
		}
		for _, tc := range tests {
			per, err := report.ParsePeriod(tc.kind, tc.value, "", "", time.Now())
			if err != nil {
				t.Fatal(err)
			}
			rep, err := report.Build(ctx, db.Reports(), report.Query{Period: per})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Total.Total != tc.total || rep.Total.KHL != tc.khl || rep.Total.PrevTotal != tc.prevTotal {
				t.Errorf("%s %s: total %d KHL %d previous %d, want %d %d %d", tc.kind, tc.value, rep.Total.Total, rep.Total.KHL,
					rep.Total.PrevTotal, tc.total, tc.khl, tc.prevTotal)
			}
		}
		per, _ := report.ParsePeriod(report.Range, "", "2026-03-31", "2026-04-01", time.Now())
		rep, _ := report.Build(ctx, db.Reports(), report.Query{Period: per})
		if rep.Total.Total != 2 || len(rep.Trend) != 2 || rep.Trend[0].Total != 1 || rep.Trend[1].Total != 1 ||
			pct(rep.Trend[0].Share) != "100.00" || pct(rep.Trend[1].Share) != "0.00" {
			t.Errorf("range: %+v trend %+v", rep.Total, rep.Trend)
		}
	})
}

// The feed paged through while ratings (and edits) arrive returns every
// rating version once, in commit order, and ends on each dossier's
// current rating.
func TestFeedWhileRatingsArrive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const n = 60
		code := func(i int) string { return fmt.Sprintf("000.00.31.H17-260310-%04d", i) }
		for i := range n {
			pushDossier(t, db, code(i), []string{agencyA, agencyB}[i%2], "84905999000", "", at("2026-03-10 10:00"))
		}
		base := at("2026-03-11 08:00")
		save := func(i int, lvl rating.Level, minute int) {
			r := rating.Rating{DossierCode: code(i), Level: lvl, Channel: "sms", UserID: "84905999000", UpdatedAt: base.Add(time.Duration(minute) * time.Minute)}
			if lvl == rating.KhongHaiLong {
				r.Reason = "chậm"
			}
			if _, err := db.Ratings().SaveRating(ctx, r); err != nil {
				t.Error(err)
			}
		}
		for i := range n / 2 {
			save(i, rating.HaiLong, i)
		}
		// Writers add the other half and edit two ratings (one already
		// delivered, one not) while the reader pages through.
		var wg sync.WaitGroup
		started := make(chan struct{})
		for w := range 4 {
			wg.Go(func() {
				<-started
				for i := n/2 + w; i < n; i += 4 {
					save(i, rating.RatHaiLong, i)
				}
			})
		}
		wg.Go(func() {
			<-started
			save(0, rating.KhongHaiLong, 100)
			save(n/2-1, rating.KhongHaiLong, 101)
		})
		type version struct {
			code  string
			level rating.Level
		}
		seen := map[version]int{}
		last := map[string]rating.Level{}
		var cursor int64
		pages := 0
		writersDone := waitDone(&wg)
		for {
			items, err := db.Reports().Feed(ctx, cursor, 7)
			if err != nil {
				t.Fatal(err)
			}
			if pages == 1 {
				close(started)
			}
			pages++
			if len(items) == 0 {
				select {
				case <-writersDone:
					// Writers are done: one more page must be empty.
					if more, _ := db.Reports().Feed(ctx, cursor, 7); len(more) != 0 {
						continue
					}
				default:
					continue
				}
				break
			}
			for _, it := range items {
				if it.Seq <= cursor {
					t.Fatalf("sequence went back: %d after %d", it.Seq, cursor)
				}
				cursor = it.Seq
				seen[version{it.DossierCode, it.Level}]++
				last[it.DossierCode] = it.Level
				if it.Agency == "" || it.ProcedureCode != "1.001193" || it.Criteria == nil {
					t.Errorf("feed item %+v", it)
				}
			}
		}
		for v, k := range seen {
			if k != 1 {
				t.Errorf("%v delivered %d times", v, k)
			}
		}
		if len(last) != n {
			t.Fatalf("%d dossiers delivered, want %d", len(last), n)
		}
		for i := range n {
			cur, err := db.Ratings().Rating(ctx, code(i))
			if err != nil || last[code(i)] != cur.Level {
				t.Errorf("%s: feed ends on %s, database has %s (%v)", code(i), last[code(i)], cur.Level, err)
			}
		}
		if last[code(0)] != rating.KhongHaiLong || last[code(n/2-1)] != rating.KhongHaiLong {
			t.Errorf("edits not delivered: %s %s", last[code(0)], last[code(n/2-1)])
		}
	})
}

func waitDone(wg *sync.WaitGroup) <-chan struct{} {
	ch := make(chan struct{})
	go func() { wg.Wait(); close(ch) }()
	return ch
}
