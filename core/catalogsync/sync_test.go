package catalogsync_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/dvcbot/dvcbot/channels/email"
	"github.com/dvcbot/dvcbot/channels/email/emailtest"
	"github.com/dvcbot/dvcbot/channels/sms"
	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/nationaldb"
	"github.com/dvcbot/dvcbot/core/nationaldb/nationaldbtest"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func record(i int) map[string]any {
	name := fmt.Sprintf("Thủ tục số %d về hộ tịch", i)
	if i%3 == 0 {
		name = norm.NFD.String(name) // some portals serve NFD
	}
	return map[string]any{
		"id_hethong": 1000 + i, "maso": fmt.Sprintf("1.%06d", 100+i), "ten": name, "linh_vuc": "Hộ tịch",
		"cap_thuc_hien": "Cấp Xã", "trinh_tu": "<p>Bước 1:&nbsp;Nộp hồ sơ</p><p>Bước 2: Nhận kết quả</p>",
		"thanh_phan_ho_so": []map[string]any{{"ten": "Tờ khai", "ban_chinh": 1, "ban_sao": 0, "bat_buoc": true}},
		"phi":              "Miễn phí", "le_phi": "Không", "thoi_han": "03 ngày làm việc", "co_quan_thuc_hien": "UBND cấp xã",
		"muc_do": "Toàn trình", "can_cu_phap_ly": []string{"Luật Hộ tịch 2014"},
	}
}

// newFake is a portal holding records 0…n-1 in pages of pageSize (0: the
// contract's 500).
func newFake(n, pageSize int) *nationaldbtest.Fake {
	fake := nationaldbtest.New(time.Date(2024, 3, 1, 8, 0, 0, 0, time.UTC))
	if pageSize > 0 {
		fake.PageSize = pageSize
	}
	for i := range n {
		fake.Put(record(i))
	}
	return fake
}

// smsGateway stands for Kannel's sendsms: it records every MT.
type smsGateway struct {
	mu   sync.Mutex
	sent []url.Values
}

func (g *smsGateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.mu.Lock()
	g.sent = append(g.sent, r.URL.Query())
	g.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, "0: Accepted for delivery")
}

func (g *smsGateway) texts() []url.Values {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]url.Values(nil), g.sent...)
}

type env struct {
	db     *store.DB
	fake   *nationaldbtest.Fake
	syncer *catalogsync.Syncer
	worker *notify.Worker
	smtp   *emailtest.Server
	sms    *smsGateway
	now    time.Time
}

var recipients = []catalogsync.Recipient{
	{Kind: notify.Email, Address: "ttdvc@danang.gov.vn"},
	{Kind: notify.Email, Address: "cntt@danang.gov.vn"},
	{Kind: notify.SMS, Address: "84905123456"},
}

func newEnv(t *testing.T, db *store.DB, fake *nationaldbtest.Fake, opts ...nationaldb.Option) *env {
	t.Helper()
	e := &env{db: db, fake: fake, smtp: emailtest.Start(t), sms: &smsGateway{}}
	e.now = fake.Clock().Add(time.Hour)
	up := fake.Server()
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	opts = append([]nationaldb.Option{nationaldb.WithRetry(time.Millisecond, 20*time.Second), nationaldb.WithTimeout(5 * time.Second),
		nationaldb.WithLogger(quiet)}, opts...)
	client := nationaldb.New(u, "20799", opts...)
	tr, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	digests := catalogsync.NewDigestBuilder(tr, "vi", func(code string) string { return "https://dvc.example.gov.vn/api/v1/procedures/" + code })
	e.syncer = catalogsync.New(client, db.Catalog(), db.Sync(), digests, catalogsync.WithRecipients(recipients...),
		catalogsync.WithClock(func() time.Time { return e.now }), catalogsync.WithLogger(quiet))
	gw := httptest.NewServer(e.sms)
	t.Cleanup(gw.Close)
	gu, _ := url.Parse("http://tester:foobar@" + strings.TrimPrefix(gw.URL, "http://") + "/cgi-bin/sendsms")
	su, _ := email.ParseURL("smtp://" + e.smtp.User + ":" + e.smtp.Pass + "@" + e.smtp.Addr)
	e.worker = notify.NewWorker(db.Outbox(), []notify.Sender{
		email.New(su, "dvcbot <alerts@dvc.example.gov.vn>", email.WithTLSConfig(e.smtp.ClientTLS)),
		sms.NewSender(sms.SenderConfig{URL: gu, Kind: sms.KindKannel, Shortcode: "8188"}, db.SMSOptOuts(), nil),
	}, notify.WithWorkerLogger(quiet), notify.WithBackoff(0, 0))
	return e
}

