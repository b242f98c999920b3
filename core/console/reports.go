package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/report"
)

// ReportStore reads the satisfaction reports (package store implements it).
type ReportStore = report.Store

// Satisfaction reports: pages /console/reports (per agency, procedure or
// officer, with charts and their tables) and /console/ratings (the rated
// dossiers behind any figure), their JSON API and exports, the public
// scoreboard /cong-khai and the ratings feed /api/v1/ratings.
//
// Officers and agency-scoped viewers see their agency's ratings; leaders
// and admins every agency.

func init() {
	routeTable = append(routeTable,
		routeDef{"GET", "/reports", readAny, func(s *Server) apiHandler { return s.apiReport }},
		routeDef{"GET", "/reports/dossiers", readAny, func(s *Server) apiHandler { return s.apiReportDossiers }},
	)
	for k, v := range reportMessages {
		messages[k] = v
	}
}

// ReportRoutes lists the report routes that are not JSON (exports, the
// public pages) for the README.
func ReportRoutes() []Route {
	return []Route{
		{"GET", "/console/reports", "admin, leader (every agency); officer, viewer (own agency)"},
		{"GET", "/console/ratings", "admin, leader (every agency); officer, viewer (own agency)"},
		{"GET", "/console/api/v1/reports.csv", "admin, leader (every agency); officer, viewer (own agency)"},
		{"GET", "/console/api/v1/reports.xlsx", "admin, leader (every agency); officer, viewer (own agency)"},
		{"GET", "/cong-khai", "anyone (no sign-in; cached 60 s)"},
		{"GET", "/api/v1/ratings", "API key of role leader or admin"},
	}
}

var reportMessages = map[string][2]string{
	"reports":          {"Báo cáo mức độ hài lòng", "Satisfaction reports"},
	"ratings":          {"Hồ sơ đã đánh giá", "Rated dossiers"},
	"period":           {"Kỳ báo cáo", "Period"},
	"period.day":       {"Ngày", "Day"},
	"period.week":      {"Tuần", "Week"},
	"period.month":     {"Tháng", "Month"},
	"period.quarter":   {"Quý", "Quarter"},
	"period.year":      {"Năm", "Year"},
	"period.range":     {"Từ ngày – đến ngày", "From – to"},
	"value":            {"Giá trị kỳ (vd 2026-03, 2026-Q1)", "Period value (e.g. 2026-03, 2026-Q1)"},
	"from":             {"Từ ngày", "From"},
	"to":               {"Đến ngày", "To"},
	"by":               {"Theo", "By"},
	"by.agency":        {"Cơ quan, đơn vị", "Agency"},
	"by.procedure":     {"Thủ tục", "Procedure"},
	"by.officer":       {"Cán bộ", "Officer"},
	"channel.all":      {"Tất cả kênh", "Every channel"},
	"show":             {"Xem", "Show"},
	"total":            {"Tổng số", "Total"},
	"rhl":              {"Rất hài lòng", "Very satisfied"},
	"hl":               {"Hài lòng", "Satisfied"},
	"khl":              {"Không hài lòng", "Not satisfied"},
	"share":            {"Tỷ lệ hài lòng", "Satisfaction"},
	"prev":             {"Kỳ trước", "Previous period"},
	"delta":            {"Thay đổi", "Change"},
	"criteria":         {"Điểm trung bình theo tiêu chí (0–2)", "Average per criterion (0–2)"},
	"reasons":          {"Lý do không hài lòng", "Reasons given with Không hài lòng"},
	"trend":            {"Xu hướng", "Trend"},
	"structure":        {"Cơ cấu mức độ hài lòng", "Levels per row"},
	"export":           {"Tải về", "Download"},
	"dossiers.behind":  {"Danh sách hồ sơ", "Dossier list"},
	"level":            {"Mức đánh giá", "Level"},
	"reason":           {"Lý do", "Reason"},
	"rated.at":         {"Thời điểm đánh giá", "Rated at"},
	"officer":          {"Cán bộ", "Officer"},
	"bucket":           {"Kỳ", "Bucket"},
	"count":            {"Số lượng", "Count"},
	"crit.a":           {"a. Thái độ của cán bộ", "a. Officers' attitude"},
	"crit.b":           {"b. Thời gian trả kết quả", "b. Time to the result"},
	"crit.c":           {"c. Số lần phải liên hệ", "c. Contacts needed"},
	"crit.d":           {"d. Số cơ quan phải liên hệ", "d. Agencies contacted"},
	"crit.dd":          {"đ. Thông tin thủ tục được công khai", "đ. Published procedure information"},
	"crit.e":           {"e. Kết quả, chi phí đúng pháp luật", "e. Lawful result and costs"},
	"crit.g":           {"g. Giải trình phản ánh, kiến nghị", "g. Answers to feedback"},
	"crit.h":           {"h. Dịch vụ công trực tuyến", "h. Online service"},
	"crit.i":           {"i. Nội dung khác", "i. Other"},
	"scoreboard":       {"Công khai kết quả đánh giá sự hài lòng", "Public satisfaction scoreboard"},
	"scoreboard.intro": {"Kết quả đánh giá của tổ chức, cá nhân về việc giải quyết thủ tục hành chính (Điều 11.3). Số liệu cập nhật mỗi phút.", "Citizens' ratings of how their procedures were handled. Updated every minute."},
	"field":            {"Lĩnh vực", "Field"},
}

