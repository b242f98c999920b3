package notice_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notice"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/signature"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

func TestWindow(t *testing.T) {
	w, err := notice.ParseWindow("21:00-07:00")
	must(t, err)
	day, _ := notice.ParseWindow("12:00-13:30")
	for _, c := range []struct {
		w        notice.Window
		at       string // Vietnam time
		in       bool
		released string
	}{
		{w, "2026-12-01 20:59", false, "2026-12-01 20:59"},
		{w, "2026-12-01 21:00", true, "2026-12-02 07:00"}, // start inclusive
		{w, "2026-12-01 23:59", true, "2026-12-02 07:00"},
		{w, "2026-12-02 00:00", true, "2026-12-02 07:00"}, // across midnight
		{w, "2026-12-02 06:59", true, "2026-12-02 07:00"},
		{w, "2026-12-02 07:00", false, "2026-12-02 07:00"}, // end exclusive
		{day, "2026-12-01 12:00", true, "2026-12-01 13:30"},
		{day, "2026-12-01 13:30", false, "2026-12-01 13:30"},
		{notice.Window{}, "2026-12-01 23:00", false, "2026-12-01 23:00"},
	} {
		at := vn(c.at)
		// Whatever the server's zone: the same instant in UTC and in New York.
		for _, tt := range []time.Time{at, at.UTC(), at.In(time.FixedZone("EST", -5*3600))} {
			if got := c.w.Contains(tt); got != c.in {
				t.Errorf("%s Contains(%s) = %v", c.w, c.at, got)
			}
			if got := c.w.Release(tt); !got.Equal(vn(c.released)) {
				t.Errorf("%s Release(%s) = %s, want %s", c.w, c.at, got.In(vntext.VietnamTime()), c.released)
			}
		}
	}
	for _, bad := range []string{"21-07", "25:00-07:00", "21:00-21:00", "21:00", "9:5-7:00"} {
		if _, err := notice.ParseWindow(bad); err == nil {
			t.Errorf("ParseWindow(%q) accepted", bad)
		}
	}
}

func TestParseSettings(t *testing.T) {
	s, err := notice.ParseStatuses(notice.DefaultStatuses)
	must(t, err)
	for st := dossier.Status(1); st <= 10; st++ {
		want := st == 2 || st == 3 || st == 5 || st == 6 || st == 8 || st == 9 || st == 10
		if s.Has(st) != want {
			t.Errorf("default statuses: %d = %v", st, s.Has(st))
		}
	}
	if !s.Overdue {
		t.Error("overdue not in the default")
	}
	s, err = notice.ParseStatuses("DA_XU_LY_XONG, 4")
	must(t, err)
	if !s.Has(9) || !s.Has(4) || s.Overdue {
		t.Errorf("codes: %+v", s)
	}
	for _, bad := range []string{"11", "late", "2,x"} {
		if _, err := notice.ParseStatuses(bad); err == nil {
			t.Errorf("ParseStatuses(%q) accepted", bad)
		}
	}
	tpl, err := notice.ParseTemplates("ready=231677, supplement=231678")
	must(t, err)
	if tpl["ready"] != "231677" || tpl["supplement"] != "231678" || len(tpl) != 2 {
		t.Errorf("templates %v", tpl)
	}
	for _, bad := range []string{"ready", "ready=abc", "done=1"} {
		if _, err := notice.ParseTemplates(bad); err == nil {
			t.Errorf("ParseTemplates(%q) accepted", bad)
		}
	}
}