func (e *env) sync(t *testing.T) catalogsync.Summary {
	t.Helper()
	e.now = e.now.Add(2 * time.Hour)
	sum, err := e.syncer.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	e.deliver(t)
	return sum
}

func (e *env) deliver(t *testing.T) {
	t.Helper()
	for range 20 {
		n, err := e.worker.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

// mailParts returns the subject and the text and HTML parts of a message.
func mailParts(t *testing.T, m emailtest.Message) (subject, text, html string) {
	t.Helper()
	msg, err := m.Parsed()
	if err != nil {
		t.Fatal(err)
	}
	dec := new(mime.WordDecoder)
	subject, _ = dec.DecodeHeader(msg.Header.Get("Subject"))
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(p)
		body := decodeQP(p.Header.Get("Content-Transfer-Encoding"), b)
		if strings.HasPrefix(p.Header.Get("Content-Type"), "text/html") {
			html = body
		} else {
			text = body
		}
	}
	return subject, text, html
}

func TestSyncAndAlerts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		fake := newFake(30, 7)
		e := newEnv(t, db, fake)
		ctx := context.Background()

		// 1. The first sync imports everything (from 2016-01-01).
		sum := e.sync(t)
		if sum.Run.Fetched != 30 || sum.Run.New != 30 {
			t.Fatalf("first sync: %+v", sum.Run)
		}
		if !sum.Run.WindowStart.Equal(catalogsync.FirstStart) {
			t.Fatalf("first window starts %v", sum.Run.WindowStart)
		}
		p, err := db.Catalog().Procedure(ctx, "1.000100")
		if err != nil || p.Name != norm.NFC.String("Thủ tục số 0 về hộ tịch") || p.SystemID != 1000 ||
			p.Steps != "<p>Bước 1:&nbsp;Nộp hồ sơ</p><p>Bước 2: Nhận kết quả</p>" || p.Documents[0].Originals != 1 {
			t.Fatalf("stored procedure %+v, %v", p, err)
		}
		first := len(e.smtp.Messages())
		if first != 2 || len(e.sms.texts()) != 1 {
			t.Fatalf("first sync alerts: %d emails, %d SMS", first, len(e.sms.texts()))
		}

		// 2. Two fees change, one procedure is cancelled, one is added.
		fake.SetClock(e.now.Add(time.Minute))
		fake.Update(1003, map[string]any{"phi": "50.000 đồng/hồ sơ"})
		fake.Update(1007, map[string]any{"phi": "8.000 đồng", "thoi_han": "05 ngày làm việc"})
		fake.Update(1011, map[string]any{"trang_thai": "huy_bo"})
		fake.Put(record(40))
		// Formatting noise on another one is not a change.
		r := record(12)
		r["trinh_tu"] = "<p>Bước 1: Nộp hồ sơ</p>\r\n<p>Bước 2:  Nhận kết quả</p>"
		fake.Put(r)
		sum = e.sync(t)
		if sum.Run.Modified != 2 || sum.Run.Cancelled != 1 || sum.Run.New != 1 || sum.Queued != 3 {
			t.Fatalf("second sync: %+v (queued %d)", sum.Run, sum.Queued)
		}
		mails := e.smtp.Messages()[first:]
		if len(mails) != 2 {
			t.Fatalf("second sync sent %d emails, want one per address", len(mails))
		}
		got := map[string]bool{}
		for _, m := range mails {
			got[m.To[0]] = true
			subject, text, html := mailParts(t, m)
			if subject != "[dvcbot] Đồng bộ TTHC "+e.now.In(time.FixedZone("", 7*3600)).Format("02/01/2006 15:04")+": 1 mới, 2 sửa đổi, 1 bãi bỏ" {
				t.Fatalf("subject %q", subject)
			}
			for _, want := range []string{"1.000103", "Phí: Miễn phí → 50.000 đồng/hồ sơ", "1.000107", "Thời hạn giải quyết: 03 ngày làm việc → 05 ngày làm việc",
				"[Bãi bỏ] 1.000111", "[Mới] 1.000140", "https://dvc.example.gov.vn/api/v1/procedures/1.000103"} {
				if !strings.Contains(text, want) {
					t.Fatalf("text part lacks %q:\n%s", want, text)
				}
			}
			if !strings.Contains(html, "<table") || !strings.Contains(html, "50.000 đồng/hồ sơ") || strings.Contains(text, "1.000112") {
				t.Fatalf("html part or noise:\n%s", html)
			}
		}
		if !got["ttdvc@danang.gov.vn"] || !got["cntt@danang.gov.vn"] {
			t.Fatalf("recipients %v", got)
		}
		smsTexts := e.sms.texts()
		if len(smsTexts) != 2 {
			t.Fatalf("%d SMS in all, want one per sync", len(smsTexts))
		}
		text := smsTexts[1].Get("text")
		for _, want := range []string{"1 moi, 2 sua doi, 1 bai bo", "1.000103 (phi)", "1.000107 (phi, thoi han giai quyet)", "1.000111 (bai bo)"} {
			if !strings.Contains(text, want) {
				t.Fatalf("SMS %q lacks %q", text, want)
			}
		}
		if smsTexts[1].Get("to") != "84905123456" || smsTexts[1].Get("from") != "8188" {
			t.Fatalf("SMS addressed %v", smsTexts[1])
		}
		pub, _ := db.Catalog().PublishedProcedures(ctx)
		for _, p := range pub {
			if p.Code == "1.000111" {
				t.Fatal("a cancelled procedure is still published")
			}
		}
		if p, _ := db.Catalog().Procedure(ctx, "1.000111"); p.Status != catalog.Cancelled || p.Version != 2 {
			t.Fatalf("cancelled procedure kept as %+v", p)
		}

		// 3. Nothing changed upstream: nothing is sent.
		before, beforeSMS := len(e.smtp.Messages()), len(e.sms.texts())
		sum = e.sync(t)
		if sum.Run.New+sum.Run.Modified+sum.Run.Cancelled != 0 || sum.Queued != 0 ||
			len(e.smtp.Messages()) != before || len(e.sms.texts()) != beforeSMS {
			t.Fatalf("third sync changed something: %+v", sum)
		}
		if run, ok, _ := e.syncer.LastRun(ctx); !ok || run.State != "ok" {
			t.Fatalf("last run %+v", run)
		}
	})
}