// --- queries -----------------------------------------------------------------

// reportScope is the agency a report is limited to: leaders and admins see
// every agency (and may ask for one), others their own.
func reportScope(r *http.Request, p Principal) (string, error) {
	asked := strings.TrimSpace(r.URL.Query().Get("agency"))
	if p.Role == Admin || p.Role == Leader || p.Agency == "" {
		return asked, nil
	}
	if asked != "" && asked != p.Agency {
		return "", errForbidden
	}
	return p.Agency, nil
}

func (s *Server) reportQuery(r *http.Request, p Principal) (report.Query, error) {
	v := r.URL.Query()
	per, err := report.ParsePeriod(v.Get("period"), v.Get("value"), v.Get("from"), v.Get("to"), s.now())
	if err != nil && v.Get("period") != report.Range && v.Get("from") != "" {
		// The form changed the kind but kept the old value: take the
		// period of that kind holding the shown period's first day.
		if k, kerr := report.ParsePeriod(v.Get("period"), "", "", "", s.now()); kerr == nil {
			if from, ferr := time.ParseInLocation(time.DateOnly, v.Get("from"), report.Local()); ferr == nil {
				per, err = report.PeriodFor(k.Kind, from), nil
			}
		}
	}
	if err != nil {
		return report.Query{}, errStatus(http.StatusBadRequest, "%v", err)
	}
	dim, err := report.ParseDimension(v.Get("by"))
	if err != nil {
		return report.Query{}, errStatus(http.StatusBadRequest, "%v", err)
	}
	agency, err := reportScope(r, p)
	if err != nil {
		return report.Query{}, err
	}
	ch := strings.TrimSpace(v.Get("channel"))
	if ch != "" && !validChannel(ch) {
		return report.Query{}, errStatus(http.StatusBadRequest, "unknown channel %q", ch)
	}
	return report.Query{Period: per, Dim: dim, Channel: ch, Agency: agency, Key: strings.TrimSpace(v.Get("key"))}, nil
}

var reportChannels = []string{"sms", "webchat", "zalo", "telegram"}

func validChannel(ch string) bool {
	for _, c := range reportChannels {
		if c == ch {
			return true
		}
	}
	return false
}

func (s *Server) reports() (report.Store, error) {
	if s.cfg.Reports == nil {
		return nil, errStatus(http.StatusNotFound, "reports are not configured")
	}
	return s.cfg.Reports, nil
}

func (s *Server) buildReport(r *http.Request, p Principal) (report.Report, error) {
	st, err := s.reports()
	if err != nil {
		return report.Report{}, err
	}
	q, err := s.reportQuery(r, p)
	if err != nil {
		return report.Report{}, err
	}
	return report.Build(r.Context(), st, q)
}

func (s *Server) apiReport(r *http.Request, p Principal) (any, error) { return s.buildReport(r, p) }

