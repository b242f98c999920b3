package sms_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/bots/notices"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/channels/sms"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/signature"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const (
	key    = "kannel-key-0123"
	secret = "generic-secret-0123456"
	code   = "000.00.20.H17-261102-0004" // DANG_XU_LY, demo applicant 0905123456
	ready  = "000.00.20.H17-261102-0010" // DA_XU_LY_XONG
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

type fixture struct {
	db  *store.DB
	mux *http.ServeMux
}

func newFixture(t *testing.T, cfg sms.Config) *fixture {
	t.Helper()
	db := storetest.SQLite(t)
	bot, tr := citizentest.New(t, db, time.Now())
	mux := http.NewServeMux()
	pipe := channeltest.Pipeline(db, bot, tr, inbound.WithRoute(notices.Route(db.Notices(nil, nil), db.Dossiers(), tr, quiet, nil)))
	sms.New(cfg, pipe, sms.WithReceipts(db.Outbox()), sms.WithLogger(quiet)).Register(mux)
	return &fixture{db: db, mux: mux}
}

func loopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
}

// kannelGet is the request smsbox makes for
// get-url = "http://host/channels/sms/kannel?sender=%p&to=%P&text=%a&id=%I&ts=%T&coding=%c&charset=%C&key=…"
func kannelGet(sender, text, id string, extra url.Values) *http.Request {
	q := url.Values{"sender": {sender}, "to": {"8188"}, "text": {text}, "id": {id}, "ts": {"1795327431"},
		"coding": {"0"}, "charset": {"UTF-8"}, "key": {key}}
	for k, v := range extra {
		q[k] = v
	}
	r := httptest.NewRequest(http.MethodGet, "/channels/sms/kannel?"+q.Encode(), nil)
	r.RemoteAddr = "127.0.0.1:40312"
	return r
}

func (f *fixture) do(r *http.Request) (int, string, http.Header) {
	rec := httptest.NewRecorder()
	f.mux.ServeHTTP(rec, r)
	return rec.Code, rec.Body.String(), rec.Header()
}

func ucs2(s string) string {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return string(b)
}

