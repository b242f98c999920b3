package lookup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/lookup/lookuptest"

	"github.com/dvcbot/dvcbot/core/demo"
	"github.com/dvcbot/dvcbot/core/lookup"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const publicURL = "https://dvc.example.vn"

// fakeKeys accepts exactly one key.
type fakeKeys struct{ good string }

func (k fakeKeys) Authenticate(_ context.Context, key string) (bool, error) {
	return key == k.good, nil
}

// The token is a 32-character base32 HMAC: it never contains the code,
// differs per code and per secret, and is the same for the same pair.
func TestToken(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	shape := regexp.MustCompile(`^[a-z2-7]{32}$`)
	codes := []string{"000.00.20.H17-261102-0004", "000.00.20.H17-261102-0005", "H21-261008-0975", "00673810079", "HS-2024-0047"}
	seen := map[string]string{}
	for _, code := range codes {
		tok := lookup.Token(secret, code)
		if !shape.MatchString(tok) {
			t.Errorf("%s: token %q is not 32 base32 characters", code, tok)
		}
		if strings.Contains(strings.ToUpper(tok), strings.ToUpper(code)) {
			t.Errorf("%s: token %q contains the code", code, tok)
		}
		if other, dup := seen[tok]; dup {
			t.Errorf("%s and %s share token %s", code, other, tok)
		}
		seen[tok] = code
		if again := lookup.Token(secret, code); again != tok {
			t.Errorf("%s: token not stable: %s then %s", code, tok, again)
		}
		if other := lookup.Token([]byte("another-secret-0123456789"), code); other == tok {
			t.Errorf("%s: the same token under two secrets", code)
		}
	}
	if lookup.TokenLen != 32 || lookup.TokenBytes*8 < 128 {
		t.Fatalf("token of %d bytes, %d characters", lookup.TokenBytes, lookup.TokenLen)
	}
}

// fixture is a service over a real database holding the demo dossiers.
type fixture struct {
	db   *store.DB
	svc  *lookup.Service
	srv  *httptest.Server
	now  time.Time
	demo map[string]demo.Dossier
}

