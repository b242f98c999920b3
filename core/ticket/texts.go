package ticket

import (
	"fmt"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// texts are the hand-off's message ids, [Vietnamese, English]; {Name}
// fields are filled by T.
// ids are the hand-off's message ids; the texts are in core/i18n's
// message files under "handoff_<id>", like every text a citizen sees.
var ids = []string{"opened", "about_dossier", "about_procedure", "when_open", "when_closed", "still_open", "ack", "answer", "answer_sms", "closed_citizen", "closed_officer", "closed_idle", "satisfaction", "rate_1", "rate_2", "rate_3", "rated", "reopened", "button", "weekday0", "weekday1", "weekday2", "weekday3", "weekday4", "weekday5", "weekday6"}

// catalog is read once from the embedded message files; it never changes.
var catalog = mustCatalog()

func mustCatalog() *i18n.Catalog {
	c, err := i18n.New()
	if err != nil {
		panic(fmt.Sprintf("ticket: the embedded message files: %v", err))
	}
	return c
}

// T renders message id in lang (Vietnamese unless "en") with fields given
// as name, value pairs.
func T(lang, id string, fields ...string) string {
	data := i18n.Data{}
	for i := 0; i+1 < len(fields); i += 2 {
		data[fields[i]] = fields[i+1]
	}
	if lang != "en" {
		lang = i18n.Default
	}
	return catalog.T(lang, "handoff_"+id, data)
}

// IDs lists the message ids (tests).
func IDs() []string { return append([]string(nil), ids...) }

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