// An outage in the middle of a window — of the details or of the list — fails
// the run: the stored part is not lost, the checkpoint stays, no alert goes
// out, and the next run reports every change exactly once.
func TestSyncOutagesResume(t *testing.T) {
	tests := []struct {
		name         string
		records      int
		pageSize     int
		detailsAfter int64 // the fake's FailDetailsAfter during the outage
		listAfter    int64 // its FailListAfter
		errText      string
		storedAtMost int
	}{
		{name: "details fail after 300 of 450 (more than two batches)", records: 450,
			detailsAfter: 300, errText: "HTTP 503", storedAtMost: 300},
		{name: "the list breaks off at page 3 of 4", records: 350, pageSize: 100,
			listAfter: 2, errText: "page 3", storedAtMost: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.SQLite(t)
			fake := newFake(tc.records, tc.pageSize)
			e := newEnv(t, db, fake, nationaldb.WithRetry(time.Millisecond, 300*time.Millisecond))
			ctx := context.Background()
			fake.FailDetailsAfter, fake.FailListAfter = tc.detailsAfter, tc.listAfter
			e.now = e.now.Add(2 * time.Hour)
			if _, err := e.syncer.RunOnce(ctx); err == nil || !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("a sync through the outage says %v, want %q", err, tc.errText)
			}
			if _, ok, _ := db.Sync().Checkpoint(ctx); ok {
				t.Fatal("the checkpoint moved after a failed run")
			}
			if n, _ := db.Catalog().CountProcedures(ctx); n == 0 || n > tc.storedAtMost {
				t.Fatalf("%d procedures stored before the outage, want some, at most %d", n, tc.storedAtMost)
			}
			e.deliver(t)
			if len(e.smtp.Messages()) != 0 {
				t.Fatal("alerts went out for an unfinished run")
			}
			if run, _, _ := e.syncer.LastRun(ctx); run.State != "failed" || run.Error == "" {
				t.Fatalf("failed run recorded as %+v", run)
			}
			fake.FailDetailsAfter, fake.FailListAfter = 0, 0
			e.sync(t)
			if n, _ := db.Catalog().CountProcedures(ctx); n != tc.records {
				t.Fatalf("%d procedures after resuming, want %d", n, tc.records)
			}
			mails := e.smtp.Messages()
			if len(mails) != 2 {
				t.Fatalf("%d emails after resuming, want one per address", len(mails))
			}
			if subject, _, _ := mailParts(t, mails[0]); !strings.Contains(subject, strconv.Itoa(tc.records)+" mới") {
				t.Fatalf("the digest after the outage does not count every new procedure: %q", subject)
			}
		})
	}
}