func newFixture(t *testing.T, db *store.DB, secret []byte, keys lookup.Keys) *fixture {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	events, err := demo.Events(now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Dossiers().ApplyEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	opts := []lookup.Option{lookup.WithClock(func() time.Time { return now })}
	if keys != nil {
		opts = append(opts, lookup.WithKeys(keys))
	}
	svc, err := lookup.New(db.Lookup(), db.Dossiers(), lookup.Config{PublicURL: publicURL + "/", Secret: secret,
		ZaloURL: "https://zalo.me/4368496045530575990", TelegramURL: "https://t.me/dvc_danang_bot"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f := &fixture{db: db, svc: svc, srv: srv, now: now, demo: map[string]demo.Dossier{}}
	for _, d := range demo.Dossiers() {
		f.demo[d.Code] = d
	}
	return f
}

func (f *fixture) get(t *testing.T, path string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// path is a link's path on the test server.
func path(t *testing.T, l lookup.Link) string {
	t.Helper()
	p, ok := strings.CutPrefix(l.URL, publicURL)
	if !ok {
		t.Fatalf("link %s is not under %s", l.URL, publicURL)
	}
	return p
}

// A stored link resolves to a page with the tier-0 status only; the QR
// code decodes to the link; two codes have two links; anything else is 404.
func TestLinksPagesAndQR(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, []byte("a-configured-secret-0123456789"), nil)
		const code = "000.00.20.H17-261102-0004" // Đăng ký tạm trú: a name, a phone, a note and an officer
		l, err := f.svc.Link(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		if l.Token != lookup.Token([]byte("a-configured-secret-0123456789"), code) || l.URL != publicURL+"/tra-cuu/"+l.Token ||
			l.QRURL != l.URL+"/qr.png" || l.Code != code {
			t.Fatalf("link %+v", l)
		}
		if strings.Contains(l.URL, code) || strings.Contains(l.URL, "H17") || strings.Contains(l.URL, "261102") {
			t.Fatalf("the link %s shows the code", l.URL)
		}
		again, err := f.svc.Link(ctx, code)
		if err != nil || again != l {
			t.Fatalf("linking twice: %+v, %v", again, err)
		}
		other, err := f.svc.Link(ctx, "000.00.20.H17-261102-0005")
		if err != nil || other.Token == l.Token {
			t.Fatalf("second dossier: %+v, %v", other, err)
		}
		if got, err := db.Lookup().LinkCode(ctx, l.Token); err != nil || got != code {
			t.Fatalf("stored token resolves to %q, %v", got, err)
		}

		status, hdr, page := f.get(t, path(t, l))
		if status != 200 || hdr.Get("Content-Type") != "text/html; charset=utf-8" || hdr.Get("Referrer-Policy") != "no-referrer" ||
			hdr.Get("Cache-Control") != "no-store" {
			t.Fatalf("page: %d %v", status, hdr)
		}
		d := f.demo[code]
		stored, err := db.Dossiers().Dossier(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			`<html lang="vi">`, `name="viewport"`, code, "Đăng ký tạm trú", demo.Agency,
			"Hồ sơ đang được giải quyết, hẹn trả ngày 28/11/2026", "Ngày hẹn trả</dt><dd>28/11/2026",
			"Ngày tiếp nhận</dt><dd>02/11/2026", "Tiến độ</dt><dd>trong hạn",
			`href="https://zalo.me/4368496045530575990"`, `>Tiếp tục trên Zalo<`,
			`href="https://t.me/dvc_danang_bot"`, `>Tiếp tục trên Telegram<`,
			`href="https://dvc.example.vn/"`, `>Trò chuyện trên trang web<`,
			"<kbd>DVC " + code + "</kbd>", `href="/tra-cuu/` + l.Token + `/qr.png"`,
		} {
			if !bytes.Contains(page, []byte(want)) {
				t.Errorf("page lacks %q", want)
			}
		}
		secrets := map[string]string{
			"name": d.Applicant, "family name": "Phạm", "given name": "Dung", "masked name": "Phạm T. D.",
			"note": d.Note, "phone": demo.ApplicantPhone, "phone 84": "84" + demo.ApplicantPhone[1:],
			"last digits": demo.ApplicantPhone[6:], "officer": stored.Officer,
		}
		if stored.ApplicantName != d.Applicant || stored.Note == "" || stored.Officer == "" || stored.ApplicantPhone == "" {
			t.Fatalf("the demo dossier lacks personal data to hide: %+v", stored)
		}
		for what, s := range secrets {
			if bytes.Contains(page, []byte(s)) {
				t.Errorf("the page shows the %s %q", what, s)
			}
		}

		status, hdr, png := f.get(t, path(t, l)+"/qr.png")
		if status != 200 || hdr.Get("Content-Type") != "image/png" {
			t.Fatalf("qr.png: %d %v", status, hdr)
		}
		if got := lookuptest.DecodeQR(t, png); got != l.URL {
			t.Fatalf("the QR code reads %q, want %q", got, l.URL)
		}

		random := strings.Repeat("a", lookup.TokenLen)
		for _, p := range []string{
			"/tra-cuu/" + random, "/tra-cuu/" + random + "/qr.png", "/tra-cuu/short", "/tra-cuu/" + code,
			"/tra-cuu/" + strings.Repeat("1", lookup.TokenLen), "/tra-cuu/" + other.Token + "x",
		} {
			status, _, body := f.get(t, p)
			if status != 404 {
				t.Errorf("%s: %d, want 404", p, status)
			}
			if !strings.HasSuffix(p, ".png") && !bytes.Contains(body, []byte("Không tìm thấy hồ sơ")) {
				t.Errorf("%s: the 404 page lacks its message: %s", p, body)
			}
		}
		// Upper case is the same token (a QR reader or a person may change case).
		if status, _, _ := f.get(t, "/tra-cuu/"+strings.ToUpper(l.Token)); status != 200 {
			t.Errorf("upper-case token: %d", status)
		}
	})
}

// Every demo status renders, and none of them shows personal data.
func TestPageForEveryStatus(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db, nil, nil)
		for _, d := range demo.Dossiers() {
			l, err := f.svc.Link(ctx, d.Code)
			if err != nil {
				t.Fatal(err)
			}
			status, _, page := f.get(t, path(t, l))
			if status != 200 || !bytes.Contains(page, []byte(d.Code)) || !bytes.Contains(page, []byte(d.ProcedureName)) {
				t.Errorf("%s: %d", d.Code, status)
				continue
			}
			for _, s := range []string{d.Applicant, demo.ApplicantPhone, "84" + demo.ApplicantPhone[1:], "Cán bộ một cửa"} {
				if bytes.Contains(page, []byte(s)) {
					t.Errorf("%s: the page shows %q", d.Code, s)
				}
			}
			if d.Note != "" && bytes.Contains(page, []byte(d.Note)) {
				t.Errorf("%s: the page shows the note", d.Code)
			}
		}
	})
}

