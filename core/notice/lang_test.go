package notice_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notice"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// A citizen who switches the dialog to English gets the following notices
// in English, by SMS (GSM-7 within the 2 segments, from 8188, the stop
// keyword TU CHOI still working) and on Zalo; on SQLite and on Postgres.
//
// Decision: a notice is rendered when it is queued (in the transaction of
// its dossier event), not when it leaves, so a notice already queued keeps
// the language the citizen had then. The outbox row is the exact message
// that is sent (and that operators and the notices API see); rendering it
// needs the dossier as its event described it (procedure, agency, note,
// how early), which the sender no longer has; and the send-time guard
// stays free of a session read per message. The window is short: a notice
// waits at most for the end of the quiet hours or the rating delay.
func TestNoticeLanguageFollowsTheDialog(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return storetest.SQLiteURL(t) }},
		{"postgres", func(t *testing.T) string { return storetest.PostgresSchemaURL(t) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			u := b.url(t)
			languageFollowsTheDialog(t, newHarness(t, func() *store.DB { return openURL(t, u) }, 1))
		})
	}
}

func languageFollowsTheDialog(t *testing.T, h *harness) {
	const codeA = "000.00.20.H17-261125-0031"
	due := vn("2026-12-10 17:00")
	smsOf := func(code string) []mt {
		var out []mt
		for _, m := range h.kannel.to(phoneN) {
			if strings.Contains(m.Text, code) {
				out = append(out, m)
			}
		}
		return out
	}

	// 1. No session yet: at 22:30 the received notice is queued in the
	// deployment's language and held for the quiet hours.
	h.clock.Set(vn("2026-12-01 22:30"))
	h.post(0, ev{id: "lang-a1", code: codeA, status: "2", due: due, occured: h.clock.Now().Add(-time.Minute), phone: phone})
	h.drain()
	if vs := h.notices(codeA); states(vs) != "received/sms/held" {
		t.Fatalf("at 22:30: %s", states(vs))
	}

	// 2. While it waits the citizen switches the dialog to English (the
	// session of sms:<phone> now says en); the notice stays held.
	h.clock.Set(vn("2026-12-01 22:40"))
	if r := h.say(message.SMS, phoneN, "EN"); !strings.Contains(r.Text, "English") {
		t.Fatalf("EN answered %q", r.Text)
	}
	h.drain()
	if got := smsOf(codeA); len(got) != 0 {
		t.Fatalf("after EN, during the quiet hours: %+v", got)
	}
	if vs := h.notices(codeA); states(vs) != "received/sms/held" {
		t.Fatalf("after EN: %s", states(vs))
	}

	// 3. At 07:00 the held notice leaves as it was queued: in Vietnamese.
	h.clock.Set(vn("2026-12-02 07:00"))
	h.drain()
	want := "Ho so " + codeA + " da duoc tiep nhan, hen tra ket qua ngay 10/12/2026. Gui TU CHOI de ngung nhan tin."
	if got := smsOf(codeA); len(got) != 1 || got[0].Text != want {
		t.Fatalf("the notice queued before EN: %+v, want %q", got, want)
	}

	// 4. The next notice is queued after the switch: in English, GSM-7
	// within 2 segments, from 8188, the stop keyword unchanged.
	h.clock.Set(vn("2026-12-02 08:00"))
	h.post(0, ev{id: "lang-a2", code: codeA, status: "9", due: due, finished: h.clock.Now(), occured: h.clock.Now(), phone: phone})
	h.drain()
	want = "The result of dossier " + codeA + " is ready for collection. The result came 8 days early (due date 10/12/2026). " +
		"Reply TU CHOI to stop these messages."
	got := smsOf(codeA)
	if len(got) != 2 || got[1].Text != want || got[1].From != "8188" {
		t.Fatalf("the notice queued after EN: %+v, want %q from 8188", got, want)
	}
	if m := got[1]; !vntext.IsGSM7(m.Text) || vntext.CountSMS(m.Text).Segments > 2 {
		t.Fatalf("English SMS %q: not GSM-7 within 2 segments", m.Text)
	}
	if vs := h.notices(codeA); states(vs) != "received/sms/sent ready/sms/sent" {
		t.Fatalf("notices: %s", states(vs))
	}

	// 5. The keyword the English SMS names stops the notices.
	h.say(message.SMS, phoneN, "TU CHOI")
	h.drain()
	before := len(h.kannel.to(phoneN))
	h.post(0, ev{id: "lang-a3", code: codeA, status: "10", due: due, finished: vn("2026-12-02 08:00"), occured: h.clock.Now().Add(time.Minute), phone: phone})
	h.clock.Add(notice.RatingDelay + time.Minute)
	h.drain()
	if n := len(h.kannel.to(phoneN)); n != before {
		t.Fatalf("%d SMS after TU CHOI, want %d", n, before)
	}

	// 6. On Zalo: a verified user who chose English gets the OA message
	// and the rating invitation (with its buttons) in English; one who did
	// not, in Vietnamese.
	const codeE, codeV = "000.00.20.H17-261125-0032", "000.00.20.H17-261125-0033"
	const zEN, zVI = "7700112233445566001", "7700112233445566002"
	h.clock.Set(vn("2026-12-02 10:00"))
	verified(t, h.reps[0].db, codeE, zEN, h.clock.Now().Add(-2*time.Hour))
	verified(t, h.reps[0].db, codeV, zVI, h.clock.Now().Add(-2*time.Hour))
	// Zalo messages are answered in the background, which this harness does
	// not run: the session is stored as the bot stores it after EN.
	must(t, h.reps[0].db.Sessions().SaveSession(context.Background(), session.Session{Channel: message.Zalo, UserID: zEN, Lang: "en"}))
	for _, c := range []string{codeE, codeV} {
		h.post(0, ev{id: "lang-" + c, code: c, status: "10", due: due, finished: vn("2026-12-02 09:00"), occured: h.clock.Now(), phone: "0912345679"})
	}
	h.drain() // the returned notices, then the invitations
	h.clock.Add(notice.RatingDelay)
	h.drain()
	oa := map[string][]string{}
	var buttons = map[string]string{}
	for _, s := range h.zfake.Sent() {
		if !strings.Contains(s.Text, codeE) && !strings.Contains(s.Text, codeV) {
			continue // the bot's own answers
		}
		oa[s.UserID] = append(oa[s.UserID], s.Text)
		for _, b := range s.Buttons {
			buttons[s.UserID] += b.Title + "|"
		}
	}
	wantEN := []string{
		"The result of dossier " + codeE + " has been handed over. Thank you for using the service. The result came 8 days early (due date 10/12/2026).\n" +
			"Procedure: Đăng ký khai sinh (UBND phường Hải Châu I)\n" +
			"Send HUY " + codeE + " to stop updates on this dossier, or TU CHOI to stop all notices.",
		"Please rate how dossier " + codeE + " was handled: send DG " + codeE + " 1 (very satisfied), 2 (satisfied) or 3 (not satisfied).\n" +
			"Send HUY " + codeE + " to stop updates on this dossier, or TU CHOI to stop all notices.",
	}
	if strings.Join(oa[zEN], "\n--\n") != strings.Join(wantEN, "\n--\n") {
		t.Errorf("Zalo (en):\n%s\nwant\n%s", strings.Join(oa[zEN], "\n--\n"), strings.Join(wantEN, "\n--\n"))
	}
	if buttons[zEN] != "Very satisfied|Satisfied|Not satisfied|" {
		t.Errorf("Zalo (en) rating buttons %q", buttons[zEN])
	}
	if len(oa[zVI]) != 2 || !strings.HasPrefix(oa[zVI][0], "Hồ sơ "+codeV+" đã trả kết quả.") ||
		!strings.HasPrefix(oa[zVI][1], "Mời đánh giá việc giải quyết hồ sơ "+codeV) || buttons[zVI] != "Rất hài lòng|Hài lòng|Không hài lòng|" {
		t.Errorf("Zalo (vi): %q %q", oa[zVI], buttons[zVI])
	}
}

