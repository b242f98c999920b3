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

// rawEvent replaces old by new in the contract example, byte for byte: the
// way to send what json.Marshal would never write (invalid UTF-8, a raw NUL).
func rawEvent(old, new string) string {
	if !strings.Contains(contractEvent, old) {
		panic("not in the contract example: " + old)
	}
	return strings.Replace(contractEvent, old, new, 1)
}

const contractCode = "000.00.20.H17-240305-0001"

// assertNothingStored checks that a refused request left no trace.
func assertNothingStored(t *testing.T, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	if d, err := db.Dossiers().Dossier(ctx, contractCode); err != dossier.ErrNotFound {
		t.Fatalf("a refused event was stored: %+v, %v", d, err)
	}
	if hist, err := db.Dossiers().History(ctx, contractCode); err != nil || len(hist) != 0 {
		t.Fatalf("history after a refused event: %d events, %v", len(hist), err)
	}
}

// Identifiers and fixed-shape fields with NUL, control characters or invalid
// UTF-8 are refused with a 400 naming the field; nothing is stored (issue 10:
// they used to give a 500 and the batch was retried for ever).
func TestAPIRefusesBadIdentifiers(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantField string
		wantIndex float64
	}{
		{"NUL in event_id", withEvent(field("event_id", "mc-2024-\x00123456")), "event_id", 0},
		{"event_id only NUL", withEvent(field("event_id", "\x00")), "event_id", 0},
		{"control character in event_id", withEvent(field("event_id", "mc-2024-\x01123456")), "event_id", 0},
		{"invalid UTF-8 in event_id", rawEvent(`"mc-2024-000123456"`, "\"mc-2024-\xff\xfe123456\""), "event_id", 0},
		{"lone surrogate in event_id", rawEvent(`"mc-2024-000123456"`, `"mc-2024-\ud800"`), "event_id", 0},
		{"NUL in dossier.code", withEvent(dossierField("code", contractCode+"\x00")), "dossier.code", 0},
		{"invalid UTF-8 in dossier.code", rawEvent(`"000.00.20.H17-240305-0001"`, "\"000.00.20.H17-240305-0001\xc3\""), "dossier.code", 0},
		{"NUL in dossier.procedure_code", withEvent(dossierField("procedure_code", "1.001\x00193")), "dossier.procedure_code", 0},
		{"invalid UTF-8 in dossier.procedure_code", rawEvent(`"1.001193"`, "\"1.001\xe1\x80193\""), "dossier.procedure_code", 0},
		{"NUL in status", withEvent(field("status", "DANG_XU_LY\x00")), "status", 0},
		{"NUL in occurred_at", withEvent(field("occurred_at", "2024-03-05T14:22:10+07:00\x00")), "occurred_at", 0},
		{"NUL in dossier.applicant_phone", withEvent(dossierField("applicant_phone", "0905\x00123456")), "dossier.applicant_phone", 0},
		{"invalid UTF-8 in dossier.applicant_phone", rawEvent(`"0905123456"`, "\"0905\xff123456\""), "dossier.applicant_phone", 0},
		{"NUL in dossier.submitted_via", withEvent(dossierField("submitted_via", "truc_tuyen\x00")), "dossier.submitted_via", 0},
		{"NUL in dossier.due_at", withEvent(dossierField("due_at", "2024-03-08T17:00:00+07:00\x00")), "dossier.due_at", 0},
		{"procedure_name only NUL", withEvent(dossierField("procedure_name", "\x00\x00")), "dossier.procedure_name", 0},
		{"agency only NUL", withEvent(dossierField("agency", "\x00")), "dossier.agency", 0},
		{"unescaped NUL byte in the body", rawEvent(`"Nguyễn Văn An"`, "\"Nguyễn\x00Văn An\""), "body", 0},
		{"NUL in the id of the second event of a batch", `{"events":[` + withEvent(field("event_id", "ok1")) + `,` +
			withEvent(func(m map[string]any) { m["event_id"], m["occurred_at"] = "ok2\x00", "2024-03-06T09:00:00+07:00" }) + `]}`, "event_id", 1},
	}
	for _, backend := range storetest.Backends() {
		for _, tc := range tests {
			t.Run(backend.Name+"/"+tc.name, func(t *testing.T) {
				db := backend.Open(t)
				code, out := post(t, newAPI(db), request{body: tc.body})
				if code != http.StatusBadRequest {
					t.Fatalf("status %d, want 400: %v", code, out)
				}
				if out["field"] != tc.wantField || out["index"] != tc.wantIndex || out["error"] == "" {
					t.Fatalf("400 body %v, want field %q index %v", out, tc.wantField, tc.wantIndex)
				}
				assertNothingStored(t, db)
			})
		}
	}
}