// dossierList is the dossiers behind a figure: the report's filters plus
// by/key (one row) and level (1–3).
func (s *Server) dossierList(r *http.Request, p Principal, limit int) (report.Query, []report.DossierRating, int, error) {
	st, err := s.reports()
	if err != nil {
		return report.Query{}, nil, 0, err
	}
	q, err := s.reportQuery(r, p)
	if err != nil {
		return q, nil, 0, err
	}
	f := report.Filter{FromDay: q.Period.FromDay(), ToDay: q.Period.ToDay(), Channel: q.Channel, Agency: q.Agency}
	if q.Key != "" {
		f.Dim, f.Key = q.Dim, q.Key
	}
	if lv := r.URL.Query().Get("level"); lv != "" {
		l, ok := rating.ParseLevel(lv)
		if !ok {
			return q, nil, 0, errStatus(http.StatusBadRequest, "level must be 1, 2 or 3")
		}
		f.Level = l.Number()
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	list, n, err := st.Dossiers(r.Context(), f, limit, max(0, offset))
	return q, list, n, err
}

func (s *Server) apiReportDossiers(r *http.Request, p Principal) (any, error) {
	q, list, n, err := s.dossierList(r, p, limitOf(r))
	if err != nil {
		return nil, err
	}
	return map[string]any{"period": q.Period.Ref(), "total": n, "dossiers": nonNil(list)}, nil
}

// maxExportRows bounds a dossier export.
const maxExportRows = 100000

// exportReport answers reports.csv and reports.xlsx: ?table=summary (the
// default), trend, reasons or dossiers, with the report's filters.
func (s *Server) exportReport(ext string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := s.authenticate(r)
		if err != nil {
			httpx.Error(w, http.StatusServiceUnavailable, "the database did not answer")
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dvcbot console"`)
			httpx.Error(w, http.StatusUnauthorized, errNotSignedI.msg)
			return
		}
		var tables []report.Table
		var name string
		table := r.URL.Query().Get("table")
		if table == "dossiers" {
			q, list, _, err := s.dossierList(r, p, maxExportRows)
			if err != nil {
				s.writeError(w, r, p, err)
				return
			}
			tables = []report.Table{report.DossiersTable(list)}
			what := "ho-so"
			if q.Key != "" {
				what += "_" + string(q.Dim)
			}
			name = report.FileName(what, q.Period, ext)
		} else {
			rep, err := s.buildReport(r, p)
			if err != nil {
				s.writeError(w, r, p, err)
				return
			}
			switch table {
			case "", "summary":
				tables = []report.Table{report.SummaryTable(rep)}
				if ext == "xlsx" {
					tables = append(tables, report.TrendTable(rep), report.ReasonsTable(rep))
				}
				name = report.SummaryFile(rep, ext)
			case "trend":
				tables, name = []report.Table{report.TrendTable(rep)}, report.FileName("xu-huong", rep.Period, ext)
			case "reasons":
				tables, name = []report.Table{report.ReasonsTable(rep)}, report.FileName("ly-do-khong-hai-long", rep.Period, ext)
			default:
				httpx.Error(w, http.StatusBadRequest, "table must be summary, trend, reasons or dossiers")
				return
			}
		}
		var buf bytes.Buffer
		if ext == "csv" {
			err = report.WriteCSV(&buf, tables[0])
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		} else {
			err = report.WriteXLSX(&buf, "", tables...)
			w.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
		}
		if err != nil {
			s.writeError(w, r, p, err)
			return
		}
		s.audit(r, p, "report.export", r.URL.RequestURI(), "", name)
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, name, url.PathEscape(name)))
		_, _ = w.Write(buf.Bytes())
	}
}

// --- pages ---------------------------------------------------------------------

func (s *Server) reportPages() []page {
	if s.cfg.Reports == nil {
		return nil
	}
	return []page{
		{key: "reports", acc: readAny, data: pageReports},
		{key: "ratings", acc: readAny, data: pageRatings},
	}
}

type viewRow struct {
	Key, Label, Agency      string
	Total, RHL, HL, KHL     int64
	Share, PrevShare, Delta string
	PrevTotal               int64
	Crit                    []string
	Href                    string // its dossiers
}

func fmtPct(p *float64) string {
	if p == nil {
		return "–"
	}
	return strings.Replace(strconv.FormatFloat(*p, 'f', 2, 64), ".", ",", 1) + "%"
}

func fmtDelta(p *float64) string {
	if p == nil {
		return "–"
	}
	s := strings.Replace(strconv.FormatFloat(*p, 'f', 2, 64), ".", ",", 1)
	if *p > 0 {
		s = "+" + s
	}
	return s
}

func fmtAvg(p *float64) string {
	if p == nil {
		return "–"
	}
	return strings.Replace(strconv.FormatFloat(*p, 'f', 2, 64), ".", ",", 1)
}

