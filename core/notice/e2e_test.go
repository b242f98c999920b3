package notice_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/bots/notices"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/channels/sms"
	"github.com/dvcbot/dvcbot/channels/zalo"
	"github.com/dvcbot/dvcbot/channels/zalo/zalotest"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notice"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/signature"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const (
	secret    = "dossier-secret-for-tests"
	appID     = "4231256123948301234"
	appSecret = "app-secret-not-real"
	oaSecret  = "TEST-OA-SECRET-not-real"
	oaID      = "8800112233445566779"
	phone     = "0905123456"
	phoneN    = "84905123456"
)

// clock is the injected time of a test: the store, the dossier API, the
// guard and the workers read it.
type clock struct{ ns atomic.Int64 }

func (c *clock) Now() time.Time  { return time.Unix(0, c.ns.Load()) }
func (c *clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }
func vn(s string) time.Time {
	t, _ := time.ParseInLocation("2006-01-02 15:04", s, vntext.VietnamTime())
	return t
}
func rfc(t time.Time) string { return t.In(vntext.VietnamTime()).Format(time.RFC3339) }
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
func (c *clock) Add(d time.Duration) { c.Set(c.Now().Add(d)) }

// kannel fakes Kannel's sendsms: it records each MT and calls the DLR URL
// back when told to.
type kannel struct {
	channeltest.Changes
	mu   sync.Mutex
	sent []mt
}

type mt struct{ From, To, Text, DLR string }

func (k *kannel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	k.mu.Lock()
	k.sent = append(k.sent, mt{From: q.Get("from"), To: q.Get("to"), Text: q.Get("text"), DLR: q.Get("dlr-url")})
	k.mu.Unlock()
	k.Notify()
	_, _ = w.Write([]byte("0: Accepted for delivery"))
}

func (k *kannel) to(phone string) []mt {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []mt
	for _, m := range k.sent {
		if m.To == phone {
			out = append(out, m)
		}
	}
	return out
}

// dlr calls the DLR URL of m with a Kannel status, as Kannel does.
func (k *kannel) dlr(t *testing.T, m mt, status int) {
	t.Helper()
	u := strings.Replace(m.DLR, "%d", strconv.Itoa(status), 1)
	resp, err := http.Get(u)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("DLR answered %d", resp.StatusCode)
	}
}

// replica is one dvcbot process: its own database handle, dossier API,
// pipeline, channels and outbox worker, sharing the database and fakes.
type replica struct {
	db     *store.DB
	srv    *httptest.Server
	pipe   *inbound.Pipeline
	worker *notify.Worker
	ns     *store.NoticeStore
}

type harness struct {
	t      *testing.T
	clock  *clock
	kannel *kannel
	zfake  *zalotest.Fake
	zns    *zalotest.ZNS
	zsrv   *httptest.Server
	znsSrv *httptest.Server
	tr     *i18n.Catalog
	reps   []*replica
}

