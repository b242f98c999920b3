package citizen_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// press sends a button's value as the web chat does.
func (h *harness) press(u user, c message.Choice) message.Reply {
	h.t.Helper()
	h.now = h.now.Add(7 * time.Second)
	return h.bot.Handle(context.Background(), message.Inbound{Channel: u.channel, UserID: u.id, Text: c.Value, Choice: true, Time: h.now}, u.caps)
}

// procCode is the procedure code a result button carries.
func procCode(t *testing.T, c message.Choice) string {
	t.Helper()
	code, ok := strings.CutPrefix(c.Value, "TIM ")
	if !ok || len(code) != 8 || code[1] != '.' {
		t.Fatalf("button %q carries %q, not TIM <procedure code>", c.Label, c.Value)
	}
	return code
}

// detailTitle is how the details of a result button begin.
func detailTitle(t *testing.T, c message.Choice) string {
	t.Helper()
	_, name, _ := strings.Cut(c.Label, ". ")
	return strings.TrimSuffix(name, "…") // a long name is shortened on its button
}

// The finding: search A, search B, then tap result 1 of A. Buttons carry
// the procedure code, so an old button shows what its label says (the
// ranking is the search's business: the test reads the buttons it got).
func TestOldButtonsDoWhatTheirLabelSays(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	first := h.say(web, "cap lai can cuoc")
	if len(first.Choices) != 4 || !strings.HasPrefix(first.Choices[0].Label, "1. ") ||
		first.Choices[3].Label != "Kết quả tiếp theo" || first.Choices[3].Value != "TIEP 1" {
		t.Fatalf("first list: %+v", first.Choices)
	}
	second := h.say(web, "dang ky ket hon")
	if len(second.Choices) != 4 || procCode(t, second.Choices[0]) == procCode(t, first.Choices[0]) {
		t.Fatalf("second list: %q %+v", second.Text, second.Choices)
	}
	for _, tc := range []struct {
		name   string
		choice message.Choice
		want   string
	}{
		{"result 1 of the first list", first.Choices[0], detailTitle(t, first.Choices[0]) + " (mã " + procCode(t, first.Choices[0]) + ")"},
		{"result 3 of the first list", first.Choices[2], detailTitle(t, first.Choices[2]) + " (mã " + procCode(t, first.Choices[2]) + ")"},
		{"result 1 of the second list", second.Choices[0], detailTitle(t, second.Choices[0]) + " (mã " + procCode(t, second.Choices[0]) + ")"},
		{"next results of the first list", first.Choices[3], "Kết quả tiếp theo:\n1. "},
	} {
		r := h.press(web, tc.choice)
		if !strings.Contains(r.Text, tc.want) {
			t.Errorf("%s (%q): reply lacks %q:\n%s", tc.name, tc.choice.Value, tc.want, r.Text)
		}
	}
	// The next results of the first list are of the first query: no marriage.
	next := h.press(web, first.Choices[3])
	if strings.Contains(next.Text, "kết hôn") || strings.Contains(next.Text, "Không tìm thấy") {
		t.Fatalf("the first list's next results:\n%s", next.Text)
	}
}

// After a procedure's details the buttons are labelled: no bare 1 | 2 | 3.
func TestDetailsButtonsAreLabelled(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	list := h.say(web, "dang ky khai sinh")
	r := h.say(web, "2")
	if !strings.Contains(r.Text, detailTitle(t, list.Choices[1])+" (mã "+procCode(t, list.Choices[1])+")") {
		t.Fatalf("typed 2 showed:\n%s", r.Text)
	}
	want := []message.Choice{list.Choices[0], list.Choices[2], {Label: "Kết quả tiếp theo", Value: "TIEP 1"}}
	if len(r.Choices) != len(want) {
		t.Fatalf("details buttons %+v, want %+v", r.Choices, want)
	}
	for i := range want {
		if r.Choices[i] != want[i] {
			t.Fatalf("details button %d = %+v, want %+v", i, r.Choices[i], want[i])
		}
	}
}

// A fee the portal lists twice, and a time limit without its unit, do not
// reach citizens as such.
func TestDetailsSourceTextCleaned(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	runScript(t, h, []step{
		{web, "TIM 1.000894", []string{"Thủ tục đăng ký kết hôn (mã 1.000894)\nPhí, lệ phí: Miễn phí (Miễn lệ phí. Phí cấp bản sao Trích lục kết hôn (nếu có yêu cầu) thực hiện theo quy định tại Thông tư số 281/2016/TT-BTC ngày 14/11/2016 của Bộ Tài chính.)\nThời hạn giải quyết: chưa công bố rõ; vui lòng hỏi nơi nộp hồ sơ\n"},
			[]string{"Miễn phí ( (", "không ghi đơn vị"}, nil},
	})
}

