package ticket

import (
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// texts are the hand-off's message ids, [Vietnamese, English]; {Name}
// fields are filled by T.
var texts = map[string][2]string{
	"opened": {"Đã chuyển yêu cầu của anh/chị đến cán bộ: phiếu {N}{About}. {When} Anh/chị cứ nhắn tiếp tại đây, cán bộ sẽ đọc và trả lời. Gõ KET THUC để kết thúc và quay lại trợ lý tự động.",
		"Your request went to an officer: ticket {N}{About}. {When} Keep writing here; the officer will read and answer. Type KET THUC to end and return to the assistant."},
	"about_dossier":   {" về hồ sơ {Code}", " about dossier {Code}"},
	"about_procedure": {" về thủ tục {Code}", " about procedure {Code}"},
	"when_open":       {"Cán bộ trả lời trong giờ làm việc ({Hours}), thường ngay trong ngày.", "Officers answer during working hours ({Hours}), usually the same day."},
	"when_closed":     {"Hiện ngoài giờ làm việc ({Hours}); cán bộ sẽ trả lời từ {Next}.", "It is outside working hours ({Hours}); an officer will answer from {Next}."},
	"still_open": {"Anh/chị đang có phiếu {N} chờ cán bộ trả lời. Cứ nhắn tiếp tại đây; gõ KET THUC để kết thúc.",
		"You have ticket {N} waiting for an officer. Keep writing here; type KET THUC to end it."},
	"ack":            {"Đã chuyển tin nhắn đến cán bộ (phiếu {N}).", "Passed on to the officer (ticket {N})."},
	"answer":         {"Cán bộ trả lời (phiếu {N}):\n{Text}", "The officer answers (ticket {N}):\n{Text}"},
	"answer_sms":     {"Phieu {N}: {Text}", "Ticket {N}: {Text}"},
	"closed_citizen": {"Đã kết thúc phiếu {N}; trợ lý tự động sẵn sàng trở lại.", "Ticket {N} is closed; the assistant is back."},
	"closed_officer": {"Cán bộ đã đóng phiếu {N}; trợ lý tự động sẵn sàng trở lại.", "The officer closed ticket {N}; the assistant is back."},
	"closed_idle": {"Phiếu {N} đã tự đóng sau {Days} ngày không có trao đổi. Nhắn GAP CAN BO nếu cần hỗ trợ tiếp.",
		"Ticket {N} closed itself after {Days} days without messages. Write GAP CAN BO if you need more help."},
	"satisfaction": {"Anh/chị có hài lòng với sự hỗ trợ? Trả lời 1 Hài lòng, 2 Bình thường, 3 Không hài lòng.",
		"Were you satisfied with the help? Answer 1 satisfied, 2 neutral, 3 not satisfied."},
	"rate_1":   {"Hài lòng", "Satisfied"},
	"rate_2":   {"Bình thường", "Neutral"},
	"rate_3":   {"Không hài lòng", "Not satisfied"},
	"rated":    {"Cảm ơn anh/chị đã đánh giá phiếu {N}.", "Thank you for rating ticket {N}."},
	"reopened": {"Phiếu {N} được mở lại; cán bộ sẽ tiếp tục trao đổi tại đây.", "Ticket {N} is open again; the officer will continue here."},
	"button":   {"Gặp cán bộ", "Talk to a person"},
	"weekday0": {"Chủ nhật", "Sunday"},
	"weekday1": {"thứ Hai", "Monday"},
	"weekday2": {"thứ Ba", "Tuesday"},
	"weekday3": {"thứ Tư", "Wednesday"},
	"weekday4": {"thứ Năm", "Thursday"},
	"weekday5": {"thứ Sáu", "Friday"},
	"weekday6": {"thứ Bảy", "Saturday"},
}

// T renders message id in lang (Vietnamese unless "en") with fields.
func T(lang, id string, fields ...string) string {
	m, ok := texts[id]
	if !ok {
		return id
	}
	s := m[0]
	if lang == "en" {
		s = m[1]
	}
	if len(fields) > 1 {
		pairs := make([]string, 0, len(fields))
		for i := 0; i+1 < len(fields); i += 2 {
			pairs = append(pairs, "{"+fields[i]+"}", fields[i+1])
		}
		s = strings.NewReplacer(pairs...).Replace(s)
	}
	return s
}

// IDs lists the message ids (tests).
func IDs() []string {
	out := make([]string, 0, len(texts))
	for id := range texts {
		out = append(out, id)
	}
	return out
}

// When tells when to expect an answer to a ticket opened at t.
func (h Hours) When(lang string, t time.Time) string {
	if h.Within(t) {
		return T(lang, "when_open", "Hours", h.Label(lang))
	}
	next := h.NextOpen(t).In(vntext.VietnamTime())
	day := T(lang, "weekday"+itoa(int64(next.Weekday())))
	s := next.Format("15:04") + " " + day + " " + next.Format("02/01")
	if lang == "en" {
		s = next.Format("15:04") + " on " + day + " " + next.Format("02/01")
	}
	return T(lang, "when_closed", "Hours", h.Label(lang), "Next", s)
}

// Label renders the hours for citizens: "thứ Hai-thứ Sáu 07:30-17:00".
func (h Hours) Label(lang string) string {
	var days []string
	for d := 1; d <= 7; d++ {
		if h.Days[d%7] {
			days = append(days, T(lang, "weekday"+itoa(int64(d%7))))
		}
	}
	switch {
	case len(days) == 0:
		return h.Clock()
	case len(days) > 2 && contiguous(h.Days):
		return days[0] + "-" + days[len(days)-1] + " " + h.Clock()
	}
	return strings.Join(days, ", ") + " " + h.Clock()
}

// contiguous: the working days Monday-first form one run.
func contiguous(d [7]bool) bool {
	runs, prev := 0, false
	for i := 1; i <= 7; i++ {
		cur := d[i%7]
		if cur && !prev {
			runs++
		}
		prev = cur
	}
	return runs == 1
}
