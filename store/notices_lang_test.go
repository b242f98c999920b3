package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notice"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// Notices are written in the language the citizen chose in the dialog on
// the channel the notice goes to (sessions.lang), else in the deployment's
// (notice.Config.Lang): every kind × {vi session, en session, no session}
// × {SMS, Zalo OA, Telegram, web chat}, from real event payloads through
// ApplyEvents (and the overdue job), on both backends, under a Vietnamese
// and an English deployment. The e-mail to the applicant follows the chat
// recipient's language; ZNS parameters stay in the deployment's.

// noticeHead is each kind's first line, by language, for dossier %[1]s
// (accents kept: the chat and e-mail form). Dates: due 04/12/2026, the
// result finished on 01/12/2026 (3 days early); overdue: due 30/11/2026.
var noticeHead = map[string]map[string]string{
	notice.Submitted: {
		"vi": "Hồ sơ %[1]s đã gửi, đang chờ cơ quan tiếp nhận.",
		"en": "Dossier %[1]s has been submitted and is waiting to be accepted by the agency.",
	},
	notice.Received: {
		"vi": "Hồ sơ %[1]s đã được tiếp nhận, hẹn trả kết quả ngày 04/12/2026.",
		"en": "Dossier %[1]s has been accepted; the result is due on 04/12/2026.",
	},
	notice.Refused: {
		"vi": "Hồ sơ %[1]s không được tiếp nhận; cơ quan gửi văn bản nêu rõ lý do.",
		"en": "Dossier %[1]s was not accepted; the agency will send you a letter giving the reasons.",
	},
	notice.Processing: {
		"vi": "Hồ sơ %[1]s đang được giải quyết.",
		"en": "Dossier %[1]s is being processed.",
	},
	notice.Supplement: {
		"vi": "Hồ sơ %[1]s cần bổ sung, hoàn thiện giấy tờ theo phiếu yêu cầu của cơ quan.",
		"en": "Dossier %[1]s needs more documents: please complete it as set out in the agency's request.",
	},
	notice.Fee: {
		"vi": "Hồ sơ %[1]s đang chờ nộp phí, lệ phí (nghĩa vụ tài chính).",
		"en": "Dossier %[1]s is awaiting payment of its fees and charges.",
	},
	notice.Withdrawn: {
		"vi": "Hồ sơ %[1]s đã được rút theo yêu cầu.",
		"en": "Dossier %[1]s has been withdrawn at your request.",
	},
	notice.Stopped: {
		"vi": "Hồ sơ %[1]s đã dừng giải quyết; cơ quan gửi thông báo nêu rõ lý do.",
		"en": "Processing of dossier %[1]s has been stopped; the agency will send you a notice giving the reasons.",
	},
	notice.Ready: {
		"vi": "Hồ sơ %[1]s đã có kết quả, mời nhận kết quả. Kết quả có trước hạn 3 ngày (hẹn trả 04/12/2026).",
		"en": "The result of dossier %[1]s is ready for collection. The result came 3 days early (due date 04/12/2026).",
	},
	notice.Returned: {
		"vi": "Hồ sơ %[1]s đã trả kết quả. Cảm ơn bạn đã sử dụng dịch vụ. Kết quả có trước hạn 3 ngày (hẹn trả 04/12/2026).",
		"en": "The result of dossier %[1]s has been handed over. Thank you for using the service. The result came 3 days early (due date 04/12/2026).",
	},
	notice.Rating: {
		"vi": "Mời đánh giá việc giải quyết hồ sơ %[1]s: gửi DG %[1]s 1 (rất hài lòng), 2 (hài lòng) hoặc 3 (không hài lòng).",
		"en": "Please rate how dossier %[1]s was handled: send DG %[1]s 1 (very satisfied), 2 (satisfied) or 3 (not satisfied).",
	},
	notice.Overdue: {
		"vi": "Xin lỗi: hồ sơ %[1]s đã quá hạn trả kết quả ngày 30/11/2026. Cơ quan sẽ thông báo ngày hẹn mới.",
		"en": "We apologise: dossier %[1]s has passed its due date of 30/11/2026. The agency will let you know the new date.",
	},
}