// Free text is cleaned: NUL and other control characters removed (the note
// keeps its line breaks), invalid UTF-8 turned into U+FFFD; the event is
// accepted and the cleaned text stored exactly.
func TestAPICleansFreeText(t *testing.T) {
	type want struct{ note, procedureName, agency, applicant, officer string }
	contract := want{"Chuyển phòng Tư pháp thẩm định", "Đăng ký khai sinh", "UBND phường Hải Châu I", "Nguyễn Văn An", "Trần Thị Bình"}
	with := func(mod func(*want)) want { w := contract; mod(&w); return w }
	tests := []struct {
		name string
		body string
		want want
	}{
		{"NUL in note", withEvent(field("note", "Chuyển phòng\x00 Tư pháp thẩm định\x00")), contract},
		{"control characters and CR LF in note", withEvent(field("note", "Cần bổ sung:\r\n- Tờ khai\x07\n\t- CCCD\x1b")),
			with(func(w *want) { w.note = "Cần bổ sung:\n- Tờ khai\n\t- CCCD" })},
		{"note only NUL", withEvent(field("note", "\x00")), with(func(w *want) { w.note = "" })},
		{"invalid UTF-8 in note", rawEvent(`"Chuyển phòng Tư pháp thẩm định"`, "\"Chuyển phòng \xff Tư pháp\""),
			with(func(w *want) { w.note = "Chuyển phòng \uFFFD Tư pháp" })},
		{"NUL in procedure_name", withEvent(dossierField("procedure_name", "Đăng ký\x00 khai sinh")), contract},
		{"invalid UTF-8 in procedure_name", rawEvent(`"Đăng ký khai sinh"`, "\"Đăng ký \xc3\x28khai sinh\""),
			with(func(w *want) { w.procedureName = "Đăng ký \uFFFD(khai sinh" })},
		{"NUL in agency", withEvent(dossierField("agency", "\x00UBND phường Hải Châu I")), contract},
		{"newline in agency", withEvent(dossierField("agency", "UBND phường\nHải Châu I")), contract},
		{"invalid UTF-8 in agency", rawEvent(`"UBND phường Hải Châu I"`, "\"UBND phường Hải Châu I\xed\xa0\x80\""),
			with(func(w *want) { w.agency = "UBND phường Hải Châu I\uFFFD\uFFFD\uFFFD" })},
		{"NUL in applicant_name", withEvent(dossierField("applicant_name", "Nguyễn\x00 Văn An")), contract},
		{"lone surrogate in applicant_name", rawEvent(`"Nguyễn Văn An"`, `"Nguyễn Văn An\udc00"`),
			with(func(w *want) { w.applicant = "Nguyễn Văn An\uFFFD" })},
		{"NUL in officer", withEvent(dossierField("officer", "Trần Thị\x00 Bình")), contract},
		{"tab in officer", withEvent(dossierField("officer", "Trần\tThị Bình")), contract},
		{"invalid UTF-8 in officer", rawEvent(`"Trần Thị Bình"`, "\"Trần Thị Bình\x80\""),
			with(func(w *want) { w.officer = "Trần Thị Bình\uFFFD" })},
	}
	for _, backend := range storetest.Backends() {
		for _, tc := range tests {
			t.Run(backend.Name+"/"+tc.name, func(t *testing.T) {
				db := backend.Open(t)
				ctx := context.Background()
				code, out := post(t, newAPI(db), request{body: tc.body})
				if code != http.StatusOK {
					t.Fatalf("status %d, want 200: %v", code, out)
				}
				if got := out["results"].([]any)[0].(map[string]any); got["result"] != "accepted" || got["event_id"] != "mc-2024-000123456" {
					t.Fatalf("result %v", got)
				}
				d, err := db.Dossiers().Dossier(ctx, contractCode)
				if err != nil {
					t.Fatal(err)
				}
				got := want{d.Note, d.ProcedureName, d.Agency, d.ApplicantName, d.Officer}
				if got != tc.want {
					t.Fatalf("stored\n %q\nwant\n %q", got, tc.want)
				}
				hist, err := db.Dossiers().History(ctx, contractCode)
				if err != nil || len(hist) != 1 {
					t.Fatalf("history %d events, %v", len(hist), err)
				}
				if hist[0].Note != tc.want.note {
					t.Fatalf("history note %q, want %q", hist[0].Note, tc.want.note)
				}
				// Each invalid byte reads as U+FFFD, as in the decoded fields.
				if wantPayload := string([]rune(tc.body)); string(hist[0].Payload) != wantPayload {
					t.Fatalf("payload %q, want the body as received (valid UTF-8) %q", hist[0].Payload, wantPayload)
				}
			})
		}
	}
}