func TestKannelMO(t *testing.T) {
	tests := []struct {
		name    string
		req     func() *http.Request
		status  int
		want    []string
		notWant []string
	}{
		{"status for the applicant", func() *http.Request {
			return kannelGet("0905123456", "dvc 000.00.20.h17-261102-0004", "b3eb77c7-7675-495f-818b-13e9cfd61478", nil)
		}, 200, []string{"Ho so " + code, "Dang ky tam tru", "Pham Thi Dung", "Chuyen Cong an phuong"}, nil},
		{"international format, a stranger gets masked data", func() *http.Request {
			return kannelGet("+84912000111", "DVC "+code, "id-2", nil)
		}, 200, []string{"Pham T. D."}, []string{"Pham Thi Dung", "Chuyen Cong an"}},
		{"UCS-2 MO without mo-recode", func() *http.Request {
			return kannelGet("84905123456", ucs2("Đvc "+code), "id-3", url.Values{"coding": {"2"}, "charset": {"UTF-16BE"}})
		}, 200, []string{"Ho so " + code}, nil},
		{"Vietnamese search with diacritics (UTF-8, recoded)", func() *http.Request {
			return kannelGet("0905123456", "tìm đăng ký khai sinh", "id-4", nil)
		}, 200, []string{"dang ky khai sinh (1.001193)"}, nil},
		{"post-url: body is the text", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/channels/sms/kannel?sender=0905123456&id=id-5&key="+key, strings.NewReader("HD"))
			r.Header.Set("Content-Type", `text/plain; charset="UTF-8"`)
			r.Header.Set("X-Kannel-Time", "2026-11-22 06:03:51")
			r.RemoteAddr = "127.0.0.1:40000"
			return r
		}, 200, []string{"Cach dung"}, nil},
		{"post-url: UTF-16BE body", func() *http.Request {
			r := httptest.NewRequest(http.MethodPost, "/channels/sms/kannel?id=id-6&key="+key, strings.NewReader(ucs2("tìm cấp lại căn cước")))
			r.Header.Set("Content-Type", `text/plain; charset="UTF-16BE"`)
			r.Header.Set("X-Kannel-From", "0905123456")
			r.RemoteAddr = "[::1]:40000"
			return r
		}, 200, []string{"Cap lai the can cuoc"}, nil},
		{"form-encoded POST", func() *http.Request {
			form := url.Values{"sender": {"0905123456"}, "text": {"?"}, "id": {"id-7"}, "key": {key}}
			r := httptest.NewRequest(http.MethodPost, "/channels/sms/kannel", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.RemoteAddr = "127.0.0.1:40000"
			return r
		}, 200, []string{"Cach dung"}, nil},
		{"wrong key", func() *http.Request {
			return kannelGet("0905123456", "HD", "id-8", url.Values{"key": {"kannel-key-0124"}})
		}, 403, nil, nil},
		{"no key", func() *http.Request {
			return kannelGet("0905123456", "HD", "id-9", url.Values{"key": {""}})
		}, 403, nil, nil},
		{"right key from a foreign network", func() *http.Request {
			r := kannelGet("0905123456", "HD", "id-10", nil)
			r.RemoteAddr = "203.0.113.9:5000"
			return r
		}, 403, nil, nil},
		{"no sender", func() *http.Request { return kannelGet("", "HD", "id-11", nil) }, 400, nil, nil},
		{"foreign number: no reply", func() *http.Request { return kannelGet("+12025550123", "HD", "id-12", nil) }, 200, nil, []string{"Cach"}},
		{"odd UCS-2", func() *http.Request {
			return kannelGet("0905123456", "abc", "id-13", url.Values{"coding": {"2"}, "charset": {"UTF-16BE"}})
		}, 400, nil, nil},
	}
	f := newFixture(t, sms.Config{Key: key, AllowCIDRs: loopback(), MaxSegments: 2})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, h := f.do(tc.req())
			if status != tc.status {
				t.Fatalf("status %d, want %d: %q", status, tc.status, body)
			}
			if status != 200 {
				return
			}
			if ct := h.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Fatalf("content type %q", ct)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Fatalf("reply lacks %q:\n%s", w, body)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(body, w) {
					t.Fatalf("reply must not contain %q:\n%s", w, body)
				}
			}
			if !vntext.IsGSM7(body) || vntext.CountSMS(body).Segments > 2 {
				t.Fatalf("reply is not GSM-7 within 2 segments: %q", body)
			}
		})
	}
}

// Kannel retries with the same %I: the citizen gets the same answer and the
// action (here a rating) happens once.
func TestRepeatedMOIsAnsweredOnce(t *testing.T) {
	f := newFixture(t, sms.Config{Key: key, AllowCIDRs: loopback()})
	ctx := context.Background()
	first := ""
	for i := range 3 {
		status, body, _ := f.do(kannelGet("0905123456", "DG "+ready+" 3 phai di lai nhieu lan", "mo-42", nil))
		if status != 200 || !strings.Contains(body, "Da ghi nhan") {
			t.Fatalf("attempt %d: %d %q", i, status, body)
		}
		if i == 0 {
			first = body
		} else if body != first {
			t.Fatalf("repeat answered differently:\n%s\n---\n%s", first, body)
		}
	}
	audit, err := f.db.RatingAudit(ctx, ready)
	if err != nil || len(audit) != 1 || audit[0].Level != rating.KhongHaiLong {
		t.Fatalf("rating stored %d times (%v), want once", len(audit), err)
	}
	// A new id from the same phone is a new message.
	_, body, _ := f.do(kannelGet("0905123456", "DG "+ready+" 1", "mo-43", nil))
	if !strings.Contains(body, "Da cap nhat") {
		t.Fatalf("new message: %q", body)
	}
}

func TestOptOut(t *testing.T) {
	f := newFixture(t, sms.Config{AllowCIDRs: loopback()}) // CIDRs alone
	ctx := context.Background()
	_, body, _ := f.do(kannelGet("0905123456", "tu chối", "o-1", url.Values{"key": nil}))
	if !strings.Contains(body, "tu choi nhan tin nhan") {
		t.Fatalf("opt-out reply %q", body)
	}
	if out, _ := f.db.SMSOptOuts().OptedOut(ctx, "84905123456"); !out {
		t.Fatal("opt-out not recorded under the normalised number")
	}
	// Proactive SMS to that phone now fail for good, without calling the gateway.
	called := false
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	defer gw.Close()
	u, _ := url.Parse(gw.URL + "/cgi-bin/sendsms")
	sender := sms.NewSender(sms.SenderConfig{URL: u, Kind: sms.KindKannel, Shortcode: "8188"}, f.db.SMSOptOuts(), nil)
	if _, err := sender.Send(ctx, notify.Message{Recipient: "84905123456", Payload: notify.Payload{Text: "x"}}); !notify.IsPermanent(err) || called {
		t.Fatalf("send to an opted-out phone: %v (gateway called: %v)", err, called)
	}
	_, body, _ = f.do(kannelGet("+84905123456", "BAT", "o-2", nil))
	if out, _ := f.db.SMSOptOuts().OptedOut(ctx, "84905123456"); out || !strings.Contains(body, "nhan lai") {
		t.Fatalf("opt-in: %q", body)
	}
}