// noticeSMS is the SMS of each kind, by language: accent-free GSM-7, the
// stop hint naming TU CHOI in both languages.
var noticeSMS = map[string]map[string]string{
	notice.Submitted: {
		"vi": "Ho so %[1]s da gui, dang cho co quan tiep nhan. Gui TU CHOI de ngung nhan tin.",
		"en": "Dossier %[1]s has been submitted and is waiting to be accepted by the agency. Reply TU CHOI to stop these messages.",
	},
	notice.Received: {
		"vi": "Ho so %[1]s da duoc tiep nhan, hen tra ket qua ngay 04/12/2026. Gui TU CHOI de ngung nhan tin.",
		"en": "Dossier %[1]s has been accepted; the result is due on 04/12/2026. Reply TU CHOI to stop these messages.",
	},
	notice.Refused: {
		"vi": "Ho so %[1]s khong duoc tiep nhan; co quan gui van ban neu ro ly do. Gui TU CHOI de ngung nhan tin.",
		"en": "Dossier %[1]s was not accepted; the agency will send you a letter giving the reasons. Reply TU CHOI to stop these messages.",
	},
	notice.Processing: {
		"vi": "Ho so %[1]s dang duoc giai quyet. Gui TU CHOI de ngung nhan tin.",
		"en": "Dossier %[1]s is being processed. Reply TU CHOI to stop these messages.",
	},
	notice.Supplement: {
		"vi": "Ho so %[1]s can bo sung, hoan thien giay to theo phieu yeu cau cua co quan. Gui TU CHOI de ngung nhan tin.",
		"en": "Dossier %[1]s needs more documents: please complete it as set out in the agency's request. Reply TU CHOI to stop these messages.",
	},
	notice.Fee: {
		"vi": "Ho so %[1]s dang cho nop phi, le phi (nghia vu tai chinh). Gui TU CHOI de ngung nhan tin.",
		"en": "Dossier %[1]s is awaiting payment of its fees and charges. Reply TU CHOI to stop these messages.",
	},
	notice.Withdrawn: {
		"vi": "Ho so %[1]s da duoc rut theo yeu cau. Gui TU CHOI de ngung nhan tin.",
		"en": "Dossier %[1]s has been withdrawn at your request. Reply TU CHOI to stop these messages.",
	},
	notice.Stopped: {
		"vi": "Ho so %[1]s da dung giai quyet; co quan gui thong bao neu ro ly do. Gui TU CHOI de ngung nhan tin.",
		"en": "Processing of dossier %[1]s has been stopped; the agency will send you a notice giving the reasons. Reply TU CHOI to stop these messages.",
	},
	notice.Ready: {
		"vi": "Ho so %[1]s da co ket qua, moi nhan ket qua. Ket qua co truoc han 3 ngay (hen tra 04/12/2026). Gui TU CHOI de ngung nhan tin.",
		"en": "The result of dossier %[1]s is ready for collection. The result came 3 days early (due date 04/12/2026). Reply TU CHOI to stop these messages.",
	},
	notice.Returned: {
		"vi": "Ho so %[1]s da tra ket qua. Cam on ban da su dung dich vu. Ket qua co truoc han 3 ngay (hen tra 04/12/2026). Gui TU CHOI de ngung nhan tin.",
		"en": "The result of dossier %[1]s has been handed over. Thank you for using the service. The result came 3 days early (due date 04/12/2026). Reply TU CHOI to stop these messages.",
	},
	notice.Rating: {
		"vi": "Moi danh gia viec giai quyet ho so %[1]s: gui DG %[1]s 1 (rat hai long), 2 (hai long) hoac 3 (khong hai long). Gui TU CHOI de ngung nhan tin.",
		"en": "Please rate how dossier %[1]s was handled: send DG %[1]s 1 (very satisfied), 2 (satisfied) or 3 (not satisfied). Reply TU CHOI to stop these messages.",
	},
	notice.Overdue: {
		"vi": "Xin loi: ho so %[1]s da qua han tra ket qua ngay 30/11/2026. Co quan se thong bao ngay hen moi. Gui TU CHOI de ngung nhan tin.",
		"en": "We apologise: dossier %[1]s has passed its due date of 30/11/2026. The agency will let you know the new date. Reply TU CHOI to stop these messages.",
	},
}