func newHarness(t *testing.T, open func() *store.DB, replicas int) *harness {
	h := &harness{t: t, clock: &clock{}, kannel: &kannel{}}
	h.clock.Set(vn("2026-12-01 10:00"))
	var err error
	h.tr, err = i18n.New()
	must(t, err)
	ks := httptest.NewServer(h.kannel)
	t.Cleanup(ks.Close)
	h.zfake = zalotest.New(appID, appSecret)
	h.zsrv = h.zfake.Server()
	t.Cleanup(h.zsrv.Close)
	h.zns = h.zfake.NewZNS()
	h.zns.Params["231677"] = []string{"ma_ho_so", "trang_thai", "ngay_hen_tra"}
	h.znsSrv = h.zns.Server()
	t.Cleanup(h.znsSrv.Close)
	quiet, _ := notice.ParseWindow(notice.DefaultQuietHours)
	statuses, _ := notice.ParseStatuses(notice.DefaultStatuses)
	for i := 0; i < replicas; i++ {
		db := open()
		db.SetClock(h.clock.Now)
		if i == 0 {
			must(t, zalo.SetRefreshToken(context.Background(), db.Credentials(), "rt-0"))
		}
		policy := notice.New(notice.Config{Statuses: statuses, Quiet: quiet, Templates: map[string]string{notice.Ready: "231677"}}, h.tr)
		metrics := notice.NewMetrics(nil)
		bot, _ := citizentest.New(t, db, h.clock.Now(), citizen.WithClock(h.clock.Now)) // the demo data: no notices
		r := &replica{db: db, ns: db.EnableNotices(policy, metrics)}
		r.pipe = channeltest.Pipeline(db, bot, h.tr, inbound.WithClock(h.clock.Now),
			inbound.WithRoute(notices.Route(db.Notices(nil, nil), db.Dossiers(), h.tr, channeltest.Quiet, h.clock.Now)))
		mux := http.NewServeMux()
		mux.Handle("POST /api/v1/dossiers", dossier.NewAPI(db.Dossiers(), []byte(secret), dossier.WithClock(h.clock.Now),
			dossier.WithLogger(channeltest.Quiet)))
		notice.NewAPI(r.ns, []byte(secret), h.clock.Now, channeltest.Quiet).Register(mux)
		loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
		sms.New(sms.Config{AllowCIDRs: loop, MaxSegments: 2}, r.pipe, sms.WithReceipts(db.Outbox()), sms.WithLogger(channeltest.Quiet)).Register(mux)
		zalo.New(zalo.Config{AppID: appID, OASecret: oaSecret}, r.pipe, zalo.WithReceipts(db.Outbox()),
			zalo.WithClock(h.clock.Now), zalo.WithLogger(channeltest.Quiet)).Register(mux)
		r.srv = httptest.NewServer(mux)
		t.Cleanup(r.srv.Close)
		ku, _ := url.Parse(ks.URL + "/cgi-bin/sendsms")
		tokens := zalo.NewTokens(db.Credentials(), h.zsrv.URL, appID, appSecret, channeltest.Quiet)
		guard := notice.NewGuard(r.ns, policy, notice.WithGuardClock(h.clock.Now), notice.WithGuardLogger(channeltest.Quiet),
			notice.WithGuardMetrics(metrics), notice.WithPacer(notice.NewPacer(r.ns, "sms", 1000, channeltest.Quiet)))
		senders := guard.WrapAll([]notify.Sender{
			sms.NewSender(sms.SenderConfig{URL: ku, Kind: sms.KindKannel, Shortcode: "8188", DLRURL: r.srv.URL + "/channels/sms/dlr", MaxSegments: 2},
				db.SMSOptOuts(), nil),
			zalo.NewSender(zalo.NewAPI(h.zsrv.URL, tokens)),
			zalo.NewZNS(h.znsSrv.URL, tokens, false, channeltest.Quiet),
		})
		r.worker = notify.NewWorker(db.Outbox(), senders, notify.WithClock(h.clock.Now), notify.WithBackoff(time.Millisecond, time.Millisecond),
			notify.WithWorkerLogger(channeltest.Quiet))
		h.reps = append(h.reps, r)
	}
	return h
}

// drain runs every replica's worker until no message is due.
func (h *harness) drain() {
	h.t.Helper()
	for round := 0; round < 100; round++ {
		n := 0
		for _, r := range h.reps {
			k, err := r.worker.RunOnce(context.Background())
			must(h.t, err)
			n += k
		}
		if n == 0 {
			return
		}
	}
	h.t.Fatal("the outbox never drained")
}

type ev struct {
	id, code, status       string
	due, finished, occured time.Time
	phone, email           string
}

func (h *harness) body(e ev) []byte {
	d := map[string]any{"code": e.code, "procedure_code": "1.001193", "procedure_name": "Đăng ký khai sinh",
		"agency": "UBND phường Hải Châu I", "applicant_name": "Nguyễn Văn An", "applicant_phone": e.phone,
		"received_at": rfc(e.occured.Add(-72 * time.Hour)), "due_at": rfc(e.due)}
	if !e.finished.IsZero() {
		d["finished_at"] = rfc(e.finished)
	}
	if e.email != "" {
		d["applicant_email"] = e.email
	}
	b, _ := json.Marshal(map[string]any{"event_id": e.id, "occurred_at": rfc(e.occured), "status": e.status, "dossier": d})
	return b
}