// Without DVCBOT_LINK_SECRET the secret is generated once and kept in the
// database: two services (two replicas, a restart) make the same links.
func TestGeneratedSecretIsShared(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		const code = "000.00.20.H17-261102-0004"
		a, err := lookup.NewLinker(db.Lookup(), publicURL, nil).Link(ctx, code)
		if err != nil {
			t.Fatal(err)
		}
		b, err := lookup.NewLinker(db.Lookup(), publicURL, nil).Link(ctx, code)
		if err != nil || a != b {
			t.Fatalf("two linkers: %+v and %+v, %v", a, b, err)
		}
		s1, err := db.Lookup().LinkSecret(ctx, []byte("ignored-because-one-is-stored"))
		if err != nil || len(s1) != lookup.SecretBytes || lookup.Token(s1, code) != a.Token {
			t.Fatalf("stored secret of %d bytes, %v", len(s1), err)
		}
		// A configured secret makes other tokens; the old link still resolves.
		c, err := lookup.NewLinker(db.Lookup(), publicURL, []byte("configured-later-0123456789")).Link(ctx, code)
		if err != nil || c.Token == a.Token {
			t.Fatalf("configured secret: %+v, %v", c, err)
		}
		for _, tok := range []string{a.Token, c.Token} {
			if got, err := db.Lookup().LinkCode(ctx, tok); err != nil || got != code {
				t.Errorf("%s resolves to %q, %v", tok, got, err)
			}
		}
	})
}

// The store's token table: unique tokens, idempotent saves, unknown tokens.
func TestLinkStore(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ls := db.Lookup()
		tests := []struct {
			token, code string
			wantErr     bool
		}{
			{"tok-a", "CODE-1", false},
			{"tok-a", "CODE-1", false}, // again: nothing changes
			{"tok-b", "CODE-1", false}, // a second token for the same dossier
			{"tok-a", "CODE-2", true},  // a token belongs to one dossier
		}
		for i, tc := range tests {
			err := ls.SaveLink(ctx, tc.token, tc.code)
			if (err != nil) != tc.wantErr {
				t.Errorf("%d: SaveLink(%s, %s) = %v, want error %v", i, tc.token, tc.code, err, tc.wantErr)
			}
		}
		for tok, want := range map[string]string{"tok-a": "CODE-1", "tok-b": "CODE-1"} {
			if got, err := ls.LinkCode(ctx, tok); err != nil || got != want {
				t.Errorf("LinkCode(%s) = %q, %v", tok, got, err)
			}
		}
		if _, err := ls.LinkCode(ctx, "tok-c"); !errors.Is(err, lookup.ErrNotFound) {
			t.Errorf("unknown token: %v", err)
		}
	})
}