func signed(body string, ts int64, key string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/channels/sms/generic", strings.NewReader(body))
	r.Header.Set("X-DVC-Timestamp", strconv.FormatInt(ts, 10))
	r.Header.Set("X-DVC-Signature", signature.Sign([]byte(key), ts, []byte(body)))
	return r
}

func TestGenericGateway(t *testing.T) {
	f := newFixture(t, sms.Config{Secret: secret})
	now := time.Now().Unix()
	tests := []struct {
		name   string
		req    *http.Request
		status int
		reply  string
		field  string
	}{
		{"status", signed(`{"id":"g1","from":"84905123456","to":"8188","text":"DVC `+code+`","ts":1795327431}`, now, secret), 200, "Ho so " + code, ""},
		{"repeat", signed(`{"id":"g1","from":"84905123456","to":"8188","text":"DVC `+code+`"}`, now, secret), 200, "Ho so " + code, ""},
		{"RFC 3339 ts", signed(`{"id":"g2","from":"0905123456","text":"HD","ts":"2026-11-22T06:00:00+07:00"}`, now, secret), 200, "Cach dung", ""},
		{"forged", signed(`{"id":"g3","from":"0905123456","text":"HD"}`, now, "another-secret-xxxxxxxx"), 401, "", ""},
		{"stale", signed(`{"id":"g4","from":"0905123456","text":"HD"}`, now-600, secret), 401, "", ""},
		{"no id", signed(`{"from":"0905123456","text":"HD"}`, now, secret), 400, "", "id"},
		{"no from", signed(`{"id":"g5","text":"HD"}`, now, secret), 400, "", "from"},
		{"bad phone", signed(`{"id":"g6","from":"12","text":"HD"}`, now, secret), 400, "", "from"},
		{"bad ts", signed(`{"id":"g7","from":"0905123456","text":"HD","ts":"hôm qua"}`, now, secret), 400, "", "ts"},
		{"not json", signed(`{"id":`, now, secret), 400, "", "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := f.do(tc.req)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			var out map[string]string
			if err := json.Unmarshal([]byte(body), &out); err != nil {
				t.Fatalf("not JSON: %s", body)
			}
			if tc.reply != "" && !strings.Contains(out["reply"], tc.reply) {
				t.Fatalf("reply %q lacks %q", out["reply"], tc.reply)
			}
			if tc.field != "" && out["field"] != tc.field {
				t.Fatalf("field %q, want %q", out["field"], tc.field)
			}
		})
	}
	big := signed(`{"id":"big","from":"0905123456","text":"`+strings.Repeat("a", 70<<10)+`"}`, now, secret)
	if status, _, _ := f.do(big); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized: %d", status)
	}
	off := newFixture(t, sms.Config{})
	if status, _, _ := off.do(signed(`{}`, now, secret)); status != http.StatusServiceUnavailable {
		t.Fatalf("without a secret: %d", status)
	}
}

