package lookup

import (
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Status is the tier-0 view of a dossier (domain.md §6.3): what anyone who
// holds the code may see. It has no field for the applicant's name, phone or
// e-mail, the note or the officer, so none can leak through it.
type Status struct {
	Code          string    `json:"code"`
	ProcedureCode string    `json:"procedure_code"`
	ProcedureName string    `json:"procedure_name"`
	Agency        string    `json:"agency"`
	Status        string    `json:"status"`        // the contract's code, e.g. DANG_XU_LY
	StatusNumber  int       `json:"status_number"` // 1-10, domain.md §2.1
	StatusText    string    `json:"status_text"`   // the bot's Vietnamese headline
	Final         bool      `json:"final"`
	ReceivedDate  string    `json:"received_date,omitempty"` // YYYY-MM-DD, Vietnam time
	DueDate       string    `json:"due_date,omitempty"`      // the current appointment date
	FinishedDate  string    `json:"finished_date,omitempty"` // the result's date
	Timing        string    `json:"timing"`                  // none, on_track, overdue, early, on_time
	TimingDays    int       `json:"timing_days,omitempty"`   // days late (overdue) or early
	TimingText    string    `json:"timing_text,omitempty"`   // e.g. "quá hạn 2 ngày"
	StatusAt      time.Time `json:"status_at"`               // when the current status was set
	LookupURL     string    `json:"lookup_url,omitempty"`
}

var timingNames = map[dossier.Timing]string{
	dossier.TimingNone: "none", dossier.TimingOnTrack: "on_track", dossier.TimingOverdue: "overdue",
	dossier.TimingEarly: "early", dossier.TimingOnTime: "on_time",
}

// publicStatus reduces a dossier to its tier-0 view, worded in Vietnamese
// as the bot words it.
func (s *Service) publicStatus(d dossier.Dossier) Status {
	const lang = i18n.Default
	data := i18n.Data{"Code": d.Code, "Due": dmy(d.DueAt), "Finished": dmy(d.FinishedAt)}
	headline := "status_unknown"
	if d.Status.Valid() {
		headline = "status_" + strconv.Itoa(int(d.Status))
	}
	out := Status{
		Code: d.Code, ProcedureCode: d.ProcedureCode, ProcedureName: d.ProcedureName, Agency: d.Agency,
		Status: d.Status.Code(), StatusNumber: int(d.Status), StatusText: s.tr.T(lang, headline, data),
		Final: d.Status.Final(), ReceivedDate: ymd(d.ReceivedAt), DueDate: ymd(d.DueAt), FinishedDate: ymd(d.FinishedAt),
		StatusAt: d.StatusAt.UTC(),
	}
	tm, days := d.Timing(s.now())
	out.Timing = timingNames[tm]
	switch tm {
	case dossier.TimingOverdue:
		out.TimingDays, out.TimingText = days, s.tr.T(lang, "timing_overdue", i18n.Data{"Days": days})
	case dossier.TimingEarly:
		out.TimingDays, out.TimingText = days, s.tr.T(lang, "timing_early", i18n.Data{"Days": days})
	case dossier.TimingOnTime:
		out.TimingText = s.tr.T(lang, "timing_on_time")
	}
	out.TimingText = strings.TrimSuffix(strings.TrimPrefix(out.TimingText, "("), ")")
	return out
}

func ymd(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(vntext.VietnamTime()).Format(time.DateOnly)
}

func dmy(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(vntext.VietnamTime()).Format("02/01/2006")
}