// post sends a signed event to replica i and returns its result.
func (h *harness) post(i int, e ev) string {
	h.t.Helper()
	body := h.body(e)
	ts := h.clock.Now().Unix()
	req, _ := http.NewRequest(http.MethodPost, h.reps[i].srv.URL+"/api/v1/dossiers", strings.NewReader(string(body)))
	req.Header.Set("X-DVC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-DVC-Signature", signature.Sign([]byte(secret), ts, body))
	resp, err := http.DefaultClient.Do(req)
	must(h.t, err)
	defer resp.Body.Close()
	var out struct {
		Results []dossier.Result `json:"results"`
	}
	must(h.t, json.NewDecoder(resp.Body).Decode(&out))
	if resp.StatusCode != http.StatusOK || len(out.Results) != 1 {
		h.t.Fatalf("POST answered %d %+v", resp.StatusCode, out)
	}
	return string(out.Results[0].Result)
}

// notices asks the notices API of replica 0.
func (h *harness) notices(code string) []notice.View {
	h.t.Helper()
	ts := h.clock.Now().Unix()
	req, _ := http.NewRequest(http.MethodGet, h.reps[0].srv.URL+"/api/v1/dossiers/"+code+"/notices", nil)
	req.Header.Set("X-DVC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-DVC-Signature", signature.Sign([]byte(secret), ts, nil))
	resp, err := http.DefaultClient.Do(req)
	must(h.t, err)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("notices API answered %d", resp.StatusCode)
	}
	var out struct {
		Notices []notice.View `json:"notices"`
	}
	must(h.t, json.NewDecoder(resp.Body).Decode(&out))
	return out.Notices
}

// say sends a citizen's message to replica 0's pipeline.
func (h *harness) say(channel, user, text string) message.Reply {
	h.t.Helper()
	in := message.Inbound{Channel: channel, UserID: user, Text: text, MessageID: fmt.Sprintf("m-%d", time.Now().UnixNano()), Time: h.clock.Now()}
	if channel == message.SMS {
		in.Phone = user
	}
	res := h.reps[0].pipe.Receive(context.Background(), in, nil)
	return res.Reply
}

func states(vs []notice.View) string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Kind+"/"+v.Channel+"/"+v.State)
	}
	return strings.Join(out, " ")
}

// The "Done when" of issue 12, on SQLite and on Postgres with two replicas.
func TestDoneWhen(t *testing.T) {
	for _, b := range []struct {
		name string
		open func(t *testing.T) func() *store.DB
	}{
		{"sqlite", func(t *testing.T) func() *store.DB {
			path := storetest.SQLiteURL(t)
			return func() *store.DB { return openURL(t, path) }
		}},
		{"postgres", func(t *testing.T) func() *store.DB {
			u := storetest.PostgresSchemaURL(t)
			return func() *store.DB { return openURL(t, u) }
		}},
	} {
		t.Run(b.name, func(t *testing.T) { doneWhen(t, newHarness(t, b.open(t), 2)) })
	}
}

func openURL(t *testing.T, u string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), u)
	must(t, err)
	t.Cleanup(func() { db.Close() })
	_, err = db.Migrate(context.Background())
	must(t, err)
	return db
}