// A typed number refers to the newest list while it lives, and says so
// when there is none; a stale "next results" says the list expired.
func TestTypedNumbers(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	runScript(t, h, []step{
		{web, "1", []string{"Hiện không có danh sách nào để chọn theo số", "Cách dùng:"}, []string{"Thủ tục phù hợp", "Không tìm thấy thủ tục"}, []string{"Ví dụ", "Gặp cán bộ", "English"}},
		{web, "12345", []string{"Hiện không có danh sách nào"}, []string{"Thủ tục phù hợp", "Không tìm thấy thủ tục"}, nil},
		{web, "số 2", []string{"Hiện không có danh sách nào"}, nil, nil},
		{web, "cap lai can cuoc", []string{"Thủ tục phù hợp với \"cap lai can cuoc\":\n1. "}, nil, nil},
		{web, "dang ky ket hon", []string{"Thủ tục phù hợp với \"dang ky ket hon\":\n1. "}, nil, nil},
		{web, "1", []string{"kết hôn", "(mã "}, []string{"Cấp lại thẻ căn cước ("}, nil}, // the list on screen: the newest
		{web, "12", []string{"Vui lòng chọn từ 1 đến 3"}, nil, nil},
		{web, "TIEP 99", []string{"Danh sách kết quả đó đã hết hạn"}, nil, nil},
		{applicnt, "2", []string{"Hien khong co danh sach nao"}, nil, nil},
	})
	h.now = h.now.Add(31 * time.Minute)
	runScript(t, h, []step{
		{web, "1", []string{"Hiện không có danh sách nào", "30 phút"}, []string{"kết hôn"}, nil},
		{web, "TIEP 1", []string{"Danh sách kết quả đó đã hết hạn"}, nil, nil},
	})
}

// A dossier code anywhere in a message is a look-up, with the parser's
// tolerance; words with numbers that are no code stay a search.
func TestCodeInASentence(t *testing.T) {
	h := newHarness(t, storetest.SQLite(t))
	for _, tc := range []struct {
		text    string
		want    string
		notWant string
	}{
		{"xem giup ho so " + codeOpen, "Hồ sơ " + codeOpen + "\nĐăng ký tạm trú", "Thủ tục phù hợp"},
		{"cho hỏi hồ sơ 000 00 20 h17 261102 0004 thế nào rồi", "Hồ sơ " + codeOpen, "Thủ tục phù hợp"},
		{"hồ sơ số 000.00.20.H17–261102–0005 đã xong chưa ạ", "Hồ sơ " + codeLate, "Thủ tục phù hợp"},
		{"ma ho so cua toi la 000.00.20.H17-261102-0999", "Không tìm thấy hồ sơ 000.00.20.H17-261102-0999", "Thủ tục phù hợp"},
		{"kiem tra giup 000.00.20.H17-261302-0001", "không phải ngày hợp lệ", "Thủ tục phù hợp"},
		{"xem ho so https://hcc.thanhhoa.gov.vn/portaldvc/KenhTin/tra-cuu.aspx?mahs=" + codeOpen, "Hồ sơ " + codeOpen, "Thủ tục phù hợp"},
		{"dang ky ket hon 2024", "Thủ tục phù hợp", "Hồ sơ 0"},
		{"cap lai can cuoc cho con 14 tuoi", "Thủ tục phù hợp", "Hồ sơ 0"},
	} {
		r := h.say(web, tc.text)
		if !strings.Contains(r.Text, tc.want) || strings.Contains(r.Text, tc.notWant) {
			t.Errorf("%q: want %q and not %q, got:\n%s", tc.text, tc.want, tc.notWant, r.Text)
		}
	}
}

// Criteria buttons name the dossier and the criterion: pressed late, one
// still rates what its question asked.
func TestOldCriteriaButtons(t *testing.T) {
	db := storetest.SQLite(t)
	h := newHarness(t, db)
	h.say(web, "DG "+codeExample+" 1")
	offer := h.say(web, "3456")
	if len(offer.Choices) != 2 || offer.Choices[0].Value != "TC "+codeExample || offer.Choices[1].Value != "TC "+codeExample+" x" {
		t.Fatalf("offer %q %+v", offer.Text, offer.Choices)
	}
	first := h.press(web, offer.Choices[0])
	if !strings.Contains(first.Text, "Tiêu chí 1/9") || len(first.Choices) != 5 ||
		first.Choices[1].Label != "Hài lòng" || first.Choices[1].Value != "TC "+codeExample+" a 2" {
		t.Fatalf("criterion 1: %q %+v", first.Text, first.Choices)
	}
	runScript(t, h, []step{
		{web, "Bỏ qua", []string{"Tiêu chí 2/9"}, nil, nil},
		{web, "Bỏ qua", []string{"Tiêu chí 3/9"}, nil, nil},
		{web, "DVC " + codeOpen, []string{"Hồ sơ " + codeOpen}, nil, nil}, // the dialog moves on
	})
	for _, tc := range []struct {
		choice message.Choice
		want   string
	}{
		{first.Choices[1], "Tiêu chí 2/9"},                     // "Hài lòng" on criterion 1
		{offer.Choices[1], "Cảm ơn bạn đã đánh giá!"},          // "Không" to the offer
		{first.Choices[4], "Cảm ơn bạn đã đánh giá chi tiết!"}, // "Dừng"
	} {
		if r := h.press(web, tc.choice); !strings.Contains(r.Text, tc.want) {
			t.Errorf("%q: %q, want %q", tc.choice.Value, r.Text, tc.want)
		}
	}
	r, err := db.Ratings().Rating(context.Background(), codeExample)
	if err != nil || len(r.Criteria) != 1 || r.Criteria["a"] != "hai_long" {
		t.Fatalf("criteria after the old button: %+v, %v", r.Criteria, err)
	}
	// Another browser, not verified, cannot use the buttons.
	if r := h.press(web2, first.Choices[0]); !strings.Contains(r.Text, "chỉ người nộp hồ sơ mới được đánh giá") {
		t.Fatalf("a stranger pressing a criteria button: %q", r.Text)
	}
}