func view(r report.Row, href string) viewRow {
	v := viewRow{Key: r.Key, Label: r.Label, Agency: r.Agency, Total: r.Total, RHL: r.RHL, HL: r.HL, KHL: r.KHL,
		Share: fmtPct(r.Share), PrevShare: fmtPct(r.PrevShare), Delta: fmtDelta(r.Delta), PrevTotal: r.PrevTotal, Href: href}
	for _, c := range r.Criteria {
		v.Crit = append(v.Crit, fmtAvg(c))
	}
	return v
}

// reportParams are a query's parameters, to build links from.
func reportParams(q report.Query) url.Values {
	v := url.Values{"period": {q.Period.Kind}, "by": {string(q.Dim)}}
	if q.Period.Kind == report.Range {
		v.Set("from", q.Period.From.Format(time.DateOnly))
		v.Set("to", q.Period.To.Format(time.DateOnly))
	} else {
		v.Set("value", q.Period.Value())
	}
	if q.Channel != "" {
		v.Set("channel", q.Channel)
	}
	if q.Agency != "" {
		v.Set("agency", q.Agency)
	}
	if q.Key != "" {
		v.Set("key", q.Key)
	}
	return v
}

type critView struct{ Letter, Key, Avg string }

type trendView struct {
	Label, Share string
	Total        int64
}

type reportView struct {
	Rep            report.Report
	Dim            string
	Rows           []viewRow
	Total          viewRow
	Criteria       []critView
	Trend          []trendView
	TrendSVG       template.HTML
	StackSVG       template.HTML
	CritSVG        template.HTML
	CSV, XLSX      string
	CSVReasons     string
	DossiersHref   string
	Periods        []string
	Channels       []string
	Dims           []string
	PeriodKind     string
	PeriodValue    string
	From, To       string
	Channel        string
	Agency, Key    string
	PeriodLabel    string
	PrevLabel      string
	AgencyEditable bool
}

func pageReports(s *Server, r *http.Request, p Principal) (any, error) {
	rep, err := s.buildReport(r, p)
	if err != nil {
		return nil, err
	}
	q := report.Query{Period: rep.Period, Dim: rep.Dim, Channel: rep.Channel, Agency: rep.Agency, Key: rep.Key}
	params := reportParams(q)
	v := reportView{Rep: rep, Dim: string(rep.Dim), PeriodKind: rep.Period.Kind, PeriodValue: rep.Period.Value(),
		From: rep.Period.From.Format(time.DateOnly), To: rep.Period.To.Format(time.DateOnly), Channel: rep.Channel,
		Agency: rep.Agency, Key: rep.Key, PeriodLabel: rep.Period.Label(), PrevLabel: rep.Previous.Label(),
		Periods:  []string{report.Day, report.Week, report.Month, report.Quarter, report.Year, report.Range},
		Channels: reportChannels, AgencyEditable: p.Role == Admin || p.Role == Leader || p.Agency == ""}
	if rep.Period.Kind == report.Range {
		v.PeriodValue = ""
	}
	for _, d := range report.Dimensions() {
		v.Dims = append(v.Dims, string(d))
	}
	for _, row := range rep.Rows {
		lp := reportParams(q)
		lp.Set("key", row.Key)
		if row.Agency != "" {
			lp.Set("agency", row.Agency)
		}
		v.Rows = append(v.Rows, view(row, "/console/ratings?"+lp.Encode()))
	}
	v.Total = view(rep.Total, "/console/ratings?"+params.Encode())
	v.DossiersHref = v.Total.Href
	for i, c := range rating.Criteria() {
		v.Criteria = append(v.Criteria, critView{Letter: report.CriterionLetter(c), Key: "crit." + string(c), Avg: v.Total.Crit[i]})
	}
	for _, pt := range rep.Trend {
		v.Trend = append(v.Trend, trendView{Label: pt.Label, Total: pt.Total, Share: fmtPct(pt.Share)})
	}
	// The SVG is built from escaped text by core/report.
	v.TrendSVG = template.HTML(report.TrendSVG(rep.Trend))
	v.StackSVG = template.HTML(report.StackedSVG(rep.Rows, 30))
	v.CritSVG = template.HTML(report.CriteriaSVG(rep.Total))
	v.CSV = "/console/api/v1/reports.csv?" + params.Encode()
	v.XLSX = "/console/api/v1/reports.xlsx?" + params.Encode()
	rp := reportParams(q)
	rp.Set("table", "reasons")
	v.CSVReasons = "/console/api/v1/reports.csv?" + rp.Encode()
	return v, nil
}

