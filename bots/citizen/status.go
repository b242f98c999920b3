package citizen

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// codeInText answers a message holding a dossier code anywhere ("xem giup
// ho so 000.00.20.H17-261102-0004"): the code is read from the first word
// where one starts, with the parser's usual tolerance for spaces, dots and
// dashes.
func (b *Bot) codeInText(tn *turn, text string) (message.Reply, bool) {
	cleaned := vntext.CleanCodeText(text)
	words := strings.Fields(cleaned)
	for i := range words {
		if !mayStartCode(words[i]) {
			continue
		}
		from := strings.Join(words[i:], " ")
		codes := vntext.ParseCodes(from, tn.now)
		if len(codes) == 0 {
			continue
		}
		switch codes[0].Kind {
		case vntext.CodeNational:
			return b.status(tn, from, false), true
		case vntext.CodeMalformed:
			// Only when it clearly starts like a national code (000.00.20…
			// or H17…): "dang ky 2024" is a search.
			if classicStart.MatchString(from) || i == 0 && modernStart.MatchString(from) {
				return b.status(tn, from, false), true
			}
		}
	}
	return message.Reply{}, false
}

var (
	classicStart = regexp.MustCompile(`^[0-9]{3}[. ][0-9]{2}[. ][0-9]{2}[. ][A-Z][0-9]{2}`)
	modernStart  = regexp.MustCompile(`^[A-Z][0-9]{2}[.-]`)
)

// mayStartCode: a national code starts with digits (000.00.20.H17…) or an
// agency letter and two digits (H17…).
func mayStartCode(w string) bool {
	return len(w) >= 3 && (w[0] >= '0' && w[0] <= '9' || isLetter(w[0]) && w[1] >= '0' && w[1] <= '9' && w[2] >= '0' && w[2] <= '9')
}

// status answers DVC <code> (up to three codes).
func (b *Bot) status(tn *turn, arg string, keyword bool) message.Reply {
	cleaned := strings.TrimLeft(vntext.CleanCodeText(arg), " :#.-")
	if strings.HasPrefix(cleaned, "DVC") { // "DVC000.00…" glued to the keyword
		cleaned = strings.TrimLeft(cleaned[3:], " :#.-")
	}
	codes := vntext.ParseCodes(cleaned, tn.now)
	if len(codes) == 0 {
		return message.Reply{Text: b.t(tn, "status_usage")}
	}
	var parts []string
	var choices []message.Choice
	for _, c := range codes {
		r := b.statusOne(tn, c)
		parts = append(parts, r.Text)
		choices = append(choices, r.Choices...)
	}
	out := message.Reply{Text: strings.Join(parts, "\n\n")}
	if tn.caps.Buttons && len(codes) == 1 {
		out.Choices = choices
	}
	return out
}

func (b *Bot) statusOne(tn *turn, c vntext.Code) message.Reply {
	switch c.Kind {
	case vntext.CodeProcedure:
		r := message.Reply{Text: b.t(tn, "code_is_procedure", i18n.Data{"Code": c.Value})}
		if tn.caps.Buttons {
			r.Choices = []message.Choice{{Label: b.t(tn, "btn_view_procedure", i18n.Data{"Code": c.Value}), Value: "TIM " + c.Value}}
		}
		return r
	case vntext.CodeLocal:
		return message.Reply{Text: b.t(tn, "code_local", i18n.Data{"Code": c.Value})}
	case vntext.CodeMalformed:
		return message.Reply{Text: b.t(tn, "code_malformed_"+string(c.Problem))}
	case vntext.CodeNone:
		return message.Reply{Text: b.t(tn, "status_usage")}
	}
	d, err := b.dossiers.Dossier(tn.ctx, c.Value)
	if errors.Is(err, dossier.ErrNotFound) {
		b.recordLookup(tn, c.Value, -1)
		if c.ShortSeq {
			return message.Reply{Text: b.t(tn, "code_short_seq", i18n.Data{"Code": c.Value})}
		}
		return message.Reply{Text: b.t(tn, "status_not_found", i18n.Data{"Code": c.Value})}
	}
	if err != nil {
		b.log.Error("looking up dossier", "code", c.Value, "error", err)
		return b.failure(tn)
	}
	tn.st.Dossier = d.Code
	return b.statusReply(tn, d)
}

// nextSteps maps a status to what the citizen does next.
var nextSteps = map[dossier.Status]string{
	dossier.MoiDangKy: "next_1", dossier.DaTiepNhan: "next_2", dossier.KhongTiepNhan: "next_3",
	dossier.DangXuLy: "next_4", dossier.ChoBoSung: "next_5", dossier.ChoNghiaVuTaiChinh: "next_6",
	dossier.DaRut: "next_7", dossier.DungXuLy: "next_8", dossier.DaXuLyXong: "next_9", dossier.DaTraKetQua: "next_10",
}