// The chat lines around the headline, by language.
var (
	noticeProcedure = map[string]string{
		"vi": "Thủ tục: Đăng ký khai sinh (UBND phường Hải Châu I)",
		"en": "Procedure: Đăng ký khai sinh (UBND phường Hải Châu I)",
	}
	noticeNote = map[string]string{
		"vi": "Ghi chú của cơ quan: Thiếu bản sao giấy khai sinh có chứng thực.",
		"en": "Note from the agency: Thiếu bản sao giấy khai sinh có chứng thực.",
	}
	noticeChatStop = map[string]string{
		"vi": "Gửi HUY %[1]s để ngừng nhận tin về hồ sơ này, TU CHOI để ngừng mọi thông báo.",
		"en": "Send HUY %[1]s to stop updates on this dossier, or TU CHOI to stop all notices.",
	}
	noticeSubject = map[string]string{"vi": "Thông báo về hồ sơ %[1]s", "en": "Update on dossier %[1]s"}
	noticeRates   = map[string]string{"vi": "Rất hài lòng|Hài lòng|Không hài lòng", "en": "Very satisfied|Satisfied|Not satisfied"}
)

// noticeChat is the chat (and e-mail) text of a kind in lang; tier0 is
// Telegram's (no procedure, no note).
func noticeChat(kind, lang, code string, tier0 bool) string {
	lines := []string{fmt.Sprintf(noticeHead[kind][lang], code)}
	if kind != notice.Rating && !tier0 {
		lines = append(lines, noticeProcedure[lang])
		if kind == notice.Refused || kind == notice.Supplement || kind == notice.Fee || kind == notice.Stopped {
			lines = append(lines, noticeNote[lang])
		}
	}
	return strings.Join(append(lines, fmt.Sprintf(noticeChatStop[lang], code)), "\n")
}

// langCase is one dossier of the matrix: the event's status, the channel
// its applicant last used, the language of that identity's session.
type langCase struct {
	status  dossier.Status // 0: the overdue job's apology (status 2 past its date)
	channel string
	session string // "": no session
	code    string
}

func (c langCase) kinds() []string {
	switch {
	case c.status == 0:
		return []string{notice.Overdue}
	case c.status == dossier.DaTraKetQua:
		return []string{notice.Returned, notice.Rating}
	}
	return []string{notice.KindOf(c.status)}
}

func TestNoticeLanguages(t *testing.T) {
	tr, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		now := noticeVN("2026-12-01 10:00")
		db.SetClock(func() time.Time { return now })
		for i, deploy := range []string{"vi", "en"} {
			t.Run("deployment "+deploy, func(t *testing.T) { noticeLanguages(t, db, tr, deploy, i, now) })
		}
	})
}

func noticeVN(s string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", s, vntext.VietnamTime())
	if err != nil {
		panic(err)
	}
	return t
}