type ratingsView struct {
	PeriodLabel string
	Dim, Key    string
	Level       string
	Total       int
	Dossiers    []ratingItem
	CSV, XLSX   string
	Next        string
}

type ratingItem struct {
	report.DossierRating
	LevelText, ChannelText string
	Crit                   string
}

func pageRatings(s *Server, r *http.Request, p Principal) (any, error) {
	limit := limitOf(r)
	q, list, n, err := s.dossierList(r, p, limit)
	if err != nil {
		return nil, err
	}
	params := reportParams(q)
	if lv := r.URL.Query().Get("level"); lv != "" {
		params.Set("level", lv)
	}
	params.Set("table", "dossiers")
	v := ratingsView{PeriodLabel: q.Period.Label(), Dim: string(q.Dim), Key: q.Key, Level: r.URL.Query().Get("level"), Total: n,
		CSV: "/console/api/v1/reports.csv?" + params.Encode(), XLSX: "/console/api/v1/reports.xlsx?" + params.Encode()}
	for _, d := range list {
		it := ratingItem{DossierRating: d, LevelText: report.LevelText(d.Level), ChannelText: report.ChannelText(d.Channel)}
		var parts []string
		for _, c := range rating.Criteria() {
			if l, ok := d.Criteria[c]; ok {
				parts = append(parts, fmt.Sprintf("%s:%d", report.CriterionLetter(c), l.Number()))
			}
		}
		it.Crit = strings.Join(parts, " ")
		v.Dossiers = append(v.Dossiers, it)
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	if offset+len(list) < n {
		np := r.URL.Query()
		np.Set("offset", strconv.Itoa(offset+len(list)))
		v.Next = "/console/ratings?" + np.Encode()
	}
	return v, nil
}

// --- public scoreboard and ratings feed -------------------------------------

// registerReports mounts the exports on the console and the public
// scoreboard and the ratings feed on mux.
func (s *Server) registerReports(mux *http.ServeMux) {
	if s.cfg.Reports == nil {
		return
	}
	s.exportRoutes()
	mux.HandleFunc("GET /cong-khai", s.scoreboard)
	mux.HandleFunc("GET /api/v1/ratings", s.ratingsFeed)
}

func (s *Server) exportRoutes() {
	s.mux.HandleFunc("GET /console/api/v1/reports.csv", s.exportReport("csv"))
	s.mux.HandleFunc("GET /console/api/v1/reports.xlsx", s.exportReport("xlsx"))
}

// ScoreboardTTL is how long the public scoreboard is cached.
const ScoreboardTTL = 60 * time.Second

type scoreCache struct {
	mu      sync.Mutex
	key     string
	body    []byte
	expires time.Time
}

var scoreboards sync.Map // *Server → *scoreCache

type scoreRow struct {
	Name                string
	Cur, Prev           int64
	CurShare, PrevShare string
}

type scoreView struct {
	Cur, Prev        string
	Agencies, Fields []scoreRow
	Chart            template.HTML
	Updated          string
	Lang             string
}

func (s *Server) scoreboardData(ctx context.Context, now time.Time) (scoreView, error) {
	cur := report.PeriodFor(report.Quarter, now)
	prev := cur.Previous()
	v := scoreView{Cur: cur.Label(), Prev: prev.Label(), Updated: now.In(report.Local()).Format("15:04 02/01/2006"), Lang: langVI}
	for _, dim := range []report.Dimension{report.ByAgency, report.ByField} {
		rep, err := report.Build(ctx, scoreStore{s.cfg.Reports}, report.Query{Period: cur, Dim: dim})
		if err != nil {
			return v, err
		}
		// Build puts the last quarter's figures beside each row; rows that
		// only had ratings last quarter are added from the previous period.
		seen := map[string]bool{}
		var rows []scoreRow
		for _, r := range rep.Rows {
			seen[r.Key] = true
			rows = append(rows, scoreRow{Name: r.Label, Cur: r.Total, Prev: r.PrevTotal, CurShare: fmtPct(r.Share), PrevShare: fmtPct(r.PrevShare)})
		}
		old, err := s.cfg.Reports.Aggregate(ctx, report.Filter{FromDay: prev.FromDay(), ToDay: prev.ToDay()}, dim)
		if err != nil {
			return v, err
		}
		for _, g := range old {
			if !seen[g.Key] {
				sh, ok := g.Counts.Share()
				ps := fmtPct(nil)
				if ok {
					ps = fmtPct(&sh)
				}
				rows = append(rows, scoreRow{Name: g.Label, Prev: g.Counts.Total(), CurShare: fmtPct(nil), PrevShare: ps})
			}
		}
		for i := range rows {
			if rows[i].Name == "" {
				rows[i].Name = "Khác"
			}
		}
		if dim == report.ByAgency {
			v.Agencies = rows
			v.Chart = template.HTML(report.StackedSVG(rep.Rows, 40))
		} else {
			v.Fields = rows
		}
	}
	return v, nil
}

// scoreStore hides the per-officer figures from the scoreboard: only
// agencies and fields are asked for, and reasons are never shown.
type scoreStore struct{ report.Store }

func (scoreStore) Reasons(context.Context, report.Filter, int) ([]report.Reason, error) {
	return nil, nil
}

func (s *Server) scoreboard(w http.ResponseWriter, r *http.Request) {
	now := s.now()
	c, _ := scoreboards.LoadOrStore(s, &scoreCache{})
	cache := c.(*scoreCache)
	key := report.PeriodFor(report.Quarter, now).Value()
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if cache.key != key || !now.Before(cache.expires) || cache.body == nil {
		v, err := s.scoreboardData(r.Context(), now)
		if err != nil {
			s.log.Error("scoreboard", "error", err)
			httpx.Error(w, http.StatusServiceUnavailable, "the database did not answer")
			return
		}
		var buf bytes.Buffer
		if err := pageTemplates.ExecuteTemplate(&buf, "scoreboard", v); err != nil {
			s.log.Error("scoreboard: rendering", "error", err)
			httpx.Error(w, http.StatusInternalServerError, "internal error")
			return
		}
		cache.key, cache.body, cache.expires = key, buf.Bytes(), now.Add(ScoreboardTTL)
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", fmt.Sprintf("public, max-age=%d", int(max(0, cache.expires.Sub(now).Seconds()))))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'")
	_, _ = w.Write(cache.body)
}

// Feed cursors are "r1." and the last change number delivered.
const cursorPrefix = "r1."

func parseCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(c, cursorPrefix), 10, 64)
	if !strings.HasPrefix(c, cursorPrefix) || err != nil || n < 0 {
		return 0, errors.New("bad cursor")
	}
	return n, nil
}

