// Package nationaldbtest is a fake of the national procedures database feed
// that follows nationaldb-api.md: windows by ngay_cap_nhat, pages, details by
// id_hethong, status "error" or 404 for unknown ids, and the misbehaviour of a
// busy PHP site on demand (5xx, slow answers, connection resets).
package nationaldbtest

import (
	"bufio"
	"encoding/json"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

const layout = "2006-01-02 15:04:05"

// Fake is the upstream portal.
type Fake struct {
	mu       sync.Mutex
	records  map[int64]map[string]any
	PageSize int
	// FailRate is the share of requests answered 500/502/503 or reset.
	FailRate float64
	// Latency is how long every answer takes, counted from the request's
	// arrival (the benchmark's 5 ms): the fake's own work is inside it.
	Latency time.Duration
	// FailDetailsAfter, when positive, fails every detail request after that
	// many (an outage in the middle of a window).
	FailDetailsAfter int64
	// FailListAfter, when positive, fails every list request after that many.
	FailListAfter int64
	lists         atomic.Int64
	rng           *rand.Rand
	details       atomic.Int64
	Requests      atomic.Int64
	clock         time.Time
	window        string           // the last listed window…
	windowItems   []map[string]any // …and its items, until a change
}

// New returns an empty fake whose records get ngay_cap_nhat from a clock
// starting at start and ticking one second per change.
func New(start time.Time) *Fake {
	return &Fake{records: map[int64]map[string]any{}, PageSize: 500, rng: rand.New(rand.NewPCG(1, 2)), clock: start}
}

// Put adds or replaces a procedure (upstream field names) and stamps it.
func (f *Fake) Put(rec map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = f.clock.Add(time.Second)
	r := map[string]any{}
	for k, v := range rec {
		r[k] = v
	}
	if _, ok := r["trang_thai"]; !ok {
		r["trang_thai"] = "cong_bo"
	}
	r["ngay_cap_nhat"] = f.clock.In(vntext.VietnamTime()).Format(layout)
	f.records[toInt(r["id_hethong"])] = r
	f.window, f.windowItems = "", nil
}

// Update changes fields of a stored procedure and stamps it.
func (f *Fake) Update(id int64, fields map[string]any) {
	f.mu.Lock()
	r := f.records[id]
	f.mu.Unlock()
	merged := map[string]any{}
	for k, v := range r {
		merged[k] = v
	}
	for k, v := range fields {
		merged[k] = v
	}
	f.Put(merged)
}

// Repair changes fields of a stored procedure without stamping it, as a
// hand fix in the portal's database would: the record is served repaired
// but not listed again as changed.
func (f *Fake) Repair(id int64, fields map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := map[string]any{}
	for k, v := range f.records[id] {
		r[k] = v
	}
	for k, v := range fields {
		r[k] = v
	}
	f.records[id] = r
}

// SetClock moves the clock changes are stamped with (it ticks from there).
func (f *Fake) SetClock(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = t
}

// Clock is the time the last change was stamped with.
func (f *Fake) Clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock
}

// Server starts an HTTP server for the fake.
func (f *Fake) Server() *httptest.Server { return httptest.NewServer(f) }

func toInt(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int64:
		return x
	case float64:
		return int64(x)
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

func (f *Fake) misbehave(w http.ResponseWriter) bool {
	f.mu.Lock()
	roll := f.rng.Float64()
	kind := f.rng.IntN(4)
	f.mu.Unlock()
	if roll >= f.FailRate {
		return false
	}
	switch kind {
	case 0: // reset
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				if tc, ok := c.(interface{ SetLinger(int) error }); ok {
					tc.SetLinger(0)
				}
				c.Close()
				return true
			}
		}
		fallthrough
	case 1:
		http.Error(w, "<b>Fatal error</b>: Maximum execution time exceeded", http.StatusInternalServerError)
	case 2:
		http.Error(w, "Bad Gateway", http.StatusBadGateway)
	default:
		http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
	}
	return true
}