func noticeLanguages(t *testing.T, db *store.DB, tr *i18n.Catalog, deploy string, run int, now time.Time) {
	ctx := context.Background()
	statuses, err := notice.ParseStatuses("1,2,3,4,5,6,7,8,9,10,overdue")
	must(t, err)
	quiet, _ := notice.ParseWindow(notice.DefaultQuietHours)
	policy := notice.New(notice.Config{Statuses: statuses, Quiet: quiet, Lang: deploy}, tr)
	ns := db.Notices(policy, nil)
	dossiers := db.DossiersWithNotices(policy, nil)

	var cases []langCase
	n := 0
	for _, ch := range []string{message.SMS, message.Zalo, message.Telegram, message.WebChat} {
		for _, sess := range []string{"vi", "en", ""} {
			for st := dossier.Status(0); st <= 10; st++ {
				n++
				cases = append(cases, langCase{status: st, channel: ch, session: sess,
					code: fmt.Sprintf("000.00.2%d.H17-261125-%04d", run, n)})
			}
		}
	}
	// Who the citizen is on each channel and language: the SMS cases share
	// a phone per language (the dossiers' phone); the chat cases a user
	// subscribed to their dossiers, who wrote an hour ago (inside Zalo's
	// window), and whose dossiers' phone never wrote.
	sessionNo := map[string]int{"vi": 1, "en": 2, "": 3}
	phoneOf := func(c langCase) string {
		if c.channel == message.SMS {
			return fmt.Sprintf("84905%d0000%d", run, sessionNo[c.session])
		}
		return fmt.Sprintf("84906%d0000%d", run, sessionNo[c.session])
	}
	userOf := func(c langCase) string {
		if c.channel == message.SMS {
			return phoneOf(c)
		}
		return fmt.Sprintf("%s-%s-u%d-%s", c.channel, deploy, run, c.session)
	}
	seen := map[string]bool{}
	for _, c := range cases {
		user := userOf(c)
		if c.channel != message.SMS {
			must(t, ns.Subscribe(ctx, c.channel, user, c.code, true))
		}
		if seen[user] {
			continue
		}
		seen[user] = true
		if c.channel != message.SMS {
			_, err := db.Bun().NewRaw(`INSERT INTO inbound (channel, message_id, sender, text, state, attempts, received_at, claimed_at)
				VALUES (?, ?, ?, '', 'done', 1, ?, ?)`, c.channel, "m-"+user, user, now.Add(-time.Hour).UTC(), now.Add(-time.Hour).UTC()).Exec(ctx)
			must(t, err)
		}
		if c.session != "" {
			must(t, db.Sessions().SaveSession(ctx, session.Session{Channel: c.channel, UserID: user, Lang: c.session}))
		}
	}

	// The events, as the one-stop system posts them, one batch per channel
	// (the SMS batch has no chat identity at all: the phones' languages
	// come without the last-seen query).
	raws := map[string][]json.RawMessage{}
	for _, c := range cases {
		status, due := int(c.status), noticeVN("2026-12-04 17:00")
		d := map[string]any{"code": c.code, "procedure_code": "1.001193", "procedure_name": "Đăng ký khai sinh",
			"agency": "UBND phường Hải Châu I", "applicant_name": "Nguyễn Văn An", "applicant_phone": phoneOf(c),
			"applicant_email": "an-" + c.code + "@example.vn", "received_at": noticeRFC(now.Add(-96 * time.Hour))}
		if c.status == 0 { // accepted, and past its date by now: the overdue job's
			status, due = 2, noticeVN("2026-11-30 17:00")
		}
		d["due_at"] = noticeRFC(due)
		if dossier.Status(status).HasResult() {
			d["finished_at"] = noticeRFC(noticeVN("2026-12-01 09:00"))
		}
		ev := map[string]any{"event_id": "ev-" + c.code, "occurred_at": noticeRFC(now.Add(-time.Minute)), "status": fmt.Sprint(status), "dossier": d}
		if c.status == dossier.KhongTiepNhan || c.status == dossier.ChoBoSung || c.status == dossier.ChoNghiaVuTaiChinh || c.status == dossier.DungXuLy {
			ev["note"] = "Thiếu bản sao giấy khai sinh có chứng thực."
		}
		b, _ := json.Marshal(ev)
		raws[c.channel] = append(raws[c.channel], b)
	}
	for _, batch := range raws {
		body, _ := json.Marshal(map[string]any{"events": batch})
		events, err := dossier.ParseEvents(body, now)
		must(t, err)
		res, err := dossiers.ApplyEvents(ctx, events)
		must(t, err)
		for _, r := range res {
			if r.Result != dossier.Accepted {
				t.Fatalf("event %s: %s", r.EventID, r.Result)
			}
		}
	}
	// The overdue job runs the next day; the accepted notices of those
	// dossiers were checked, the apologies are what it adds.
	if _, err := ns.QueueOverdue(ctx, now.Add(time.Hour), 50); err != nil {
		t.Fatal(err)
	}

	type queued struct {
		Code, Kind, OutboxKind, Recipient, Payload string
	}
	var rows []queued
	must(t, db.Bun().NewRaw(`SELECT n.dossier_code AS code, n.kind AS kind, o.kind AS outbox_kind, o.recipient AS recipient, o.payload AS payload
		FROM notices AS n JOIN outbox AS o ON o.id = n.outbox_id ORDER BY n.outbox_id`).Scan(ctx, &rows))
	got := map[string]map[string]notify.Payload{} // code → outbox kind/kind → payload
	for _, r := range rows {
		var p notify.Payload
		must(t, json.Unmarshal([]byte(r.Payload), &p))
		if got[r.Code] == nil {
			got[r.Code] = map[string]notify.Payload{}
		}
		got[r.Code][r.OutboxKind+"/"+r.Kind] = p
	}
	for _, c := range cases {
		lang := c.session
		if lang == "" {
			lang = deploy // no session: the deployment's language
		}
		name := fmt.Sprintf("%s/%s/session=%q", c.kinds()[0], c.channel, c.session)
		outboxKind := map[string]string{message.SMS: notify.SMS, message.Zalo: notify.Zalo, message.Telegram: notify.Telegram,
			message.WebChat: notify.WebChat}[c.channel]
		for _, kind := range c.kinds() {
			chat, ok := got[c.code][outboxKind+"/"+kind]
			if !ok {
				t.Errorf("%s: no %s notice %s: %v", name, outboxKind, kind, got[c.code])
				continue
			}
			var want string
			if outboxKind == notify.SMS {
				want = fmt.Sprintf(noticeSMS[kind][lang], c.code)
				if seg := vntext.CountSMS(chat.Text); !vntext.IsGSM7(chat.Text) || seg.Segments > 2 {
					t.Errorf("%s: SMS %q is not GSM-7 within 2 segments (%+v)", name, chat.Text, seg)
				}
			} else {
				want = noticeChat(kind, lang, c.code, outboxKind == notify.Telegram)
			}
			if chat.Text != want {
				t.Errorf("%s: %s %s\n got %q\nwant %q", name, outboxKind, kind, chat.Text, want)
			}
			if kind == notice.Rating && outboxKind != notify.SMS {
				var labels []string
				for _, ch := range chat.Choices {
					labels = append(labels, ch.Label)
				}
				if strings.Join(labels, "|") != noticeRates[lang] || chat.Choices[0].Value != "DG "+c.code+" 1" {
					t.Errorf("%s: rating choices %+v", name, chat.Choices)
				}
			}
			mail, ok := got[c.code][notify.Email+"/"+kind]
			if !ok {
				t.Errorf("%s: no e-mail %s", name, kind)
				continue
			}
			if mail.Subject != fmt.Sprintf(noticeSubject[lang], c.code) || mail.Text != noticeChat(kind, lang, c.code, false) {
				t.Errorf("%s: e-mail %s in the wrong language: %q\n%s", name, kind, mail.Subject, mail.Text)
			}
		}
	}
}