// FeedLimit is the default and MaxFeedLimit the largest page of the feed.
const (
	FeedLimit    = 100
	MaxFeedLimit = 1000
)

func (s *Server) ratingsFeed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	p, ok, err := s.authenticate(r)
	if err != nil {
		httpx.Error(w, http.StatusServiceUnavailable, "the database did not answer")
		return
	}
	if !ok || p.Kind != "apikey" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dvcbot ratings feed"`)
		httpx.Error(w, http.StatusUnauthorized, "send Authorization: Bearer <API key of role leader or admin>")
		return
	}
	if p.Role != Admin && p.Role != Leader {
		s.audit(r, p, "request.forbidden", "GET /api/v1/ratings", "", "")
		httpx.Error(w, http.StatusForbidden, "the ratings feed needs an API key of role leader or admin")
		return
	}
	q := r.URL.Query()
	after, err := parseCursor(q.Get("since"))
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "since must be a next_cursor this feed returned")
		return
	}
	limit := FeedLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxFeedLimit {
			httpx.Error(w, http.StatusBadRequest, fmt.Sprintf("limit must be 1 to %d", MaxFeedLimit))
			return
		}
		limit = n
	}
	items, err := s.cfg.Reports.Feed(r.Context(), after, limit)
	if err != nil {
		s.log.Error("ratings feed", "error", err)
		httpx.Error(w, http.StatusServiceUnavailable, "the database did not answer")
		return
	}
	next := after
	if len(items) > 0 {
		next = items[len(items)-1].Seq
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"ratings": nonNil(items), "next_cursor": cursorPrefix + strconv.FormatInt(next, 10)})
}