// The read API answers the tier-0 status to a caller with a good key.
func TestReadAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const good = "dvck_good-key-0123456789"
		f := newFixture(t, db, []byte("a-configured-secret-0123456789"), fakeKeys{good})
		const code = "000.00.20.H17-261102-0005" // overdue by 2 days
		tests := []struct {
			name, path, auth string
			status           int
			body             string
		}{
			{"no key", "/api/v1/dossiers/" + code, "", 401, `{"error":"an API key is required: Authorization: Bearer <key>"}`},
			{"wrong key", "/api/v1/dossiers/" + code, "Bearer dvck_wrong", 401, `{"error":"an API key is required: Authorization: Bearer <key>"}`},
			{"basic auth", "/api/v1/dossiers/" + code, "Basic " + good, 401, `{"error":"an API key is required: Authorization: Bearer <key>"}`},
			{"empty bearer", "/api/v1/dossiers/" + code, "Bearer ", 401, `{"error":"an API key is required: Authorization: Bearer <key>"}`},
			{"unknown code", "/api/v1/dossiers/000.00.20.H17-261102-0099", "Bearer " + good, 404, `{"error":"dossier not found"}`},
			{"not a code", "/api/v1/dossiers/hello", "Bearer " + good, 400, `{"error":"not a dossier code: not a dossier code"}`},
			{"good key", "/api/v1/dossiers/" + code, "Bearer " + good, 200, ""},
			{"lower-case code", "/api/v1/dossiers/000.00.20.h17-261102-0005", "bearer " + good, 200, ""},
		}
		want := map[string]any{
			"code": code, "procedure_code": "2.000635", "procedure_name": "Cấp bản sao trích lục hộ tịch", "agency": demo.Agency,
			"status": "DANG_XU_LY", "status_number": float64(4), "status_text": "Hồ sơ đang được giải quyết, hẹn trả ngày 23/11/2026",
			"final": false, "received_date": "2026-11-02", "due_date": "2026-11-23", "timing": "overdue", "timing_days": float64(2),
			"timing_text": "quá hạn 2 ngày", "status_at": "2026-11-02T02:00:00Z",
			"lookup_url": publicURL + "/tra-cuu/" + lookup.Token([]byte("a-configured-secret-0123456789"), code),
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var hdr []string
				if tc.auth != "" {
					hdr = []string{"Authorization", tc.auth}
				}
				status, h, body := f.get(t, tc.path, hdr...)
				if status != tc.status {
					t.Fatalf("status %d, want %d: %s", status, tc.status, body)
				}
				if status == 401 && h.Get("WWW-Authenticate") != `Bearer realm="dvcbot"` {
					t.Errorf("WWW-Authenticate %q", h.Get("WWW-Authenticate"))
				}
				if tc.body != "" {
					if got := strings.TrimSpace(string(body)); got != tc.body {
						t.Errorf("body %s, want %s", got, tc.body)
					}
					return
				}
				var got map[string]any
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Errorf("fields %v, want %v", got, want)
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("%s = %#v, want %#v", k, got[k], v)
					}
				}
				for _, s := range []string{"Hoàng Văn Em", "Hoàng", demo.ApplicantPhone[1:], "Cán bộ"} {
					if bytes.Contains(body, []byte(s)) {
						t.Errorf("the answer shows %q", s)
					}
				}
			})
		}
	})
}

// Without a key store the read API is off.
func TestReadAPIWithoutKeys(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil, nil)
	status, _, body := f.get(t, "/api/v1/dossiers/000.00.20.H17-261102-0005", "Authorization", "Bearer anything")
	if status != 503 || strings.TrimSpace(string(body)) != `{"error":"no API keys configured"}` {
		t.Fatalf("%d %s", status, body)
	}
}
