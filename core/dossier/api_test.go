package dossier_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/signature"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

var (
	secret = []byte("test-secret-0123456789")
	now    = time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
)

// contractEvent is the example of dossier-events.md.
const contractEvent = `{
  "event_id": "mc-2024-000123456",
  "occurred_at": "2024-03-05T14:22:10+07:00",
  "status": "DANG_XU_LY",
  "note": "Chuyển phòng Tư pháp thẩm định",
  "dossier": {
    "code": "000.00.20.H17-240305-0001",
    "procedure_code": "1.001193",
    "procedure_name": "Đăng ký khai sinh",
    "agency": "UBND phường Hải Châu I",
    "applicant_name": "Nguyễn Văn An",
    "applicant_phone": "0905123456",
    "submitted_via": "truc_tuyen",
    "received_at": "2024-03-05T08:01:00+07:00",
    "due_at": "2024-03-08T17:00:00+07:00",
    "finished_at": null,
    "returned_at": null,
    "officer": "Trần Thị Bình"
  }
}`

func withEvent(mod func(m map[string]any)) string {
	var m map[string]any
	if err := json.Unmarshal([]byte(contractEvent), &m); err != nil {
		panic(err)
	}
	mod(m)
	b, _ := json.Marshal(m)
	return string(b)
}

func dossierField(name string, v any) func(map[string]any) {
	return func(m map[string]any) { m["dossier"].(map[string]any)[name] = v }
}

func field(name string, v any) func(map[string]any) {
	return func(m map[string]any) {
		if v == nil {
			delete(m, name)
			return
		}
		m[name] = v
	}
}

type request struct {
	body      string
	ts        int64 // signing time; 0 = now
	signature string
	noSig     bool
}