func doneWhen(t *testing.T, h *harness) {
	const codeA = "000.00.20.H17-261125-0009"
	now := h.clock.Now()
	due := vn("2026-12-04 17:00")
	ready := ev{id: "mc-1", code: codeA, status: "DA_XU_LY_XONG", due: due, finished: vn("2026-12-01 09:00"), occured: now.Add(-time.Minute), phone: phone}

	// 1. Status 9, three days early: one accent-free SMS from 8188.
	if got := h.post(0, ready); got != "accepted" {
		t.Fatalf("first post: %s", got)
	}
	h.drain()
	got := h.kannel.to(phoneN)
	if len(got) != 1 {
		t.Fatalf("%d SMS to %s, want 1: %+v", len(got), phoneN, got)
	}
	m := got[0]
	if m.From != "8188" || !strings.Contains(m.Text, codeA) || !strings.Contains(m.Text, "truoc han") ||
		!vntext.IsGSM7(m.Text) || vntext.CountSMS(m.Text).Segments > 2 || strings.Contains(m.Text, "An") && strings.Contains(m.Text, "Nguyen") {
		t.Fatalf("SMS %+v: want from 8188, the code, \"truoc han\", GSM-7, at most 2 segments, no name", m)
	}
	if !strings.Contains(m.Text, "3 ngay") {
		t.Errorf("SMS does not say by how many days: %q", m.Text)
	}
	if vs := h.notices(codeA); states(vs) != "ready/sms/sent" {
		t.Fatalf("notices API: %s", states(vs))
	}
	h.kannel.dlr(t, m, 1) // delivered
	if vs := h.notices(codeA); states(vs) != "ready/sms/delivered" || vs[0].DeliveredAt == nil || vs[0].SentAt == nil {
		t.Fatalf("after the DLR: %s %+v", states(vs), vs)
	}

	// 2. Replayed, on either replica, or re-sent under a new id: nothing more.
	if got := h.post(0, ready); got != "duplicate" {
		t.Fatalf("replay: %s", got)
	}
	if got := h.post(1, ready); got != "duplicate" {
		t.Fatalf("replay on replica 2: %s", got)
	}
	again := ready
	again.id, again.occured = "mc-1-resent", now
	if got := h.post(1, again); got != "accepted" {
		t.Fatalf("re-sent: %s", got)
	}
	older := ready
	older.id, older.status, older.occured = "mc-0-late", "DANG_XU_LY", now.Add(-time.Hour)
	if got := h.post(1, older); got != "stale" {
		t.Fatalf("late event: %s", got)
	}
	h.drain()
	if n := len(h.kannel.to(phoneN)); n != 1 {
		t.Fatalf("%d SMS after replays, want 1", n)
	}

	// 3. Status 10: the returned notice and one rating invitation; DG <mã> 1
	// completes it.
	h.clock.Add(time.Hour)
	returned := ev{id: "mc-2", code: codeA, status: "10", due: due, finished: vn("2026-12-01 09:00"), occured: h.clock.Now(), phone: phone}
	h.post(0, returned)
	h.post(1, returned)
	h.drain()
	if n := len(h.kannel.to(phoneN)); n != 2 {
		t.Fatalf("%d SMS right after status 10, want 2 (the invitation follows)", n)
	}
	h.clock.Add(notice.RatingDelay)
	h.drain()
	got = h.kannel.to(phoneN)
	if len(got) != 3 || !strings.Contains(got[2].Text, "DG "+codeA) || strings.Contains(got[1].Text, "DG ") {
		t.Fatalf("after status 10: %+v", got)
	}
	reply := h.say(message.SMS, phoneN, "DG "+codeA+" 1")
	r, err := h.reps[0].db.Ratings().Rating(context.Background(), codeA)
	if err != nil || r.Level != rating.RatHaiLong {
		t.Fatalf("DG reply %q did not complete the rating: %+v %v", reply.Text, r, err)
	}

	// 4. Inside the quiet hours: held, and sent when they end; of several
	// waiting notices of one dossier only the newest goes.
	const codeB = "000.00.20.H17-261126-0001"
	h.clock.Set(vn("2026-12-01 22:30"))
	h.post(0, ev{id: "mc-b1", code: codeB, status: "2", due: vn("2026-12-10 17:00"), occured: h.clock.Now().Add(-time.Minute), phone: phone})
	h.drain()
	if vs := h.notices(codeB); states(vs) != "received/sms/held" || vs[0].HeldUntil == nil || !vs[0].HeldUntil.Equal(vn("2026-12-02 07:00").UTC()) {
		t.Fatalf("at 22:30: %s %+v", states(vs), vs)
	}
	h.clock.Set(vn("2026-12-02 06:30"))
	h.post(1, ev{id: "mc-b2", code: codeB, status: "9", due: vn("2026-12-10 17:00"), finished: h.clock.Now(), occured: h.clock.Now(), phone: phone})
	h.drain()
	if n := len(h.kannel.to(phoneN)); n != 3 {
		t.Fatalf("%d SMS during the quiet hours", n)
	}
	h.clock.Set(vn("2026-12-02 07:00"))
	h.drain()
	got = h.kannel.to(phoneN)
	if len(got) != 4 || !strings.Contains(got[3].Text, codeB) || !strings.Contains(got[3].Text, "da co ket qua") {
		t.Fatalf("at 07:00: %+v", got)
	}
	if vs := h.notices(codeB); states(vs) != "received/sms/failed ready/sms/sent" || vs[0].Reason != "superseded" {
		t.Fatalf("coalesced: %s", states(vs))
	}

	// 5. A Zalo user who verified a dossier gets its notice on Zalo: a ZNS
	// template outside the interaction window, an OA message inside.
	const codeC, codeD = "000.00.20.H17-261126-0002", "000.00.20.H17-261126-0003"
	const zuser, zuser2 = "7700112233445566778", "7700112233445566779"
	h.clock.Set(vn("2026-12-02 10:00"))
	verified(t, h.reps[0].db, codeC, zuser, h.clock.Now().Add(-72*time.Hour))
	verified(t, h.reps[0].db, codeD, zuser2, h.clock.Now().Add(-time.Hour))
	for _, c := range []string{codeC, codeD} {
		h.post(0, ev{id: "mc-" + c, code: c, status: "9", due: vn("2026-12-10 17:00"), finished: h.clock.Now(), occured: h.clock.Now(), phone: "0912345678"})
	}
	h.drain()
	if n := len(h.kannel.to("84912345678")); n != 0 {
		t.Fatalf("%d SMS to a phone whose Zalo user verified", n)
	}
	zs := h.zns.Sent()
	if len(zs) != 1 || zs[0].Phone != "84912345678" || zs[0].TemplateID != "231677" || zs[0].Data["ma_ho_so"] != codeC {
		t.Fatalf("ZNS calls: %+v", zs)
	}
	oa := h.zfake.Sent()
	if len(oa) != 1 || oa[0].UserID != zuser2 || !strings.Contains(oa[0].Text, codeD) {
		t.Fatalf("OA messages: %+v", oa)
	}
	req := zalotest.DeliveryEvent(h.reps[1].srv.URL+"/channels/zalo", appID, oaID, oaSecret, zs[0], h.clock.Now())
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delivery event answered %d", resp.StatusCode)
	}
	if vs := h.notices(codeC); states(vs) != "ready/zns/delivered" {
		t.Fatalf("ZNS notice after its delivery event: %s", states(vs))
	}

	// 6. After TU CHOI from the phone nothing more is sent to it; BAT resumes.
	if rep := h.say(message.SMS, phoneN, "TU CHOI"); !strings.Contains(vntext.Unaccent(rep.Text), "tu choi") {
		t.Fatalf("TU CHOI answered %q", rep.Text)
	}
	const codeE = "000.00.20.H17-261126-0004"
	h.post(0, ev{id: "mc-e1", code: codeE, status: "5", due: vn("2026-12-10 17:00"), occured: h.clock.Now(), phone: phone})
	h.drain()
	if n := len(h.kannel.to(phoneN)); n != 4 {
		t.Fatalf("%d SMS after TU CHOI, want still 4", n)
	}
	h.say(message.SMS, phoneN, "BAT")
	h.post(0, ev{id: "mc-e2", code: codeE, status: "6", due: vn("2026-12-10 17:00"), occured: h.clock.Now().Add(time.Second), phone: phone})
	h.drain()
	if n := len(h.kannel.to(phoneN)); n != 5 {
		t.Fatalf("%d SMS after BAT, want 5", n)
	}
}

// verified records a successful XACMINH of a Zalo user for a dossier and
// its last message at last.
func verified(t *testing.T, db *store.DB, code, user string, last time.Time) {
	t.Helper()
	ctx := context.Background()
	_, err := db.Bun().NewRaw(`INSERT INTO verify_attempts (attempt_key, dossier_code, channel, user_id, checked, verdict, failed, created_at)
		VALUES (?, ?, ?, ?, TRUE, 0, FALSE, ?)`, "k-"+user+code, code, message.Zalo, user, last.UTC()).Exec(ctx)
	must(t, err)
	_, err = db.Bun().NewRaw(`INSERT INTO inbound (channel, message_id, sender, text, state, attempts, received_at, claimed_at)
		VALUES (?, ?, ?, '', 'done', 1, ?, ?)`, message.Zalo, "z-"+user+code, user, last.UTC(), last.UTC()).Exec(ctx)
	must(t, err)
}