// The policy alone: the identity's language, else Config.Lang (vi by
// default, en when the deployment says so); a language the bot does not
// speak is no language; the e-mail follows the chat recipient; ZNS
// parameters stay in Config.Lang.
func TestPlanLanguage(t *testing.T) {
	tr, err := i18n.New()
	must(t, err)
	now := vn("2026-12-01 10:00")
	due := vn("2026-12-04 17:00")
	s := notice.Subject{Kind: notice.Received, EventAt: now, Email: "an@example.vn"}
	s.Dossier.Code, s.Dossier.DueAt, s.Dossier.ApplicantPhone, s.Dossier.Status = "000.00.20.H17-261125-0009", &due, phoneN, 2
	recent, old := now.Add(-time.Hour), now.Add(-72*time.Hour)
	for _, c := range []struct {
		name, deploy string
		ids          []notice.Identity
		want         string // outbox kind: language of each notice
	}{
		{"no session: vi", "", nil, "sms:vi email:vi"},
		{"no session, English deployment", "en", nil, "sms:en email:en"},
		{"the phone chose en", "", []notice.Identity{{Channel: message.SMS, UserID: phoneN, Lang: "en"}}, "sms:en email:en"},
		{"the phone chose vi, English deployment", "en", []notice.Identity{{Channel: message.SMS, UserID: phoneN, Lang: "vi"}}, "sms:vi email:vi"},
		{"unknown language", "", []notice.Identity{{Channel: message.WebChat, UserID: "w", Lang: "fr", LastSeen: recent}}, "webchat:vi email:vi"},
		{"web chat en", "", []notice.Identity{{Channel: message.WebChat, UserID: "w", Lang: "en", LastSeen: recent}}, "webchat:en email:en"},
		{"ZNS for an English Zalo user", "", []notice.Identity{{Channel: message.Zalo, UserID: "z", Lang: "en", LastSeen: old}}, "zns:en email:en"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := notice.New(notice.Config{Lang: c.deploy, Templates: map[string]string{notice.Received: "231600"}}, tr)
			var got []string
			for _, n := range p.Plan(s, c.ids, phoneN, now) {
				got = append(got, n.OutboxKind+":"+n.Lang)
				en := strings.Contains(n.Payload.Text, "accepted")
				switch {
				case n.OutboxKind == notice.ZNS:
					if n.Payload.Text != `{"ma_ho_so":"`+s.Dossier.Code+`","ngay_hen_tra":"04/12/2026","trang_thai":"Đã tiếp nhận"}` ||
						!strings.HasPrefix(n.FallbackText, "Dossier "+s.Dossier.Code+" has been accepted") {
						t.Errorf("ZNS %q, fallback %q", n.Payload.Text, n.FallbackText)
					}
				case en != (n.Lang == "en"):
					t.Errorf("%s notice in %s: %q", n.OutboxKind, n.Lang, n.Payload.Text)
				}
				if n.OutboxKind == notify.Email && (n.Payload.Subject == "Update on dossier "+s.Dossier.Code) != (n.Lang == "en") {
					t.Errorf("e-mail subject %q in %s", n.Payload.Subject, n.Lang)
				}
			}
			if strings.Join(got, " ") != c.want {
				t.Errorf("notices %v, want %s", got, c.want)
			}
		})
	}
}
