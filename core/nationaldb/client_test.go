package nationaldb_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/nationaldb"
	"github.com/dvcbot/dvcbot/core/nationaldb/nationaldbtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// answer is one scripted upstream response.
type answer struct {
	status int
	body   string
}

// script answers requests in order, then repeats its last answer, and
// records the queries it saw.
type script struct {
	mu      sync.Mutex
	answers []answer
	seen    []url.Values
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, r.URL.Query())
	a := s.answers[min(len(s.seen), len(s.answers))-1]
	s.mu.Unlock()
	if strings.HasPrefix(a.body, "{") {
		w.Header().Set("Content-Type", "application/json")
	} else {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	}
	w.WriteHeader(a.status)
	io.WriteString(w, a.body)
}

func (s *script) requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

func newClient(t *testing.T, h http.Handler) *nationaldb.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	return nationaldb.New(u, "27", nationaldb.WithRetry(time.Millisecond, 2*time.Second),
		nationaldb.WithTimeout(2*time.Second), nationaldb.WithLogger(quiet))
}

const khaiSinh = `{"status":"success","data":{"id_hethong":"20799","maso":"1.001193","ten":"Đăng ký khai sinh",
"linh_vuc":"Hộ tịch","cap_thuc_hien":"Cấp Xã","trinh_tu":"<p>Bước 1:&nbsp;Nộp hồ sơ</p>\r\n<p>Bước 2: Nhận kết quả</p>",
"thanh_phan_ho_so":[{"ten":"Tờ khai đăng ký khai sinh","ban_chinh":"1","ban_sao":0,"bat_buoc":"1"}],
"phi":"","le_phi":"Miễn lệ phí","thoi_han":"Ngay trong ngày","co_quan_thuc_hien":"UBND cấp xã","muc_do":4,
"trang_thai":"cong_bo","ngay_cap_nhat":"2024-03-05 14:22:10","truong_moi":{"bo_qua":true}}}`

func TestDetail(t *testing.T) {
	tests := []struct {
		name     string
		answers  []answer
		wantErr  error  // errors.Is target; nil for success
		errText  string // part of the error's text
		requests int    // how many requests it took
		check    func(t *testing.T, p catalog.Procedure)
	}{
		{name: "record with HTML, loose types and unknown fields", answers: []answer{{200, khaiSinh}}, requests: 1,
			check: func(t *testing.T, p catalog.Procedure) {
				if p.SystemID != 20799 || p.Code != "1.001193" || p.Name != "Đăng ký khai sinh" || p.OnlineLevel != "4" {
					t.Errorf("procedure = %+v", p)
				}
				if len(p.Documents) != 1 || p.Documents[0].Originals != 1 || !p.Documents[0].Required {
					t.Errorf("documents = %+v", p.Documents)
				}
				if !strings.Contains(p.Steps, "<p>Bước 1:&nbsp;") {
					t.Errorf("steps not stored as received: %q", p.Steps)
				}
				if p.UpstreamUpdatedAt == nil || !p.UpstreamUpdatedAt.Equal(time.Date(2024, 3, 5, 7, 22, 10, 0, time.UTC)) {
					t.Errorf("updated at %v, want 07:22:10 UTC", p.UpstreamUpdatedAt)
				}
			}},
		{name: "status error means not found", answers: []answer{{200, `{"status":"error","message":"Không tìm thấy thủ tục"}`}},
			wantErr: nationaldb.ErrNotFound, errText: "Không tìm thấy thủ tục", requests: 1},
		{name: "404 means not found", answers: []answer{{404, "Not Found"}}, wantErr: nationaldb.ErrNotFound, requests: 1},
		{name: "error with data false is not found", answers: []answer{{200, `{"status":"error","message":"Lỗi","data":false}`}},
			wantErr: nationaldb.ErrInvalid, requests: 1},
		{name: "record without a name is invalid, not retried",
			answers: []answer{{200, `{"status":"success","data":{"id_hethong":5,"maso":"1.000005","ten":"  "}}`}},
			wantErr: nationaldb.ErrInvalid, errText: "missing name", requests: 1},
		{name: "unknown status is invalid", answers: []answer{{200, `{"status":"success","data":{"id_hethong":5,"maso":"1.000005","ten":"X","trang_thai":"tam_dung"}}`}},
			wantErr: nationaldb.ErrInvalid, errText: "tam_dung", requests: 1},
		{name: "field of the wrong type is invalid, not retried",
			answers: []answer{{200, `{"status":"success","data":{"id_hethong":5,"maso":"1.000005","ten":"X","thanh_phan_ho_so":[{"ten":"A","ban_chinh":"hai"}]}}`}},
			wantErr: nationaldb.ErrInvalid, errText: "not an integer", requests: 1},
		{name: "PHP error page with 200 is retried", answers: []answer{{200, "<br />\n<b>Fatal error</b>: Allowed memory size exhausted"}, {200, khaiSinh}}, requests: 2},
		{name: "5xx and 429 are retried", answers: []answer{{503, "Service Unavailable"}, {502, "Bad Gateway"}, {429, "Too Many Requests"}, {200, khaiSinh}}, requests: 4},
		{name: "403 is final", answers: []answer{{403, "Forbidden"}}, errText: "HTTP 403", requests: 1},
		{name: "an outage outlasting the retries fails", answers: []answer{{500, "Internal Server Error"}}, errText: "HTTP 500"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{answers: tc.answers}
			p, err := newClient(t, s).Detail(context.Background(), 20799)
			switch {
			case tc.wantErr == nil && tc.errText == "" && err != nil:
				t.Fatalf("Detail: %v", err)
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			case tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)):
				t.Fatalf("error %v, want it to say %q", err, tc.errText)
			}
			if tc.requests > 0 && s.requests() != tc.requests {
				t.Errorf("%d requests, want %d", s.requests(), tc.requests)
			}
			if q := s.seen[0]; q.Get("task") != "getThutuc" || q.Get("id_hethong") != "20799" || q.Get("option") != "com_thutuchanhchinh" {
				t.Errorf("query %v", q)
			}
			if tc.check != nil {
				tc.check(t, p)
			}
		})
	}
}