// A record the portal serves unusable (no name) is skipped with a warning;
// it does not hold the rest of the window hostage. It is kept for the
// operators and asked for again by each following sync (the checkpoint
// has moved past it) until it is served — at most MaxSkipAttempts times.
func TestSyncSkipsInvalidRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		fake := newFake(10, 0)
		bad := record(10)
		bad["ten"] = ""
		fake.Put(bad)
		e := newEnv(t, db, fake)
		skips := func() []catalogsync.Skip {
			t.Helper()
			ks, err := db.Sync().Skips(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return ks
		}

		first := e.sync(t)
		if first.Skipped != 1 || first.Run.New != 10 || first.Run.Skipped != 1 {
			t.Fatalf("first sync %+v, want 10 new and 1 skipped", first)
		}
		if _, ok, _ := db.Sync().Checkpoint(ctx); !ok {
			t.Fatal("the checkpoint did not move past a window with one bad record")
		}
		ks := skips()
		if len(ks) != 1 || ks[0].SystemID != 1010 || ks[0].Reason != catalogsync.ReasonInvalid || ks[0].Attempts != 1 ||
			ks[0].FirstRun != first.Run.ID || ks[0].LastRun != first.Run.ID || ks[0].Error == "" {
			t.Fatalf("skips after the first sync: %+v", ks)
		}
		runs, err := db.Console().SyncRuns(ctx, 1)
		if err != nil || len(runs) != 1 || runs[0].Skipped != 1 {
			t.Fatalf("console sync runs %+v, %v: want the run with 1 skipped", runs, err)
		}

		// Nothing changed upstream: the next sync asks for it again.
		second := e.sync(t)
		if second.Skipped != 1 || second.Run.New != 0 {
			t.Fatalf("second sync %+v, want the bad record asked for again and skipped", second)
		}
		if ks := skips(); len(ks) != 1 || ks[0].Attempts != 2 || ks[0].FirstRun != first.Run.ID || ks[0].LastRun != second.Run.ID {
			t.Fatalf("skips after the second sync: %+v", ks)
		}

		// Repaired upstream without being listed again: the retry brings it.
		fake.Repair(1010, map[string]any{"ten": "Thủ tục số 10 về hộ tịch"})
		third := e.sync(t)
		if third.Skipped != 0 || third.Run.New != 1 {
			t.Fatalf("third sync %+v, want the repaired record new", third)
		}
		if ks := skips(); len(ks) != 0 {
			t.Fatalf("skips after the repair: %+v, want none", ks)
		}
		if p, err := db.Catalog().Procedure(ctx, "1.000110"); err != nil || p.Name != "Thủ tục số 10 về hộ tịch" {
			t.Fatalf("procedure 1010 after the repair: %+v, %v", p, err)
		}

		// A record that never comes is asked for MaxSkipAttempts times.
		never := record(11)
		never["ten"] = ""
		fake.SetClock(e.now) // changed after the last sync's window
		fake.Put(never)
		for range catalogsync.MaxSkipAttempts + 2 {
			e.sync(t)
		}
		ks = skips()
		if len(ks) != 1 || ks[0].SystemID != 1011 || ks[0].Attempts != catalogsync.MaxSkipAttempts {
			t.Fatalf("skips after %d syncs: %+v, want 1011 at %d attempts", catalogsync.MaxSkipAttempts+2, ks, catalogsync.MaxSkipAttempts)
		}
		cs, err := db.Console().SyncSkips(ctx)
		if err != nil || len(cs) != 1 || cs[0].Retried {
			t.Fatalf("console skips %+v, %v: want 1011 no longer retried", cs, err)
		}
	})
}