// An event dated far ahead of the server's clock (now is 2026-11-22T07:00Z)
// is refused: it would otherwise rule the dossier for ever.
func TestAPIFutureEvents(t *testing.T) {
	at := func(id, occurred, status string) string {
		return withEvent(func(m map[string]any) { m["event_id"], m["occurred_at"], m["status"] = id, occurred, status })
	}
	tests := []struct {
		name       string
		body       string
		wantCode   int
		wantStatus dossier.Status // current status afterwards
		wantAt     string
		wantEvents []string // history
	}{
		{"2099", at("f-2099", "2099-01-01T00:00:00+07:00", "DA_TRA_KET_QUA"), 400, dossier.DaTiepNhan, "2026-11-22T13:00:00+07:00", []string{"base"}},
		{"10 min 1 s ahead", at("f-601", "2026-11-22T14:10:01+07:00", "DA_TRA_KET_QUA"), 400, dossier.DaTiepNhan, "2026-11-22T13:00:00+07:00", []string{"base"}},
		{"10 min 1 s ahead, in UTC", at("f-601z", "2026-11-22T07:10:01Z", "DA_TRA_KET_QUA"), 400, dossier.DaTiepNhan, "2026-11-22T13:00:00+07:00", []string{"base"}},
		{"9 min ahead", at("f-540", "2026-11-22T14:09:00+07:00", "DANG_XU_LY"), 200, dossier.DangXuLy, "2026-11-22T14:09:00+07:00", []string{"base", "f-540"}},
		{"exactly 10 min ahead", at("f-600", "2026-11-22T07:10:00Z", "DANG_XU_LY"), 200, dossier.DangXuLy, "2026-11-22T14:10:00+07:00", []string{"base", "f-600"}},
	}
	for _, backend := range storetest.Backends() {
		for _, tc := range tests {
			t.Run(backend.Name+"/"+tc.name, func(t *testing.T) {
				db := backend.Open(t)
				ctx := context.Background()
				h := newAPI(db)
				if code, out := post(t, h, request{body: at("base", "2026-11-22T13:00:00+07:00", "DA_TIEP_NHAN")}); code != 200 {
					t.Fatalf("base event: %d %v", code, out)
				}
				code, out := post(t, h, request{body: tc.body})
				if code != tc.wantCode {
					t.Fatalf("status %d, want %d: %v", code, tc.wantCode, out)
				}
				if code == 400 && (out["field"] != "occurred_at" || out["index"] != 0.0 || out["error"] == "") {
					t.Fatalf("400 body %v, want field occurred_at", out)
				}
				d, err := db.Dossiers().Dossier(ctx, contractCode)
				if err != nil {
					t.Fatal(err)
				}
				wantAt, _ := time.Parse(time.RFC3339, tc.wantAt)
				if d.Status != tc.wantStatus || !d.StatusAt.Equal(wantAt) || d.StatusAt.Location() != time.UTC {
					t.Fatalf("dossier %v at %v, want %v at %v", d.Status, d.StatusAt, tc.wantStatus, wantAt)
				}
				hist, err := db.Dossiers().History(ctx, contractCode)
				if err != nil {
					t.Fatal(err)
				}
				var ids []string
				for _, e := range hist {
					ids = append(ids, e.ID)
				}
				if strings.Join(ids, ",") != strings.Join(tc.wantEvents, ",") {
					t.Fatalf("history %v, want %v", ids, tc.wantEvents)
				}
			})
		}
	}
}