func noticeRFC(t time.Time) string { return t.In(vntext.VietnamTime()).Format(time.RFC3339) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// queryCounter counts the statements a database runs while on.
type queryCounter struct {
	mu              sync.Mutex
	on              bool
	total, sessions int
}

func (q *queryCounter) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.on {
		q.total++
		if strings.Contains(e.Query, "FROM sessions") {
			q.sessions++
		}
	}
	return ctx
}

func (q *queryCounter) AfterQuery(context.Context, *bun.QueryEvent) {}

func (q *queryCounter) run(fn func()) (total, sessions int) {
	q.mu.Lock()
	q.on, q.total, q.sessions = true, 0, 0
	q.mu.Unlock()
	fn()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.on = false
	return q.total, q.sessions
}

// The language of a notice is the session's of the identity the notice
// goes to, whichever channel wins; ZNS stays in the deployment's language;
// and reading the languages costs no statement of its own: it rides the
// opt-out query, one per batch whatever the number of notices.
func TestNoticeLanguageOfTheChosenChannel(t *testing.T) {
	tr, err := i18n.New()
	must(t, err)
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := noticeVN("2026-12-01 10:00")
		db.SetClock(func() time.Time { return now })
		counter := &queryCounter{}
		//lint:ignore SA1019 the store's own handle must count its statements; WithQueryHook returns a clone the store never uses
		db.Bun().AddQueryHook(counter)
		quiet, _ := notice.ParseWindow(notice.DefaultQuietHours)
		statuses, _ := notice.ParseStatuses(notice.DefaultStatuses)
		policy := notice.New(notice.Config{Statuses: statuses, Quiet: quiet, Templates: map[string]string{notice.Ready: "231677"}}, tr)
		ns := db.Notices(policy, nil)
		dossiers := db.DossiersWithNotices(policy, nil)
		type ident struct {
			channel, user, lang string
			ago                 time.Duration // when it last wrote (0: never)
		}
		apply := func(t *testing.T, codes []string, phones ...string) {
			t.Helper()
			var raws []json.RawMessage
			for j, code := range codes {
				phone := phones[min(j, len(phones)-1)]
				b, _ := json.Marshal(map[string]any{"event_id": "ev-" + code, "occurred_at": noticeRFC(now.Add(-time.Minute)), "status": "9",
					"dossier": map[string]any{"code": code, "procedure_code": "1.001193", "procedure_name": "Đăng ký khai sinh",
						"agency": "UBND phường Hải Châu I", "applicant_phone": phone, "received_at": noticeRFC(now.Add(-96 * time.Hour)),
						"due_at": noticeRFC(noticeVN("2026-12-04 17:00")), "finished_at": noticeRFC(noticeVN("2026-12-01 09:00"))}})
				raws = append(raws, b)
			}
			body, _ := json.Marshal(map[string]any{"events": raws})
			events, err := dossier.ParseEvents(body, now)
			must(t, err)
			_, err = dossiers.ApplyEvents(ctx, events)
			must(t, err)
		}
		setUp := func(t *testing.T, code string, ids []ident) {
			t.Helper()
			for _, id := range ids {
				if id.channel != message.SMS {
					must(t, ns.Subscribe(ctx, id.channel, id.user, code, true))
				}
				if id.ago > 0 {
					at := now.Add(-id.ago).UTC()
					_, err := db.Bun().NewRaw(`INSERT INTO inbound (channel, message_id, sender, text, state, attempts, received_at, claimed_at)
						VALUES (?, ?, ?, '', 'done', 1, ?, ?)`, id.channel, "m-"+code+id.user, id.user, at, at).Exec(ctx)
					must(t, err)
				}
				if id.lang != "" {
					must(t, db.Sessions().SaveSession(ctx, session.Session{Channel: id.channel, UserID: id.user, Lang: id.lang}))
				}
			}
		}
		for i, c := range []struct {
			name     string
			ids      []ident // the dossier's phone is 8490700000<i>
			want     string  // outbox kind of the chat notice
			text     string  // the start of its text
			fallback string  // the start of the SMS fallback ("" none)
		}{
			{"sms wrote last (en) beats an older zalo (vi)",
				[]ident{{message.SMS, "", "en", time.Minute}, {message.Zalo, "z-1", "vi", time.Hour}},
				notify.SMS, "The result of dossier", ""},
			{"zalo wrote last (en) beats sms (vi)",
				[]ident{{message.SMS, "", "vi", time.Hour}, {message.Zalo, "z-2", "en", time.Minute}},
				notify.Zalo, "The result of dossier", "The result of dossier"},
			{"telegram (vi) wrote last, zalo (en) earlier",
				[]ident{{message.Zalo, "z-3", "en", time.Hour}, {message.Telegram, "tg-3", "vi", time.Minute}},
				notify.Telegram, "Hồ sơ", "Ho so"},
			{"zalo (en) outside its window: ZNS in the deployment's language, the SMS fallback in English",
				[]ident{{message.Zalo, "z-4", "en", 72 * time.Hour}},
				notice.ZNS, `{"ma_ho_so":`, "The result of dossier"},
			{"a session in a language the bot does not speak: the deployment's",
				[]ident{{message.WebChat, "w-5", "fr", time.Minute}},
				notify.WebChat, "Hồ sơ", "Ho so"},
			{"the phone's session (en), its messages purged",
				[]ident{{message.SMS, "", "en", 0}, {message.Zalo, "z-6", "", 0}},
				notify.SMS, "The result of dossier", ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				code := fmt.Sprintf("000.00.30.H17-261125-%04d", i+1)
				phone := fmt.Sprintf("8490700000%d", i)
				for j := range c.ids {
					if c.ids[j].channel == message.SMS {
						c.ids[j].user = phone
					}
				}
				setUp(t, code, c.ids)
				apply(t, []string{code}, phone)
				var rows []struct {
					OutboxKind   string `bun:"outbox_kind"`
					Payload      string `bun:"payload"`
					FallbackText string `bun:"fallback_text"`
				}
				must(t, db.Bun().NewRaw(`SELECT o.kind AS outbox_kind, o.payload, n.fallback_text FROM notices AS n
					JOIN outbox AS o ON o.id = n.outbox_id WHERE n.dossier_code = ?`, code).Scan(ctx, &rows))
				if len(rows) != 1 || rows[0].OutboxKind != c.want {
					t.Fatalf("notices %+v, want one on %s", rows, c.want)
				}
				var p notify.Payload
				must(t, json.Unmarshal([]byte(rows[0].Payload), &p))
				if !strings.HasPrefix(p.Text, c.text) || !strings.HasPrefix(rows[0].FallbackText, c.fallback) || (c.fallback == "") != (rows[0].FallbackText == "") {
					t.Errorf("text %q, fallback %q; want %q…, %q…", p.Text, rows[0].FallbackText, c.text, c.fallback)
				}
				if c.want == notice.ZNS && (p.Subject != "231677" || !strings.Contains(p.Text, `"trang_thai":"Đã có kết quả"`)) {
					t.Errorf("ZNS payload %+v: the template and its Vietnamese parameters", p)
				}
			})
		}
		// One statement reads the opt-outs and the languages, for one
		// dossier or twenty in a batch: none is added per notice (the
		// batch of twenty costs only its events' own two statements each
		// more: the event row and the dossier upsert).
		var totals [2]int
		for k, n := range []int{1, 20} {
			var codes, phones []string
			for j := 0; j < n; j++ {
				code, phone := fmt.Sprintf("000.00.3%d.H17-261126-%04d", k+1, j+1), fmt.Sprintf("849080%d%04d", k, j)
				setUp(t, code, []ident{{message.SMS, phone, []string{"vi", "en", ""}[j%3], time.Minute}, {message.Zalo, "zz-" + code, "en", time.Hour}})
				codes, phones = append(codes, code), append(phones, phone)
			}
			total, sessions := counter.run(func() { apply(t, codes, phones...) })
			if sessions != 1 {
				t.Errorf("a batch of %d: %d statements read sessions, want 1", n, sessions)
			}
			totals[k] = total
			var langs []string
			must(t, db.Bun().NewRaw(`SELECT o.payload FROM notices AS n JOIN outbox AS o ON o.id = n.outbox_id
				WHERE n.dossier_code IN (?) ORDER BY n.dossier_code`, bun.List(codes)).Scan(ctx, &langs))
			for j, payload := range langs {
				var p notify.Payload
				must(t, json.Unmarshal([]byte(payload), &p))
				// The phone wrote last: its session's language, else the
				// deployment's (never the Zalo user's English).
				want := map[int]string{0: "Ho so", 1: "The result", 2: "Ho so"}[j%3]
				if !strings.HasPrefix(p.Text, want) {
					t.Errorf("dossier %d of %d: %q, want %q…", j, n, p.Text, want)
				}
			}
		}
		if d := totals[1] - totals[0]; d != 2*19 {
			t.Errorf("a batch of 20 ran %d statements, one of 1 ran %d: %d more, want 38 (two per event)", totals[1], totals[0], d)
		}
	})
}
