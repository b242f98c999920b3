package citizen_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

const lockText = "Hồ sơ này đã tạm khóa xác minh vì nhập sai quá nhiều lần (5 lần trong 24 giờ). Vì lý do bảo mật, vui lòng mang giấy tờ tùy thân đến bộ phận một cửa nơi nộp hồ sơ để được hỗ trợ."

// sayFrom is say with the network source the web chat passes on.
func (h *harness) sayFrom(u user, source, text string) message.Reply {
	h.t.Helper()
	h.now = h.now.Add(7 * time.Second)
	return h.bot.Handle(context.Background(), message.Inbound{Channel: u.channel, UserID: u.id, Phone: u.phone,
		Text: text, Time: h.now, Source: source}, u.caps)
}

func freshWeb(i int) user {
	return user{message.WebChat, "fresh-" + strconv.Itoa(i), "", message.RichCaps()}
}

// The finding: a fresh cookie gave three more tries. Now a wrong guess from
// ten fresh web-chat sessions is refused after the fifth, with the lock
// message, even for the right digits; a day later the applicant can verify.
func TestVerificationHoldsAcrossSessions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db)
		for i := range 10 {
			u := freshWeb(i)
			ask := h.sayFrom(u, "203.0.113.7", "XACMINH "+codeSupp)
			guess := h.sayFrom(u, "203.0.113.7", "1111")
			switch {
			case i < 4:
				want := "Số chưa khớp với hồ sơ. Bạn còn " + strconv.Itoa(4-i) + " lần thử."
				if !strings.Contains(ask.Text, "4 số cuối") || guess.Text != want {
					t.Fatalf("session %d: %q then %q, want %q", i, ask.Text, guess.Text, want)
				}
			case i == 4:
				if guess.Text != lockText {
					t.Fatalf("fifth wrong guess: %q", guess.Text)
				}
			default:
				if ask.Text != lockText || !strings.Contains(guess.Text, "Hiện không có danh sách nào") {
					t.Fatalf("session %d after the lock: asked %q, then %q", i, ask.Text, guess.Text)
				}
			}
		}
		right := freshWeb(10)
		if r := h.sayFrom(right, "198.51.100.1", "XACMINH "+codeSupp); r.Text != lockText {
			t.Fatalf("the applicant during the lock: %q", r.Text)
		}
		h.now = h.now.Add(24 * time.Hour)
		h.sayFrom(right, "198.51.100.1", "XACMINH "+codeSupp)
		if r := h.sayFrom(right, "198.51.100.1", "3456"); !strings.Contains(r.Text, "Đã xác minh") || !strings.Contains(r.Text, "Võ Thị Giang") {
			t.Fatalf("a day later: %q", r.Text)
		}
	})
}

// Per network source and per channel identity.
func TestVerificationSourceAndIdentityLimits(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	codes := []string{"000.00.20.H17-261102-0003", "000.00.20.H17-261102-0004", "000.00.20.H17-261102-0005",
		"000.00.20.H17-261102-0006", "000.00.20.H17-261102-0007"}
	n := 0
	for _, code := range codes {
		for range 4 {
			u := freshWeb(100 + n)
			n++
			h.sayFrom(u, "203.0.113.50", "XACMINH "+code)
			h.sayFrom(u, "203.0.113.50", "0000")
		}
	}
	if r := h.sayFrom(freshWeb(999), "203.0.113.50", "XACMINH 000.00.20.H17-261102-0008"); !strings.Contains(r.Text, "từ mạng này") {
		t.Fatalf("21st guess from one address: %q", r.Text)
	}
	if r := h.sayFrom(freshWeb(998), "203.0.113.51", "XACMINH 000.00.20.H17-261102-0008"); !strings.Contains(r.Text, "4 số cuối") {
		t.Fatalf("another address: %q", r.Text)
	}
	h = newHarness(t, storetest.SQLite(t)) // a fresh database: no dossier locked yet
	zalo := user{message.Zalo, "zalo-77", "", message.RichCaps()}
	for _, code := range codes {
		for range 2 {
			h.sayFrom(zalo, "", "XACMINH "+code)
			h.sayFrom(zalo, "", "0000")
		}
	}
	if r := h.sayFrom(zalo, "", "XACMINH 000.00.20.H17-261102-0009"); !strings.Contains(r.Text, "Bạn đã xác minh sai quá nhiều lần") {
		t.Fatalf("11th guess of one Zalo user: %q", r.Text)
	}
}