// The policy per status and channel: texts, SMS budget, tier-1 data only,
// and the channel choice.
func TestPlan(t *testing.T) {
	tr, err := i18n.New()
	must(t, err)
	w, _ := notice.ParseWindow(notice.DefaultQuietHours)
	p := notice.New(notice.Config{Quiet: w, Templates: map[string]string{notice.Ready: "231677"}}, tr)
	now := vn("2026-12-01 10:00")
	due := vn("2026-12-04 17:00")
	fin := vn("2026-12-01 09:00")
	long := strings.Repeat("Thiếu bản sao giấy khai sinh có chứng thực. ", 10)
	d := dossier.Dossier{Code: "000.00.20.H17-261125-0009", ProcedureName: "Đăng ký khai sinh", Agency: "UBND phường",
		ApplicantName: "Nguyễn Văn An", ApplicantPhone: phoneN, ApplicantEmail: "an@example.vn", DueAt: &due, Note: long}
	zalo := notice.Identity{Channel: message.Zalo, UserID: "z1", LastSeen: now.Add(-time.Hour)}
	zaloOld := notice.Identity{Channel: message.Zalo, UserID: "z1", LastSeen: now.Add(-72 * time.Hour)}
	tg := notice.Identity{Channel: message.Telegram, UserID: "42", LastSeen: now.Add(-time.Minute)}
	smsSeen := notice.Identity{Channel: message.SMS, UserID: phoneN, LastSeen: now.Add(-time.Minute)}
	for _, c := range []struct {
		name     string
		status   dossier.Status
		ids      []notice.Identity
		phone    string
		want     []string // outbox kind/kind of each notice
		contains []string
	}{
		{"ready by sms", dossier.DaXuLyXong, nil, phoneN, []string{"sms/ready", "email/ready"}, []string{"truoc han 3 ngay"}},
		{"received", dossier.DaTiepNhan, nil, phoneN, []string{"sms/received", "email/received"}, []string{"hen tra ket qua ngay 04/12/2026"}},
		{"supplement: the note is cut to 2 segments", dossier.ChoBoSung, nil, phoneN, []string{"sms/supplement", "email/supplement"}, []string{"can bo sung"}},
		{"returned and the rating", dossier.DaTraKetQua, nil, phoneN, []string{"sms/returned", "email/returned", "sms/rating", "email/rating"}, []string{d.Code}},
		{"zalo inside the window", dossier.DaXuLyXong, []notice.Identity{zalo}, phoneN, []string{"zalo/ready", "email/ready"}, nil},
		{"zalo outside: ZNS", dossier.DaXuLyXong, []notice.Identity{zaloOld}, phoneN, []string{"zns/ready", "email/ready"}, nil},
		{"zalo outside, no template: SMS", dossier.ChoBoSung, []notice.Identity{zaloOld}, phoneN, []string{"sms/supplement", "email/supplement"}, nil},
		{"sms used last wins", dossier.DaXuLyXong, []notice.Identity{zalo, smsSeen}, phoneN, []string{"sms/ready", "email/ready"}, nil},
		{"telegram used last", dossier.ChoBoSung, []notice.Identity{zalo, tg}, phoneN, []string{"telegram/supplement", "email/supplement"}, nil},
		{"opted-out phone, no other identity", dossier.DaXuLyXong, nil, "", []string{"email/ready"}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			dd := d
			dd.Status = c.status
			if c.status.HasResult() {
				dd.FinishedAt = &fin
			}
			got := p.Plan(notice.Subject{Dossier: dd, Email: dd.ApplicantEmail, Kind: notice.KindOf(c.status), EventAt: now}, c.ids, c.phone, now)
			var kinds []string
			for _, n := range got {
				kinds = append(kinds, n.OutboxKind+"/"+n.Kind)
				text := n.Payload.Text
				switch n.OutboxKind {
				case notify.SMS:
					if !vntext.IsGSM7(text) || vntext.CountSMS(text).Segments > 2 {
						t.Errorf("SMS %q: not GSM-7 within 2 segments", text)
					}
					for _, s := range c.contains {
						if !strings.Contains(text, s) {
							t.Errorf("SMS %q lacks %q", text, s)
						}
					}
					if n.Kind == notice.Rating && (!strings.Contains(text, "DG "+d.Code) || n.After != notice.RatingDelay) {
						t.Errorf("rating invitation %q (after %v)", text, n.After)
					}
				case notify.Telegram:
					if strings.Contains(text, "Thiếu bản sao") || strings.Contains(text, "khai sinh") {
						t.Errorf("Telegram carries tier-1 data: %q", text)
					}
				case notify.Zalo:
					if c.status == dossier.ChoBoSung && !strings.Contains(text, "Thiếu bản sao") {
						t.Errorf("the applicant's Zalo notice lacks the note: %q", text)
					}
				}
				for _, never := range []string{"Nguyễn Văn An", "an@example.vn", "Nguyen Van An"} {
					if n.OutboxKind != notify.Email && strings.Contains(text, never) || strings.Contains(text, "Nguyễn Văn An") {
						t.Errorf("%s notice shows %q: %q", n.OutboxKind, never, text)
					}
				}
				if n.OutboxKind == notice.ZNS && (n.Recipient != phoneN || n.Payload.Subject != "231677" || !strings.Contains(n.Payload.Text, `"ma_ho_so":"`+d.Code)) {
					t.Errorf("ZNS notice %+v", n)
				}
				if !strings.HasPrefix(n.DedupeKey, notice.DedupePrefix+d.Code+"|"+strconv.Itoa(int(c.status))+"|2026-12-04|") {
					t.Errorf("dedupe key %q", n.DedupeKey)
				}
			}
			if strings.Join(kinds, " ") != strings.Join(c.want, " ") {
				t.Errorf("notices %v, want %v", kinds, c.want)
			}
		})
	}
	// Inside the quiet hours SMS and Zalo are held to 07:00; e-mail is not.
	night := vn("2026-12-01 23:00")
	got := p.Plan(notice.Subject{Dossier: d, Email: d.ApplicantEmail, Kind: notice.Received, EventAt: night}, nil, phoneN, night)
	if !got[0].HeldUntil.Equal(vn("2026-12-02 07:00")) || !got[1].HeldUntil.IsZero() {
		t.Errorf("held: %v %v", got[0].HeldUntil, got[1].HeldUntil)
	}
}