func TestDeliveryReports(t *testing.T) {
	f := newFixture(t, sms.Config{Key: key, AllowCIDRs: loopback()})
	ctx := context.Background()
	f.db.Outbox().Enqueue(ctx, notify.Message{Kind: notify.SMS, Recipient: "84905123456", DedupeKey: "k1", Payload: notify.Payload{Text: "x"}})
	msgs, _ := f.db.Outbox().Messages(ctx, notify.SMS)
	id := strconv.FormatInt(msgs[0].ID, 10)
	dlr := func(q string, remote string) int {
		r := httptest.NewRequest(http.MethodGet, "/channels/sms/dlr?"+q, nil)
		r.RemoteAddr = remote
		status, _, _ := f.do(r)
		return status
	}
	for _, tc := range []struct {
		q, remote string
		status    int
	}{
		{"id=" + id + "&status=8&key=" + key, "127.0.0.1:1", 200},
		{"id=" + id + "&status=1&key=" + key, "127.0.0.1:1", 200},
		{"id=" + id + "&status=1&key=nope", "127.0.0.1:1", 403},
		{"id=" + id + "&status=1&key=" + key, "198.51.100.7:1", 403},
		{"id=abc&status=1&key=" + key, "127.0.0.1:1", 400},
		{"id=" + id + "&status=3&key=" + key, "127.0.0.1:1", 400},
		{"id=99999&status=1&key=" + key, "127.0.0.1:1", 404},
	} {
		if got := dlr(tc.q, tc.remote); got != tc.status {
			t.Errorf("%s from %s: %d, want %d", tc.q, tc.remote, got, tc.status)
		}
	}
	msgs, _ = f.db.Outbox().Messages(ctx, notify.SMS)
	if msgs[0].DeliveryStatus != "delivered" {
		t.Fatalf("delivery status %q", msgs[0].DeliveryStatus)
	}
}

// The sender speaks Kannel's sendsms: credentials from the URL, the shortcode,
// UCS-2 only when needed, a DLR URL carrying the outbox id.
func TestKannelSender(t *testing.T) {
	db := storetest.SQLite(t)
	var got url.Values
	status := http.StatusAccepted
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query()
		w.WriteHeader(status)
		io.WriteString(w, "0: Accepted for delivery")
	}))
	defer gw.Close()
	u, _ := url.Parse(strings.Replace(gw.URL, "http://", "http://tester:foobar@", 1) + "/cgi-bin/sendsms")
	s := sms.NewSender(sms.SenderConfig{URL: u, Kind: sms.KindKannel, Shortcode: "8188",
		DLRURL: "http://127.0.0.1:8080/channels/sms/dlr?key=" + key}, db.SMSOptOuts(), nil)
	ctx := context.Background()
	m := notify.Message{ID: 42, Recipient: "84905123456", Payload: notify.Payload{Text: "Hồ sơ đã có kết quả"}}
	if _, err := s.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"username": "tester", "password": "foobar", "from": "8188", "to": "84905123456",
		"text": "Ho so da co ket qua", "dlr-mask": "27", "dlr-url": "http://127.0.0.1:8080/channels/sms/dlr?key=" + key + "&id=42&status=%d"}
	for k, v := range want {
		if got.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, got.Get(k), v)
		}
	}
	if got.Get("coding") != "" {
		t.Errorf("accent-free text sent as UCS-2")
	}
	status = http.StatusServiceUnavailable
	if _, err := s.Send(ctx, m); err == nil || notify.IsPermanent(err) {
		t.Fatalf("503 must be retried: %v", err)
	}
	status = http.StatusForbidden
	if _, err := s.Send(ctx, m); !notify.IsPermanent(err) {
		t.Fatalf("403 must not be retried: %v", err)
	}
}

// A gateway that numbers MOs per connection (%i) or a replay fixture gives
// two phones the same id: the second phone gets its own answer, never the
// first one's (which names the applicant).
func TestReusedIDFromAnotherPhone(t *testing.T) {
	f := newFixture(t, sms.Config{Key: key, AllowCIDRs: loopback()})
	steps := []struct {
		from, text string
		want, not  string
	}{
		{"0905123456", "DVC " + code, "Pham Thi Dung", ""},              // the applicant: full name
		{"0912000111", "HD", "DVC", "Pham Thi Dung"},                    // same id, another phone: its own answer
		{"0905123456", "DVC " + code, "Pham Thi Dung", ""},              // the applicant's retry: the same answer
		{"0912000111", "DVC " + code, "Ho so " + code, "Pham Thi Dung"}, // a stranger asking: masked
	}
	for i, s := range steps {
		id := "mo-7"
		if i == 3 {
			id = "mo-8"
		}
		status, body, _ := f.do(kannelGet(s.from, s.text, id, nil))
		if status != 200 || !strings.Contains(body, s.want) || (s.not != "" && strings.Contains(body, s.not)) {
			t.Fatalf("step %d from %s: %d %q", i, s.from, status, body)
		}
	}
}