func decodeQP(enc string, b []byte) string {
	switch strings.ToLower(enc) {
	case "quoted-printable":
		out, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(b)))
		return string(out)
	case "base64":
		out, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(b)), ""))
		return string(out)
	}
	return string(b)
}

// 20 % of upstream requests fail (5xx and resets): retries make the result
// the same as a healthy run.
func TestSyncThroughFlakyUpstream(t *testing.T) {
	db := storetest.SQLite(t)
	fake := newFake(60, 10)
	fake.FailRate = 0.2
	e := newEnv(t, db, fake)
	sum := e.sync(t)
	if sum.Run.New != 60 {
		t.Fatalf("flaky sync: %+v", sum.Run)
	}
	fake.SetClock(e.now.Add(time.Minute))
	fake.Update(1005, map[string]any{"phi": "10.000 đồng"})
	fake.Update(1006, map[string]any{"phi": "20.000 đồng"})
	fake.Update(1007, map[string]any{"trang_thai": "huy_bo"})
	fake.Put(record(70))
	before := len(e.smtp.Messages())
	sum = e.sync(t)
	if sum.Run.Modified != 2 || sum.Run.Cancelled != 1 || sum.Run.New != 1 || len(e.smtp.Messages())-before != 2 {
		t.Fatalf("flaky second sync: %+v, %d emails", sum.Run, len(e.smtp.Messages())-before)
	}
}

// Two replicas start a sync at once: one runs, the other steps aside, and
// every recipient gets one digest.
func TestSyncReplicasRace(t *testing.T) {
	url := storetest.PostgresSchemaURL(t)
	ctx := context.Background()
	open := func() *store.DB {
		db, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if _, err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return db
	}
	fake := newFake(50, 0)
	fake.Latency = 2 * time.Millisecond
	a, b := newEnv(t, open(), fake), newEnv(t, open(), fake)
	b.smtp, b.worker = a.smtp, a.worker
	a.now, b.now = a.now.Add(time.Hour), a.now.Add(time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, e := range []*env{a, b} {
		wg.Go(func() { _, errs[i] = e.syncer.RunOnce(ctx) })
	}
	wg.Wait()
	busy := 0
	for _, err := range errs {
		switch {
		case errors.Is(err, catalogsync.ErrBusy):
			busy++
		case err != nil:
			t.Fatal(err)
		}
	}
	a.deliver(t)
	n, _ := a.db.Catalog().CountProcedures(ctx)
	if n != 50 || len(a.smtp.Messages()) != 2 {
		t.Fatalf("after the race: %d procedures, %d emails (busy %d)", n, len(a.smtp.Messages()), busy)
	}
	// Whoever lost runs later and finds nothing new.
	b.now = b.now.Add(time.Hour)
	if sum, err := b.syncer.RunOnce(ctx); err != nil || sum.Queued != 0 {
		t.Fatalf("later run: %+v %v", sum, err)
	}
}