func post(t *testing.T, h http.Handler, r request) (int, map[string]any) {
	t.Helper()
	ts := r.ts
	if ts == 0 {
		ts = now.Unix()
	}
	req := httptest.NewRequest(http.MethodPost, "/api/v1/dossiers", strings.NewReader(r.body))
	req.Header.Set("Content-Type", "application/json")
	if !r.noSig {
		sig := r.signature
		if sig == "" {
			sig = signature.Sign(secret, ts, []byte(r.body))
		}
		req.Header.Set("X-DVC-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("X-DVC-Signature", sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	body, _ := io.ReadAll(rec.Body)
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("response is not JSON: %q", body)
	}
	return rec.Code, out
}

func newAPI(db *store.DB) http.Handler {
	return dossier.NewAPI(db.Dossiers(), secret, dossier.WithClock(func() time.Time { return now }),
		dossier.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
}

func TestAPIRequests(t *testing.T) {
	tests := []struct {
		name      string
		req       request
		status    int
		wantField string // for 400
		wantIndex float64
		results   []string
	}{
		{"contract example", request{body: contractEvent}, 200, "", 0, []string{"accepted"}},
		{"status as number", request{body: withEvent(field("status", 4))}, 200, "", 0, []string{"accepted"}},
		{"lower-case status", request{body: withEvent(field("status", "da_tiep_nhan"))}, 200, "", 0, []string{"accepted"}},
		{"batch", request{body: `{"events":[` + withEvent(field("event_id", "b1")) + `,` + withEvent(field("event_id", "b2")) + `]}`}, 200, "", 0, []string{"accepted", "accepted"}},
		{"forged signature", request{body: contractEvent, signature: "sha256=" + strings.Repeat("ab", 32)}, 401, "", 0, nil},
		{"signed with another secret", request{body: contractEvent, signature: signature.Sign([]byte("wrong"), now.Unix(), []byte(contractEvent))}, 401, "", 0, nil},
		{"unsigned", request{body: contractEvent, noSig: true}, 401, "", 0, nil},
		{"stale timestamp", request{body: contractEvent, ts: now.Unix() - 301}, 401, "", 0, nil},
		{"not json", request{body: `{"event_id": `}, 400, "body", 0, nil},
		{"missing event_id", request{body: withEvent(field("event_id", nil))}, 400, "event_id", 0, nil},
		{"bad occurred_at", request{body: withEvent(field("occurred_at", "2024-03-05 14:22"))}, 400, "occurred_at", 0, nil},
		{"occurred_at without offset", request{body: withEvent(field("occurred_at", "2024-03-05T14:22:10"))}, 400, "occurred_at", 0, nil},
		{"unknown status", request{body: withEvent(field("status", "XONG"))}, 400, "status", 0, nil},
		{"status 11", request{body: withEvent(field("status", 11))}, 400, "status", 0, nil},
		{"missing dossier", request{body: withEvent(field("dossier", nil))}, 400, "dossier", 0, nil},
		{"bad code", request{body: withEvent(dossierField("code", "000.00.20.H17-240305"))}, 400, "dossier.code", 0, nil},
		{"missing agency", request{body: withEvent(dossierField("agency", ""))}, 400, "dossier.agency", 0, nil},
		{"bad phone", request{body: withEvent(dossierField("applicant_phone", "12345"))}, 400, "dossier.applicant_phone", 0, nil},
		{"bad channel", request{body: withEvent(dossierField("submitted_via", "fax"))}, 400, "dossier.submitted_via", 0, nil},
		{"bad due_at", request{body: withEvent(dossierField("due_at", "mai"))}, 400, "dossier.due_at", 0, nil},
		{"note too long", request{body: withEvent(field("note", strings.Repeat("ồ", 501)))}, 400, "note", 0, nil},
		{"second of batch invalid", request{body: `{"events":[` + withEvent(field("event_id", "ok1")) + `,` + withEvent(dossierField("procedure_code", nil)) + `]}`}, 400, "dossier.procedure_code", 1, nil},
		{"empty batch", request{body: `{"events":[]}`}, 400, "events", 0, nil},
		{"events not array", request{body: `{"events":{}}`}, 400, "events", 0, nil},
	}
	for _, backend := range storetest.Backends() {
		for _, tc := range tests {
			t.Run(backend.Name+"/"+tc.name, func(t *testing.T) {
				h := newAPI(backend.Open(t))
				code, out := post(t, h, tc.req)
				if code != tc.status {
					t.Fatalf("status %d, want %d: %v", code, tc.status, out)
				}
				switch code {
				case 400:
					if out["field"] != tc.wantField || out["index"] != tc.wantIndex || out["error"] == "" {
						t.Fatalf("400 body %v, want field %q index %v", out, tc.wantField, tc.wantIndex)
					}
				case 200:
					res := out["results"].([]any)
					if len(res) != len(tc.results) {
						t.Fatalf("results %v", res)
					}
					for i, want := range tc.results {
						if got := res[i].(map[string]any)["result"]; got != want {
							t.Fatalf("result %d = %v, want %s", i, got, want)
						}
					}
				case 401:
					if out["error"] == "" {
						t.Fatalf("401 without an error message")
					}
				}
			})
		}
	}
}

func TestAPIInvalidBatchStoresNothing(t *testing.T) {
	db := storetest.SQLite(t)
	h := newAPI(db)
	body := `{"events":[` + withEvent(field("event_id", "ok1")) + `,` + withEvent(field("status", "?")) + `]}`
	if code, _ := post(t, h, request{body: body}); code != 400 {
		t.Fatalf("status %d", code)
	}
	if _, err := db.Dossiers().Dossier(context.Background(), "000.00.20.H17-240305-0001"); err != dossier.ErrNotFound {
		t.Fatalf("first event of an invalid batch was stored: %v", err)
	}
}

func TestAPIReplayAndOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newAPI(db)
		ctx := context.Background()
		steps := []struct {
			body   string
			result string
			status dossier.Status
		}{
			{contractEvent, "accepted", dossier.DangXuLy},
			{contractEvent, "duplicate", dossier.DangXuLy},
			{withEvent(func(m map[string]any) { // older event arrives late
				m["event_id"], m["status"], m["occurred_at"] = "mc-older", "DA_TIEP_NHAN", "2024-03-05T08:01:00+07:00"
			}), "stale", dossier.DangXuLy},
			{withEvent(func(m map[string]any) {
				m["event_id"], m["status"], m["occurred_at"], m["note"] = "mc-done", 9, "2024-03-07T10:00:00+07:00", "Mời nhận kết quả"
				m["dossier"].(map[string]any)["finished_at"] = "2024-03-07T10:00:00+07:00"
			}), "accepted", dossier.DaXuLyXong},
		}
		for i, s := range steps {
			code, out := post(t, h, request{body: s.body})
			if code != 200 {
				t.Fatalf("step %d: %d %v", i, code, out)
			}
			if got := out["results"].([]any)[0].(map[string]any)["result"]; got != s.result {
				t.Fatalf("step %d: result %v, want %s", i, got, s.result)
			}
			d, err := db.Dossiers().Dossier(ctx, "000.00.20.H17-240305-0001")
			if err != nil || d.Status != s.status {
				t.Fatalf("step %d: dossier status %v (%v), want %v", i, d.Status, err, s.status)
			}
		}
		d, _ := db.Dossiers().Dossier(ctx, "000.00.20.H17-240305-0001")
		if d.ApplicantPhone != "84905123456" || d.Note != "Mời nhận kết quả" || d.FinishedAt == nil {
			t.Fatalf("stored dossier %+v", d)
		}
		if tm, _ := d.Timing(now); tm != dossier.TimingEarly {
			t.Fatalf("timing %v, want early", tm)
		}
	})
}

func TestAPILimits(t *testing.T) {
	db := storetest.SQLite(t)
	h := newAPI(db)
	big := `{"events":[` + strings.Repeat(contractEvent+",", 1<<20/len(contractEvent)) + contractEvent + `]}`
	if code, _ := post(t, h, request{body: big}); code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d, want 413", code)
	}
	var events []string
	for i := range dossier.MaxBatch + 1 {
		events = append(events, withEvent(field("event_id", "x"+strconv.Itoa(i))))
	}
	if code, out := post(t, h, request{body: `{"events":[` + strings.Join(events, ",") + `]}`}); code != 400 || out["field"] != "events" {
		t.Fatalf("501 events: %d %v", code, out)
	}
	noSecret := dossier.NewAPI(db.Dossiers(), nil)
	req := httptest.NewRequest(http.MethodPost, "/api/v1/dossiers", bytes.NewReader([]byte(contractEvent)))
	rec := httptest.NewRecorder()
	noSecret.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("no secret: %d, want 503", rec.Code)
	}
}