// The finding: 30 concurrent guesses on one session, 14 counted. Every
// message is counted in the session, every guess in the database, and only
// five are checked.
func TestConcurrentGuessesAreAllCounted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		h := newHarness(t, db, citizen.WithRateLimit(1000))
		me := freshWeb(0)
		h.sayFrom(me, "203.0.113.7", "XACMINH "+codeSupp)
		const n = 30
		replies := make([]message.Reply, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				replies[i] = h.bot.Handle(context.Background(), message.Inbound{Channel: me.channel, UserID: me.id,
					Text: "0000", Source: "203.0.113.7", Time: h.now}, me.caps)
			}()
		}
		wg.Wait()
		wrong, locked := 0, 0
		for _, r := range replies {
			switch {
			case strings.HasPrefix(r.Text, "Số chưa khớp với hồ sơ."):
				wrong++
			case r.Text == lockText:
				locked++
			default:
				t.Fatalf("unexpected reply %q", r.Text)
			}
			if !r.Secret {
				t.Fatalf("a reply to verification digits is not marked secret: %q", r.Text)
			}
		}
		if wrong != 4 || locked != 26 {
			t.Fatalf("%d wrong with tries left, %d locked; want 4 and 26", wrong, locked)
		}
		ctx := context.Background()
		var rows, checked int
		if err := db.Bun().QueryRowContext(ctx, "SELECT count(*), sum(CASE WHEN checked THEN 1 ELSE 0 END) FROM verify_attempts WHERE dossier_code = ?", codeSupp).Scan(&rows, &checked); err != nil {
			t.Fatal(err)
		}
		s, err := db.Sessions().Session(ctx, me.channel, me.id)
		if err != nil || rows != n || checked != 5 || s.RateCount != n+1 {
			t.Fatalf("attempts %d (checked %d), session messages %d, %v; want %d (5), %d", rows, checked, s.RateCount, err, n, n+1)
		}
	})
}

// On SMS only the dossier's own number is its applicant: XACMINH is
// refused there, and a stranger can neither rate nor see the details.
func TestSMSOnlyTheDossiersPhone(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	runScript(t, h, []step{
		{stranger, "XACMINH " + codeReady, []string{"Qua SMS, chi so dien thoai da dang ky tren ho so moi xem duoc chi tiet"}, []string{"4 so cuoi"}, nil},
		{stranger, "3456", []string{"Hien khong co danh sach nao"}, []string{"Da xac minh"}, nil},
		{stranger, "DG " + codeReady + " 2", []string{"chi nguoi nop ho so moi duoc danh gia"}, []string{"4 so cuoi", "Da ghi nhan"}, nil},
		{stranger, "DVC " + codeReady, []string{"Ngo T. N."}, []string{"Ngo Thi Ngoc", "giay hen den nhan the"}, nil},
		{applicnt, "DG " + codeReady + " 2", []string{"Da ghi nhan danh gia \"Hai long\""}, nil, nil},
	})
}

// Digits typed for a verification are marked secret (not logged in clear);
// passing it asks the channel to rotate a cookie session.
func TestSecretAndRotation(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	for _, tc := range []struct {
		text           string
		secret, rotate bool
	}{
		{"DVC " + codeSupp, false, false},
		{"XACMINH " + codeSupp, true, false},
		{"1111", true, false},
		{"so cuoi cua toi la 2222", true, false}, // not read as a guess (it ends the question), still not logged
		{"XACMINH " + codeSupp, true, false},
		{"3456", true, true},
		{"DVC " + codeSupp, false, false},
		{"dang ky khai sinh", false, false},
	} {
		r := h.say(web, tc.text)
		if r.Secret != tc.secret || r.RotateSession != tc.rotate {
			t.Errorf("%q: secret %v, rotate %v; want %v, %v", tc.text, r.Secret, r.RotateSession, tc.secret, tc.rotate)
		}
	}
}