// Pacing holds DVCBOT_SMS_SEND_RATE across two replicas on Postgres, within
// ±10 %.
func TestPacerAcrossReplicas(t *testing.T) {
	u := storetest.PostgresSchemaURL(t)
	const rate, perReplica = 30, 45
	var (
		mu    sync.Mutex
		times []time.Time
		wg    sync.WaitGroup
	)
	for i := 0; i < 2; i++ {
		db := openURL(t, u)
		p := notice.NewPacer(db.Notices(nil, nil), "sms", rate, channeltest.Quiet)
		wg.Go(func() {
			for j := 0; j < perReplica; j++ {
				if err := p.Wait(context.Background()); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				times = append(times, time.Now())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	first, last := times[0], times[0]
	for _, x := range times {
		if x.Before(first) {
			first = x
		}
		if x.After(last) {
			last = x
		}
	}
	got := float64(len(times)-1) / last.Sub(first).Seconds()
	t.Logf("%d sends by 2 replicas in %v: %.1f/s (rate %d)", len(times), last.Sub(first), got, rate)
	if got < rate*0.9 || got > rate*1.1 {
		t.Fatalf("paced at %.1f/s, want %d ±10 %%", got, rate)
	}
}

// The notices API is signed over an empty body.
func TestNoticesAPISignature(t *testing.T) {
	db := storetest.SQLite(t)
	now := time.Now()
	srv := httptest.NewServer(func() http.Handler {
		mux := http.NewServeMux()
		notice.NewAPI(db.Notices(nil, nil), []byte(secret), func() time.Time { return now }, channeltest.Quiet).Register(mux)
		return mux
	}())
	defer srv.Close()
	ts := now.Unix()
	for _, c := range []struct {
		name     string
		ts, sig  string
		wantCode int
	}{
		{"good", strconv.FormatInt(ts, 10), signature.Sign([]byte(secret), ts, nil), 200},
		{"missing", "", "", 401},
		{"wrong secret", strconv.FormatInt(ts, 10), signature.Sign([]byte("another-secret-xyz"), ts, nil), 401},
		{"signed over a body", strconv.FormatInt(ts, 10), signature.Sign([]byte(secret), ts, []byte("{}")), 401},
		{"stale", strconv.FormatInt(ts-301, 10), signature.Sign([]byte(secret), ts-301, nil), 401},
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/dossiers/000.00.20.H17-261125-0009/notices", nil)
		if c.ts != "" {
			req.Header.Set("X-DVC-Timestamp", c.ts)
			req.Header.Set("X-DVC-Signature", c.sig)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != c.wantCode {
			t.Errorf("%s: %d, want %d", c.name, resp.StatusCode, c.wantCode)
		}
	}
}

// A ZNS refusal for the recipient falls back to SMS once; the overdue job
// apologises once per appointment date.
func TestFallbackAndOverdue(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { fallbackAndOverdue(t, backend) })
	}
}

func fallbackAndOverdue(t *testing.T, backend string) {
	{
		u := ""
		if backend == "sqlite" {
			u = storetest.SQLiteURL(t)
		} else {
			u = storetest.PostgresSchemaURL(t)
		}
		h := newHarness(t, func() *store.DB { return openURL(t, u) }, 1)
		const code = "000.00.20.H17-261126-0007"
		h.zns.Answers["84912345678"] = -118 // no Zalo account
		verified(t, h.reps[0].db, code, "z-fallback", h.clock.Now().Add(-72*time.Hour))
		due := vn("2026-12-03 17:00")
		h.post(0, ev{id: "f1", code: code, status: "9", due: due, finished: h.clock.Now(), occured: h.clock.Now(), phone: "0912345678"})
		h.drain()
		if got := h.kannel.to("84912345678"); len(got) != 1 || !strings.Contains(got[0].Text, code) {
			t.Fatalf("fallback SMS: %+v", got)
		}
		if vs := h.notices(code); states(vs) != "ready/zns/failed ready/sms/sent" {
			t.Fatalf("after the fallback: %s", states(vs))
		}
		// Overdue: a dossier accepted with a date that passes.
		const late = "000.00.20.H17-261126-0008"
		h.post(0, ev{id: "o1", code: late, status: "4", due: due, occured: h.clock.Now(), phone: "0987654321"})
		for _, day := range []string{"2026-12-03 16:00", "2026-12-04 09:00", "2026-12-04 10:00", "2026-12-05 09:00"} {
			h.clock.Set(vn(day))
			if _, err := h.reps[0].ns.QueueOverdue(context.Background(), h.clock.Now(), 10); err != nil {
				t.Fatal(err)
			}
			h.drain()
		}
		got := h.kannel.to("84987654321")
		if len(got) != 1 || !strings.Contains(got[0].Text, "qua han") || !strings.Contains(got[0].Text, "03/12/2026") {
			t.Fatalf("overdue apologies: %+v", got)
		}
		// A new appointment date that passes too: one more apology.
		h.post(0, ev{id: "o2", code: late, status: "4", due: vn("2026-12-06 17:00"), occured: h.clock.Now(), phone: "0987654321"})
		h.clock.Set(vn("2026-12-07 09:00"))
		_, err := h.reps[0].ns.QueueOverdue(context.Background(), h.clock.Now(), 10)
		must(t, err)
		h.drain()
		if got := h.kannel.to("84987654321"); len(got) != 2 || !strings.Contains(got[1].Text, "06/12/2026") {
			t.Fatalf("second apology: %+v", got)
		}
	}
}