// nextStep is the advice for a dossier at now. Waiting for the appointment
// is advice only while the appointment is ahead: past it, the citizen is
// told the dossier is late and whom to ask; without a date, not to wait for
// one.
func nextStep(d dossier.Dossier, now time.Time) string {
	if d.Status == dossier.DaTiepNhan || d.Status == dossier.DangXuLy {
		switch tm, _ := d.Timing(now); tm {
		case dossier.TimingOverdue:
			return "next_overdue"
		case dossier.TimingNone:
			return "next_no_due"
		}
	}
	return nextSteps[d.Status]
}

// applicant: the dossier's own phone number, or (off SMS) a user who
// proved the phone's last digits in this session.
func (b *Bot) applicant(tn *turn, d dossier.Dossier) bool {
	if d.IsApplicant(tn.in.Phone) {
		return true
	}
	return !tn.phoneOnly() && tn.isVerified(d.Code)
}

func (b *Bot) statusReply(tn *turn, d dossier.Dossier) message.Reply {
	// The full name and the note go only to the applicant, and never across
	// the border (Telegram): there the masked view is all anyone gets.
	isApplicant := b.applicant(tn, d) && !tn.caps.NoPersonalData
	tier := 0
	if isApplicant {
		tier = 1
	}
	b.recordLookup(tn, d.Code, tier)
	data := i18n.Data{
		"Code": d.Code, "Procedure": d.ProcedureName, "Agency": d.Agency,
		"Due": fmtDate(d.DueAt), "Received": fmtDate(d.ReceivedAt), "Finished": fmtDate(d.FinishedAt),
	}
	parts := map[string]string{"title": b.t(tn, "status_title", data), "procedure": b.t(tn, "status_procedure", data)}
	if d.ApplicantName != "" {
		name := dossier.MaskName(d.ApplicantName)
		if isApplicant {
			name = d.ApplicantName
		}
		parts["applicant"] = b.t(tn, "status_applicant", i18n.Data{"Name": name})
	}
	headlineID := "status_unknown"
	if d.Status.Valid() {
		headlineID = "status_" + strconv.Itoa(int(d.Status))
	} else {
		b.log.Warn("dossier in an unknown status", "code", d.Code, "status", int(d.Status))
	}
	headline := b.t(tn, headlineID, data)
	switch tm, days := d.Timing(tn.now); tm {
	case dossier.TimingOverdue:
		headline += " " + b.t(tn, "timing_overdue", i18n.Data{"Days": days})
	case dossier.TimingEarly:
		headline += " " + b.t(tn, "timing_early", i18n.Data{"Days": days})
	case dossier.TimingOnTime:
		headline += " " + b.t(tn, "timing_on_time")
	}
	parts["status"] = b.t(tn, "status_line", i18n.Data{"Status": headline})
	if d.ReceivedAt != nil {
		parts["received"] = b.t(tn, "status_received", data)
	}
	if d.Note != "" && isApplicant {
		parts["note"] = b.t(tn, "status_note", i18n.Data{"Note": d.Note})
	}
	if id := nextStep(d, tn.now); id != "" {
		parts["next"] = b.t(tn, "status_next", i18n.Data{"Next": b.t(tn, id, data)})
	}
	r := message.Reply{}
	if !isApplicant && d.Note != "" && !tn.phoneOnly() && !tn.caps.NoPersonalData {
		parts["verify"] = b.t(tn, "status_verify_hint")
		if tn.caps.Buttons {
			r.Choices = append(r.Choices, message.Choice{Label: b.t(tn, "btn_i_am_applicant"), Value: "XACMINH " + d.Code})
		}
	}
	// Invite a rating once there is a result (a rating may be changed for
	// seven days, so the invitation stands even after a first one).
	if d.Status.HasResult() {
		if tn.caps.Buttons {
			parts["invite"] = b.t(tn, "rate_invite")
			r.Choices = append(r.Choices, b.levelChoices(tn, d.Code)...)
		} else {
			parts["invite"] = b.t(tn, "rate_invite_plain", data)
		}
	}
	// An SMS is cut at its budget: the most useful lines go first there.
	order := []string{"title", "procedure", "applicant", "status", "received", "note", "next", "verify", "invite"}
	if tn.caps.Plain {
		order = []string{"title", "status", "procedure", "applicant", "note", "invite", "next", "received"}
	}
	var lines []string
	for _, k := range order {
		if v, ok := parts[k]; ok {
			lines = append(lines, v)
		}
	}
	r.Text = strings.Join(lines, "\n")
	return r
}

func (b *Bot) levelChoices(tn *turn, code string) []message.Choice {
	var out []message.Choice
	for _, l := range rating.Levels() {
		out = append(out, message.Choice{Label: b.t(tn, "level_"+string(l)), Value: "DG " + code + " " + strconv.Itoa(l.Number())})
	}
	return out
}