// Two events with the same occurred_at: the later arrival rules the
// dossier, whatever the order, and both stay in the history in the order
// they arrived.
func TestAPIEqualOccurredAt(t *testing.T) {
	const occurred = "2024-03-06T09:00:00+07:00"
	ev := func(id, status, note string) string {
		return withEvent(func(m map[string]any) {
			m["event_id"], m["occurred_at"], m["status"], m["note"] = id, occurred, status, note
		})
	}
	supplement := ev("mc-a", "CHO_BO_SUNG", "Bổ sung tờ khai")
	processing := ev("mc-b", "DANG_XU_LY", "Đã nhận bổ sung")
	tests := []struct {
		name       string
		bodies     []string // requests, in arrival order
		wantStatus dossier.Status
		wantNote   string
		wantLast   string
		wantHist   []string
	}{
		{"a then b", []string{supplement, processing}, dossier.DangXuLy, "Đã nhận bổ sung", "mc-b", []string{"mc-a", "mc-b"}},
		{"b then a", []string{processing, supplement}, dossier.ChoBoSung, "Bổ sung tờ khai", "mc-a", []string{"mc-b", "mc-a"}},
		{"a then b in one batch", []string{`{"events":[` + supplement + `,` + processing + `]}`}, dossier.DangXuLy, "Đã nhận bổ sung", "mc-b", []string{"mc-a", "mc-b"}},
		{"b then a in one batch", []string{`{"events":[` + processing + `,` + supplement + `]}`}, dossier.ChoBoSung, "Bổ sung tờ khai", "mc-a", []string{"mc-b", "mc-a"}},
		{"same instant in another offset", []string{supplement, withEvent(func(m map[string]any) {
			m["event_id"], m["occurred_at"], m["status"], m["note"] = "mc-b", "2024-03-06T02:00:00Z", "DANG_XU_LY", "Đã nhận bổ sung"
		})}, dossier.DangXuLy, "Đã nhận bổ sung", "mc-b", []string{"mc-a", "mc-b"}},
	}
	for _, backend := range storetest.Backends() {
		for _, tc := range tests {
			t.Run(backend.Name+"/"+tc.name, func(t *testing.T) {
				db := backend.Open(t)
				ctx := context.Background()
				h := newAPI(db)
				for i, body := range tc.bodies {
					code, out := post(t, h, request{body: body})
					if code != 200 {
						t.Fatalf("request %d: %d %v", i, code, out)
					}
					for _, r := range out["results"].([]any) {
						if r.(map[string]any)["result"] != "accepted" {
							t.Fatalf("request %d: %v, want every event accepted", i, out)
						}
					}
				}
				// A replay of the first arrival changes nothing.
				if code, out := post(t, h, request{body: tc.bodies[0]}); code != 200 ||
					out["results"].([]any)[0].(map[string]any)["result"] != "duplicate" {
					t.Fatalf("replay: %d %v", code, out)
				}
				d, err := db.Dossiers().Dossier(ctx, contractCode)
				if err != nil {
					t.Fatal(err)
				}
				wantAt, _ := time.Parse(time.RFC3339, occurred)
				if d.Status != tc.wantStatus || d.Note != tc.wantNote || d.LastEventID != tc.wantLast || !d.StatusAt.Equal(wantAt) {
					t.Fatalf("dossier %v %q from %s at %v; want %v %q from %s", d.Status, d.Note, d.LastEventID, d.StatusAt,
						tc.wantStatus, tc.wantNote, tc.wantLast)
				}
				hist, err := db.Dossiers().History(ctx, contractCode)
				if err != nil || len(hist) != 2 {
					t.Fatalf("history %d events, %v", len(hist), err)
				}
				for i, id := range tc.wantHist {
					if hist[i].ID != id || !hist[i].OccurredAt.Equal(wantAt) {
						t.Fatalf("history[%d] = %s at %v, want %s", i, hist[i].ID, hist[i].OccurredAt, id)
					}
				}
			})
		}
	}
}

// A database that does not answer (here: another transaction holds the
// dossier's row, or SQLite's write lock) ends the request at the store's
// deadline with a 503 and a JSON error; once it answers again, the retry is
// stored.
func TestAPIStalledDatabase(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		h := dossier.NewAPI(db.DossiersWithTimeout(300*time.Millisecond), secret,
			dossier.WithClock(func() time.Time { return now }),
			dossier.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if code, out := post(t, h, request{body: contractEvent}); code != 200 {
			t.Fatalf("first event: %d %v", code, out)
		}
		locker, err := db.Bun().BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer locker.Rollback()
		if _, err := locker.ExecContext(ctx, "UPDATE dossiers SET note = note WHERE code = ?", contractCode); err != nil {
			t.Fatal(err)
		}
		newer := withEvent(func(m map[string]any) {
			m["event_id"], m["occurred_at"], m["status"] = "mc-newer", "2024-03-06T09:00:00+07:00", "CHO_BO_SUNG"
		})
		started := time.Now()
		req := httptest.NewRequest(http.MethodPost, "/api/v1/dossiers", strings.NewReader(newer))
		req.Header.Set("X-DVC-Timestamp", strconv.FormatInt(now.Unix(), 10))
		req.Header.Set("X-DVC-Signature", signature.Sign(secret, now.Unix(), []byte(newer)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if elapsed := time.Since(started); elapsed > 5*time.Second {
			t.Fatalf("the request took %v with a 300 ms deadline", elapsed)
		}
		var out map[string]string
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("503 body is not JSON: %q", rec.Body.String())
		}
		if rec.Code != http.StatusServiceUnavailable || out["error"] != "database unavailable; retry later" ||
			rec.Header().Get("Retry-After") != "5" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("stalled database: %d %v %v, want 503 with a JSON error", rec.Code, out, rec.Header())
		}
		if err := locker.Rollback(); err != nil {
			t.Fatal(err)
		}
		code, res := post(t, h, request{body: newer})
		if code != 200 || res["results"].([]any)[0].(map[string]any)["result"] != "accepted" {
			t.Fatalf("retry after the stall: %d %v, want accepted", code, res)
		}
		d, err := db.Dossiers().Dossier(ctx, contractCode)
		if err != nil || d.Status != dossier.ChoBoSung || d.LastEventID != "mc-newer" {
			t.Fatalf("after the retry: %v from %s (%v)", d.Status, d.LastEventID, err)
		}
	})
}