func (f *Fake) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	f.Requests.Add(1)
	start := time.Now()
	w := &delayed{ResponseWriter: rw, until: start.Add(f.Latency)}
	defer w.flush()
	if r.URL.Path != "/index.php" || r.URL.Query().Get("option") != "com_thutuchanhchinh" {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	switch q.Get("task") {
	case "getListThutucFromDB":
		if n := f.lists.Add(1); f.FailListAfter > 0 && n > f.FailListAfter {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		if f.misbehave(w) {
			return
		}
		f.list(w, q.Get("startdate"), q.Get("enddate"), q.Get("page"))
	case "getThutuc":
		n := f.details.Add(1)
		if f.FailDetailsAfter > 0 && n > f.FailDetailsAfter {
			http.Error(w, "Service Unavailable", http.StatusServiceUnavailable)
			return
		}
		if f.misbehave(w) {
			return
		}
		f.detail(w, q.Get("id_hethong"))
	default:
		writeJSON(w, map[string]any{"status": "error", "message": "unknown task"})
	}
}

func (f *Fake) list(w http.ResponseWriter, start, end, pageS string) {
	from, err1 := time.ParseInLocation(layout, start, vntext.VietnamTime())
	to, err2 := time.ParseInLocation(layout, end, vntext.VietnamTime())
	if err1 != nil || err2 != nil {
		writeJSON(w, map[string]any{"status": "error", "message": "startdate/enddate must be Y-m-d H:i:s"})
		return
	}
	page := 1
	if pageS != "" {
		page, _ = strconv.Atoi(pageS)
	}
	f.mu.Lock()
	key := start + "|" + end
	items := f.windowItems
	if f.window != key {
		items = f.collect(from, to)
		f.window, f.windowItems = key, items
	}
	f.mu.Unlock()
	pages := max(1, (len(items)+f.PageSize-1)/f.PageSize)
	lo, hi := min(len(items), (page-1)*f.PageSize), min(len(items), page*f.PageSize)
	writeJSON(w, map[string]any{"status": "success", "page": page, "total_pages": pages, "total": len(items), "data": items[lo:hi]})
}

// collect lists the window's items in id order (f.mu held).
func (f *Fake) collect(from, to time.Time) []map[string]any {
	var items []map[string]any
	for _, r := range f.records {
		t, _ := time.ParseInLocation(layout, r["ngay_cap_nhat"].(string), vntext.VietnamTime())
		if !t.Before(from) && t.Before(to) {
			items = append(items, map[string]any{"id_hethong": r["id_hethong"], "maso": r["maso"], "ten": r["ten"],
				"ngay_cap_nhat": r["ngay_cap_nhat"], "trang_thai": r["trang_thai"]})
		}
	}
	slices.SortFunc(items, func(a, b map[string]any) int { return int(toInt(a["id_hethong"]) - toInt(b["id_hethong"])) })
	return items
}

func (f *Fake) detail(w http.ResponseWriter, idS string) {
	id, _ := strconv.ParseInt(idS, 10, 64)
	f.mu.Lock()
	r, ok := f.records[id]
	f.mu.Unlock()
	if !ok {
		if id%2 == 0 {
			http.NotFound(w, nil)
			return
		}
		writeJSON(w, map[string]any{"status": "error", "message": "Không tìm thấy thủ tục"})
		return
	}
	writeJSON(w, map[string]any{"status": "success", "data": r})
}

// delayed holds an answer back until its due time.
type delayed struct {
	http.ResponseWriter
	until time.Time
	code  int
	body  []byte
}

func (d *delayed) WriteHeader(code int)        { d.code = code }
func (d *delayed) Write(b []byte) (int, error) { d.body = append(d.body, b...); return len(b), nil }

func (d *delayed) flush() {
	if d.code == -1 {
		return // hijacked
	}
	time.Sleep(time.Until(d.until))
	if d.code != 0 {
		d.ResponseWriter.WriteHeader(d.code)
	}
	_, _ = d.ResponseWriter.Write(d.body)
}

func (d *delayed) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	d.code = -1
	return http.NewResponseController(d.ResponseWriter).Hijack()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