func TestListPages(t *testing.T) {
	page := func(n, total int, data string) answer {
		return answer{200, `{"status":"success","page":` + strconv.Itoa(n) + `,"total_pages":` + strconv.Itoa(total) + `,"total":3,"data":` + data + `}`}
	}
	item := `{"id_hethong":20799,"maso":"1.001193","ten":"Đăng ký khai sinh","ngay_cap_nhat":"2024-03-05 14:22:10","trang_thai":"cong_bo"}`
	cancelled := `{"id_hethong":"20800","maso":"T-DNG-286034-TT","ten":"Thủ tục cũ","ngay_cap_nhat":"2024-03-06 08:00:00","trang_thai":"huy_bo"}`
	tests := []struct {
		name    string
		answers []answer
		pages   []int // items per page handed to fn
		errText string
	}{
		{name: "three pages", answers: []answer{page(1, 3, "["+item+"]"), page(2, 3, "["+cancelled+"]"), page(3, 3, "["+item+"]")}, pages: []int{1, 1, 1}},
		{name: "empty window", answers: []answer{page(1, 0, "[]")}, pages: []int{0}},
		{name: "data null", answers: []answer{page(1, 1, "null")}, pages: []int{0}},
		{name: "stops at an empty page before total_pages", answers: []answer{page(1, 5, "["+item+"]"), page(2, 5, "[]")}, pages: []int{1, 0}},
		{name: "status error", answers: []answer{{200, `{"status":"error","message":"dept_id không hợp lệ"}`}}, errText: "dept_id không hợp lệ"},
		{name: "a bad page fails the listing, naming the page",
			answers: []answer{page(1, 2, "["+item+"]"), page(2, 2, `[{"id_hethong":7,"maso":"x","ten":"y","ngay_cap_nhat":"05/03/2024","trang_thai":"cong_bo"}]`)},
			pages:   []int{1}, errText: "listing page 2, procedure 7"},
		{name: "id that is not a number", answers: []answer{page(1, 1, `[{"id_hethong":"abc","ngay_cap_nhat":"2024-03-05 14:22:10"}]`)}, errText: "data is not a list of procedures"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{answers: tc.answers}
			var got []int
			var items []nationaldb.Item
			err := newClient(t, s).ListPages(context.Background(), time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC),
				time.Date(2024, 3, 8, 0, 0, 0, 0, time.UTC), func(page []nationaldb.Item) error {
					got = append(got, len(page))
					items = append(items, page...)
					return nil
				})
			if tc.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want it to say %q", err, tc.errText)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.pages) {
				t.Errorf("pages %v, want %v", got, tc.pages)
			}
			q := s.seen[0]
			if q.Get("startdate") != "2024-03-01 07:00:00" || q.Get("enddate") != "2024-03-08 07:00:00" || q.Get("dept_id") != "27" || q.Get("page") != "1" {
				t.Errorf("first query %v", q)
			}
			for _, it := range items {
				if it.SystemID == 20800 && (it.Status != catalog.Cancelled || it.Code != "T-DNG-286034-TT") {
					t.Errorf("cancelled item %+v", it)
				}
			}
		})
	}
}

func TestDetailsSkipsAndStops(t *testing.T) {
	fake := nationaldbtest.New(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	for i := range 20 {
		fake.Put(map[string]any{"id_hethong": 100 + i, "maso": "1.0" + strconv.Itoa(100+i), "ten": "Thủ tục " + strconv.Itoa(i)})
	}
	fake.Put(map[string]any{"id_hethong": 200, "maso": "1.0200", "ten": ""}) // invalid upstream
	srv := fake.Server()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	c := nationaldb.New(u, "27", nationaldb.WithConcurrency(3), nationaldb.WithLogger(quiet), nationaldb.WithRetry(time.Millisecond, time.Second))

	ids := make(chan int64)
	go func() {
		defer close(ids)
		for i := range 20 {
			ids <- int64(100 + i)
		}
		ids <- 200 // invalid
		ids <- 301 // unknown: status error
		ids <- 302 // unknown: 404
	}()
	got := map[int64]bool{}
	var skipped []int64
	err := c.Details(context.Background(), ids, func(p catalog.Procedure) error {
		got[p.SystemID] = true
		return nil
	}, func(id int64, err error) { skipped = append(skipped, id) })
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 20 || len(skipped) != 3 {
		t.Errorf("fetched %d, skipped %v; want 20 and [200 301 302]", len(got), skipped)
	}

	// An error from fn stops the fetchers and comes back.
	stop := errors.New("disk full")
	ids = make(chan int64, 20)
	for i := range 20 {
		ids <- int64(100 + i)
	}
	close(ids)
	calls := 0
	err = c.Details(context.Background(), ids, func(catalog.Procedure) error { calls++; return stop }, func(int64, error) {})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("err %v after %d calls, want disk full after 1", err, calls)
	}
}
