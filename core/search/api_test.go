package search_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/search"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

func seed(t *testing.T, db *store.DB, procs ...catalog.Procedure) {
	t.Helper()
	if _, err := catalog.Import(context.Background(), db.Catalog(), procs, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestProcedureAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		seed(t, db,
			catalog.Procedure{Code: "1.001193", Name: "Thủ tục đăng ký khai sinh", Field: "Hộ tịch", Agency: "UBND cấp xã",
				TimeLimit: "Ngay trong ngày", Documents: []catalog.Document{{Name: "Tờ khai đăng ký khai sinh", Originals: 1}}},
			catalog.Procedure{Code: "1.000894", Name: "Thủ tục đăng ký kết hôn", Field: "Hộ tịch"},
			catalog.Procedure{Code: "9.000001", Name: "Thủ tục khai sinh cũ", Field: "Hộ tịch", Status: catalog.Cancelled},
		)
		ref, err := search.NewRefresher(context.Background(), db, mustAnalyzer(t), time.Second, quiet, nil)
		if err != nil {
			t.Fatal(err)
		}
		mux := http.NewServeMux()
		search.NewAPI(ref.Holder(), db.Catalog(), quiet).Register(mux)
		tests := []struct {
			path   string
			status int
			check  func(t *testing.T, body map[string]any)
		}{
			{"/api/v1/procedures?q=dang+ky+khai+sinh", 200, func(t *testing.T, b map[string]any) {
				res := b["results"].([]any)
				first := res[0].(map[string]any)
				if first["code"] != "1.001193" || first["name"] != "Thủ tục đăng ký khai sinh" || first["field"] != "Hộ tịch" || first["score"].(float64) <= 0 {
					t.Fatalf("first result %v", first)
				}
				for _, r := range res {
					if r.(map[string]any)["code"] == "9.000001" {
						t.Fatal("a cancelled procedure was returned")
					}
				}
			}},
			{"/api/v1/procedures?q=ket+hon&limit=1", 200, func(t *testing.T, b map[string]any) {
				if res := b["results"].([]any); len(res) != 1 || res[0].(map[string]any)["code"] != "1.000894" {
					t.Fatalf("results %v", res)
				}
			}},
			{"/api/v1/procedures?q=xyzzy", 200, func(t *testing.T, b map[string]any) {
				if res := b["results"].([]any); len(res) != 0 {
					t.Fatalf("results %v", res)
				}
			}},
			{"/api/v1/procedures", 400, func(t *testing.T, b map[string]any) {
				if b["field"] != "q" {
					t.Fatalf("body %v", b)
				}
			}},
			{"/api/v1/procedures?q=x&limit=0", 400, func(t *testing.T, b map[string]any) {
				if b["field"] != "limit" {
					t.Fatalf("body %v", b)
				}
			}},
			{"/api/v1/procedures?q=x&limit=abc", 400, nil},
			{"/api/v1/procedures/1.001193", 200, func(t *testing.T, b map[string]any) {
				docs := b["documents"].([]any)
				if b["name"] != "Thủ tục đăng ký khai sinh" || b["status"] != "published" || b["time_limit"] != "Ngay trong ngày" ||
					len(docs) != 1 || docs[0].(map[string]any)["ten"] != "Tờ khai đăng ký khai sinh" || b["version"].(float64) != 1 {
					t.Fatalf("procedure %v", b)
				}
			}},
			{"/api/v1/procedures/9.000001", 200, func(t *testing.T, b map[string]any) {
				if b["status"] != "cancelled" {
					t.Fatalf("procedure %v", b)
				}
			}},
			{"/api/v1/procedures/1.999999", 404, nil},
		}
		for _, tc := range tests {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("%s: %d, want %d: %s", tc.path, rec.Code, tc.status, rec.Body)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("%s: not JSON: %s", tc.path, rec.Body)
			}
			if tc.check != nil {
				tc.check(t, body)
			}
		}
	})
}

func mustAnalyzer(t *testing.T) *search.Analyzer {
	an, err := search.NewAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	return an
}

func TestRefresherFollowsTheCatalogueVersion(t *testing.T) {
	db := storetest.Postgres(t)
	seed(t, db, catalog.Procedure{Code: "1.001193", Name: "Thủ tục đăng ký khai sinh"})
	ctx := context.Background()
	ref, err := search.NewRefresher(ctx, db, mustAnalyzer(t), time.Second, quiet, nil)
	if err != nil {
		t.Fatal(err)
	}
	if did, err := ref.Refresh(ctx); did || err != nil {
		t.Fatalf("refresh without a change rebuilt: %v %v", did, err)
	}
	// Re-importing the same data is no change either.
	seed(t, db, catalog.Procedure{Code: "1.001193", Name: "Thủ tục đăng ký khai sinh"})
	if did, _ := ref.Refresh(ctx); did {
		t.Fatal("an unchanged import bumped the version")
	}
	old := ref.Holder().Index()
	seed(t, db, catalog.Procedure{Code: "1.000894", Name: "Thủ tục đăng ký kết hôn"},
		catalog.Procedure{Code: "1.001193", Name: "Thủ tục đăng ký khai sinh", Status: catalog.Cancelled})
	if did, err := ref.Refresh(ctx); !did || err != nil {
		t.Fatalf("refresh after a change: %v %v", did, err)
	}
	if got := ref.Holder().Search("ket hon", 3, 0); len(got) != 1 || got[0].Code != "1.000894" {
		t.Fatalf("new procedure not found: %v", got)
	}
	if got := ref.Holder().Search("khai sinh", 3, 0); len(got) != 0 {
		t.Fatalf("cancelled procedure still found: %v", got)
	}
	if old.Len() != 1 || len(old.Search("khai sinh", 3, 0)) != 1 {
		t.Fatal("the old index changed under its readers")
	}
}
