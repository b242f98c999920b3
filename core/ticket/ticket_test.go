package ticket

import (
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

func TestIntent(t *testing.T) {
	for _, tc := range []struct {
		text string
		kind Kind
		ok   bool
	}{
		{"gap can bo", Question, true},
		{"Tôi muốn gặp cán bộ", Question, true},
		{"cho toi noi chuyen voi tong dai vien", Question, true},
		{"người thật ơi", Question, true},
		{"I want to talk to a person", Question, true},
		{"GAP CAN BO", Question, true},
		{"toi muon phan anh kien nghi", Feedback, true},
		{"Phản ánh về thái độ cán bộ", Feedback, true},
		{"khiếu nại", Complaint, true},
		{"toi muon phan anh va khieu nai ho so 000.00.20.H17-261102-0004", Complaint, true},
		{"thu tuc giai quyet khieu nai lan dau", "", false},
		{"mẫu đơn khiếu nại", "", false},
		{"dang ky khai sinh", "", false},
		{"xin chao", "", false},
		{"", "", false},
	} {
		k, ok := Intent(tc.text)
		if k != tc.kind || ok != tc.ok {
			t.Errorf("Intent(%q) = %q %v, want %q %v", tc.text, k, ok, tc.kind, tc.ok)
		}
	}
}

func TestParseCommand(t *testing.T) {
	for text, want := range map[string]Command{
		"DVC 000.00.20.H17-261102-0004": BotCommand, "dvc000.00.20.H17-261102-0004": BotCommand, "tra cứu 000": BotCommand,
		"TIM khai sinh": BotCommand, "hd": BotCommand, "Hướng dẫn": BotCommand, "KẾT THÚC": End, "ket thuc": End,
		"XACMINH 000.00.20.H17-261102-0006": BotCommand, "xác minh": BotCommand, "verify": BotCommand,
		"xin chao": None, "TIM": None, "dvcbot": None, "1": None, "xac nhan": None,
	} {
		if got := ParseCommand(text); got != want {
			t.Errorf("ParseCommand(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestParseRating(t *testing.T) {
	for _, tc := range []struct {
		text   string
		number int64
		level  int
		ok     bool
	}{
		{"1", 0, 1, true}, {" 3 ", 0, 3, true}, {"4", 0, 0, false}, {"PHIEU 12 2", 12, 2, true}, {"phiếu #12 3", 12, 3, true},
		{"PHIEU x 2", 0, 0, false}, {"12", 0, 0, false},
	} {
		n, l, ok := ParseRating(tc.text)
		if n != tc.number || l != tc.level || ok != tc.ok {
			t.Errorf("ParseRating(%q) = %d %d %v", tc.text, n, l, ok)
		}
	}
	if v := RatingValue(7, 2); v != "PHIEU 7 2" {
		t.Fatal(v)
	}
}

func TestHours(t *testing.T) {
	h := MustHours(DefaultWorkingHours)
	vn := vntext.VietnamTime()
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, vn)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	for _, tc := range []struct {
		now, next string
	}{
		{"2026-12-02 09:00", "2026-12-02 09:00"}, // Wednesday, open
		{"2026-12-02 06:00", "2026-12-02 07:30"}, // before opening
		{"2026-12-02 17:00", "2026-12-03 07:30"}, // closing time
		{"2026-12-04 18:00", "2026-12-07 07:30"}, // Friday evening → Monday
		{"2026-12-05 10:00", "2026-12-07 07:30"}, // Saturday
	} {
		if got := h.NextOpen(at(tc.now).UTC()).In(vn); !got.Equal(at(tc.next)) {
			t.Errorf("NextOpen(%s) = %s, want %s", tc.now, got, tc.next)
		}
	}
	if w := h.When("vi", at("2026-12-05 10:00")); !strings.Contains(w, "07:30 thứ Hai 07/12") || !strings.Contains(w, "thứ Hai-thứ Sáu 07:30-17:00") {
		t.Errorf("When: %q", w)
	}
	if w := h.When("en", at("2026-12-02 09:00")); !strings.Contains(w, "same day") {
		t.Errorf("When en: %q", w)
	}
	for _, bad := range []string{"", "Mon-Fri", "Mon-Xyz 07:30-17:00", "Mon-Fri 17:00-07:30", "Mon-Fri 7h-17h"} {
		if _, err := ParseHours(bad); err == nil {
			t.Errorf("ParseHours(%q) accepted", bad)
		}
	}
	if h2 := MustHours("Mon-Fri,Sat 07:30-11:30"); !h2.Days[time.Saturday] || h2.Days[time.Sunday] {
		t.Errorf("days %v", h2.Days)
	}
}

func TestTextsInBothLanguages(t *testing.T) {
	for _, id := range IDs() {
		vi, en := T("vi", id), T("en", id)
		if vi == "" || en == "" || vi == id {
			t.Errorf("%s: %q / %q", id, vi, en)
		}
	}
}
