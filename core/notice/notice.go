// Package notice is the policy of proactive notices to citizens (issue 12):
// which dossier statuses notify (DVCBOT_NOTIFY_STATUSES), what a notice
// says on each channel (i18n texts in the recipient's language — the one
// the citizen chose in the dialog on the chosen channel, else the
// deployment's; SMS accent-free within its segment budget; tier-1 data of
// domain.md §6.3 only, tier 0 on Telegram), who gets
// it where (the last channel the citizen used; Zalo inside the interaction
// window as an OA message, outside as a ZNS template; SMS to the dossier's
// phone otherwise), quiet hours (DVCBOT_QUIET_HOURS in Asia/Ho_Chi_Minh) and
// the dedupe key that makes every notice leave once.
//
// The policy is pure: the store calls Plan inside the transaction of the
// dossier events (so a notice is queued exactly when its event is stored)
// and writes the result to the outbox; Guard (guard.go) runs at send time
// for coalescing, opt-outs, quiet hours, pacing and the SMS fallback.
package notice

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Notice kinds (DVCBOT_ZNS_TEMPLATES keys).
const (
	Submitted  = "submitted"  // 1
	Received   = "received"   // 2, with the appointment date
	Refused    = "refused"    // 3
	Processing = "processing" // 4
	Supplement = "supplement" // 5
	Fee        = "fee"        // 6
	Withdrawn  = "withdrawn"  // 7
	Stopped    = "stopped"    // 8
	Ready      = "ready"      // 9; says "trước hạn n ngày" when early
	Returned   = "returned"   // 10, followed by Rating
	Rating     = "rating"     // the invitation to rate: DG <mã>
	Overdue    = "overdue"    // the daily job's apology, one per appointment date
)

var statusKinds = map[dossier.Status]string{
	dossier.MoiDangKy: Submitted, dossier.DaTiepNhan: Received, dossier.KhongTiepNhan: Refused,
	dossier.DangXuLy: Processing, dossier.ChoBoSung: Supplement, dossier.ChoNghiaVuTaiChinh: Fee,
	dossier.DaRut: Withdrawn, dossier.DungXuLy: Stopped, dossier.DaXuLyXong: Ready, dossier.DaTraKetQua: Returned,
}

// KindOf is the notice kind of a status.
func KindOf(s dossier.Status) string { return statusKinds[s] }

// Kinds lists every kind (templates, stats).
func Kinds() []string {
	return []string{Submitted, Received, Refused, Processing, Supplement, Fee, Withdrawn, Stopped, Ready, Returned, Rating, Overdue}
}

// ZNS is the outbox kind of Zalo template messages (channels/zalo/zns.go).
const ZNS = "zns"

// Channel is the name the notices API shows for an outbox kind.
func Channel(outboxKind string) string {
	if outboxKind == notify.WebChat {
		return "web"
	}
	return outboxKind
}

// Quiet reports whether a channel keeps the quiet hours (SMS and Zalo).
func Quiet(outboxKind string) bool {
	return outboxKind == notify.SMS || outboxKind == notify.Zalo || outboxKind == ZNS
}

// DefaultStatuses is the default of DVCBOT_NOTIFY_STATUSES.
const DefaultStatuses = "2,3,5,6,8,9,10,overdue"

// DefaultQuietHours is the default of DVCBOT_QUIET_HOURS.
const DefaultQuietHours = "21:00-07:00"

// DefaultZaloWindow is how long after a Zalo user's last message the OA may
// write to them freely (zalo-oa.md §3.7: free for 48 h).
const DefaultZaloWindow = 48 * time.Hour

// Statuses is the set of what notifies.
type Statuses struct {
	status  map[dossier.Status]bool
	Overdue bool
}

// Has reports whether a status notifies.
func (s Statuses) Has(st dossier.Status) bool { return s.status[st] }

// ParseStatuses reads "2,3,5,6,8,9,10,overdue" (numbers or contract codes).
func ParseStatuses(v string) (Statuses, error) {
	out := Statuses{status: map[dossier.Status]bool{}}
	for _, item := range strings.Split(v, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case strings.EqualFold(item, Overdue):
			out.Overdue = true
		default:
			st, err := dossier.ParseStatusCode(item)
			if err != nil {
				return Statuses{}, fmt.Errorf("%q is neither a status 1-10 nor overdue", item)
			}
			out.status[st] = true
		}
	}
	return out, nil
}

// ParseTemplates reads DVCBOT_ZNS_TEMPLATES: "ready=231677,supplement=231678".
func ParseTemplates(v string) (map[string]string, error) {
	out := map[string]string{}
	known := map[string]bool{}
	for _, k := range Kinds() {
		known[k] = true
	}
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item == "" {
			continue
		}
		k, id, ok := strings.Cut(item, "=")
		k, id = strings.TrimSpace(k), strings.TrimSpace(id)
		if !ok || id == "" {
			return nil, fmt.Errorf("%q must be kind=template_id", item)
		}
		if !known[k] {
			return nil, fmt.Errorf("%q: unknown kind %q (kinds: %s)", item, k, strings.Join(Kinds(), ", "))
		}
		if _, err := strconv.ParseUint(id, 10, 64); err != nil {
			return nil, fmt.Errorf("%q: the template id must be a number", item)
		}
		out[k] = id
	}
	return out, nil
}

// Window is a daily window of local (Asia/Ho_Chi_Minh) time, start
// inclusive, end exclusive, which may cross midnight. The zero value is no
// window.
type Window struct {
	start, end int // seconds after local midnight
	set        bool
}

// ParseWindow reads "HH:MM-HH:MM"; "" or "off" is no window.
func ParseWindow(v string) (Window, error) {
	v = strings.TrimSpace(v)
	if v == "" || strings.EqualFold(v, "off") {
		return Window{}, nil
	}
	a, b, ok := strings.Cut(v, "-")
	if !ok {
		return Window{}, errors.New("must be HH:MM-HH:MM, e.g. 21:00-07:00, or off")
	}
	start, err1 := clock(a)
	end, err2 := clock(b)
	if err1 != nil || err2 != nil {
		return Window{}, errors.New("must be HH:MM-HH:MM with hours 00-23 and minutes 00-59, e.g. 21:00-07:00, or off")
	}
	if start == end {
		return Window{}, errors.New("start and end are equal: use off for no quiet hours")
	}
	return Window{start: start, end: end, set: true}, nil
}

func clock(s string) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 23 || mm < 0 || mm > 59 {
		return 0, errors.New("bad clock time")
	}
	return hh*3600 + mm*60, nil
}

func (w Window) String() string {
	if !w.set {
		return "off"
	}
	f := func(s int) string { return fmt.Sprintf("%02d:%02d", s/3600, s/60%60) }
	return f(w.start) + "-" + f(w.end)
}

// Contains reports whether t falls inside the window, read in Vietnam's time
// whatever the server's zone.
func (w Window) Contains(t time.Time) bool {
	if !w.set {
		return false
	}
	l := t.In(vntext.VietnamTime())
	s := l.Hour()*3600 + l.Minute()*60 + l.Second()
	if w.start < w.end {
		return s >= w.start && s < w.end
	}
	return s >= w.start || s < w.end
}

// Release is when something due at t may leave: t itself outside the
// window, the window's end inside it.
func (w Window) Release(t time.Time) time.Time {
	if !w.Contains(t) {
		return t
	}
	l := t.In(vntext.VietnamTime())
	midnight := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, l.Location())
	end := midnight.Add(time.Duration(w.end) * time.Second)
	if !end.After(t) {
		end = end.AddDate(0, 0, 1)
	}
	return end.UTC()
}

// Config is the policy's settings.
type Config struct {
	Statuses   Statuses
	Quiet      Window
	Templates  map[string]string // kind → ZNS template id
	ZaloWindow time.Duration
	// SMSSegments is the SMS budget of a notice (2).
	SMSSegments int
	// Lang is the deployment's language (i18n.Default unless set): the
	// language of a notice whose recipient never chose one in the dialog,
	// and of ZNS template parameters.
	Lang string
}

// Policy turns dossier events into notices.
type Policy struct {
	cfg Config
	tr  *i18n.Catalog
}

// New returns the policy.
func New(cfg Config, tr *i18n.Catalog) *Policy {
	if cfg.ZaloWindow <= 0 {
		cfg.ZaloWindow = DefaultZaloWindow
	}
	if cfg.SMSSegments <= 0 {
		cfg.SMSSegments = 2
	}
	if cfg.Lang == "" {
		cfg.Lang = i18n.Default
	}
	if cfg.Statuses.status == nil {
		cfg.Statuses, _ = ParseStatuses(DefaultStatuses)
	}
	return &Policy{cfg: cfg, tr: tr}
}

// Config returns the settings.
func (p *Policy) Config() Config { return p.cfg }

// Notifies reports whether an accepted event of status s is worth a notice.
func (p *Policy) Notifies(s dossier.Status) bool { return p.cfg.Statuses.Has(s) && KindOf(s) != "" }

// Identity is a citizen's address on a chat channel that may receive the
// dossier's notices: the applicant's phone on SMS, or an identity that
// proved it is the applicant (or subscribed with THEO DOI).
type Identity struct {
	Channel string // message.SMS, message.Zalo, message.Telegram, message.WebChat
	UserID  string // the phone on SMS, the user or chat id elsewhere
	Phone   string // a phone the identity shared (Zalo user_submit_info), for ZNS
	// LastSeen is the identity's last inbound message (zero: never).
	LastSeen time.Time
	// Lang is the language the identity chose in the dialog (its session's
	// lang: EN/VI, the web chat's ?lang=en); "" when it chose none, and
	// the notice is then written in Config.Lang.
	Lang string
}

// Subject is what one notice is about.
type Subject struct {
	Dossier dossier.Dossier // the state the event describes
	Email   string          // dossier.applicant_email of the event, if any
	Kind    string
	EventAt time.Time // occurred_at of the event (coalescing order)
}

// Notice is one queued message with what the guard needs at send time.
type Notice struct {
	DossierCode string
	Kind        string
	Status      int
	DueDate     string // appointment date, YYYY-MM-DD in Vietnam's time, or ""
	OutboxKind  string // sms, zalo, zns, telegram, webchat, email
	Recipient   string
	// Identity is "channel:user" of the citizen it was meant for (whose
	// opt-out the guard checks at send time).
	Identity  string
	Payload   notify.Payload
	DedupeKey string
	EventAt   time.Time
	// HeldUntil is the end of the quiet hours the notice waits for (zero:
	// it may leave at once).
	HeldUntil time.Time
	// After delays a notice that must follow another (the rating
	// invitation follows the returned notice by RatingDelay).
	After time.Duration
	// FallbackPhone and FallbackText are the SMS a permanent failure of a
	// rich channel falls back to (once).
	FallbackPhone, FallbackText string
	// Lang is the language the notice is written in (the recipient's).
	// Texts are rendered when the notice is queued, not when it leaves:
	// see Plan.
	Lang string
}

// RatingDelay is how long after the returned notice the rating invitation
// leaves (workers may send a claimed batch in any order).
const RatingDelay = time.Minute

// DedupePrefix starts the outbox dedupe key of every notice.
const DedupePrefix = "notice|"

// DedupeKey is (dossier, status, appointment date, recipient, kind).
func DedupeKey(code string, status int, due, outboxKind, recipient, kind string) string {
	return DedupePrefix + code + "|" + strconv.Itoa(status) + "|" + due + "|" + outboxKind + ":" + recipient + "|" + kind
}

// dueDate is the appointment date in Vietnam's time.
func dueDate(d dossier.Dossier) (key, shown string) {
	if d.DueAt == nil {
		return "", ""
	}
	l := d.DueAt.In(vntext.VietnamTime())
	return l.Format("2006-01-02"), l.Format("02/01/2006")
}

// Plan returns the notices of one subject: one to the citizen on the
// preferred channel (the identity used last; the dossier's phone by SMS
// when none was used), one e-mail when the event carries an address, and
// for a returned dossier the rating invitation. ids lists the identities
// allowed to receive it (opted-out ones already removed), each with the
// language it chose; smsPhone is the dossier's phone unless it opted out
// ("" then), and when its own session chose a language ids holds it as an
// SMS identity.
//
// Every notice is written in the language of the identity chosen for the
// chat notice (Config.Lang when it chose none): the SMS that replaces a
// rich notice, and the e-mail to the applicant, too, since the identity
// proved it is the applicant (without a chat recipient the e-mail is in
// Config.Lang).
//
// The texts are rendered here, when the notice is queued in the
// transaction of its event, not when it leaves: the outbox row holds the
// exact message (what the notices API and operators see is what is sent),
// the rendering needs the dossier as that event described it (procedure,
// agency, the officers' note, the timing), which the sender no longer has,
// and the guard stays a cheap check with no session read per send. A
// citizen who switches language while a notice waits (at most the quiet
// hours, or the rating delay) gets that one in the language they had when
// it was queued, and the next ones in the new language.
func (p *Policy) Plan(s Subject, ids []Identity, smsPhone string, now time.Time) []Notice {
	kinds := []string{s.Kind}
	if s.Kind == Returned {
		kinds = append(kinds, Rating)
	}
	var out []Notice
	for _, kind := range kinds {
		lang := p.cfg.Lang
		if n, ok := p.chat(s, kind, ids, smsPhone, now); ok {
			out = append(out, n)
			lang = n.Lang
		}
		if s.Email != "" {
			out = append(out, p.email(s, kind, now, lang))
		}
	}
	return out
}

// Lang is the language a notice to an identity that chose lang is written
// in: lang when the bot speaks it, else the deployment's.
func (p *Policy) Lang(lang string) string {
	if i18n.Supported(lang) {
		return lang
	}
	return p.cfg.Lang
}

// chat picks the channel of the citizen's notice: the identity that wrote
// last; the dossier's phone (SMS) when none wrote later than it. The
// notice is in that identity's language.
func (p *Policy) chat(s Subject, kind string, ids []Identity, smsPhone string, now time.Time) (Notice, bool) {
	cands := append([]Identity(nil), ids...)
	if smsPhone != "" {
		found := false
		for _, id := range cands {
			found = found || (id.Channel == message.SMS && id.UserID == smsPhone)
		}
		if !found {
			cands = append(cands, Identity{Channel: message.SMS, UserID: smsPhone})
		}
	}
	if len(cands) == 0 {
		return Notice{}, false
	}
	best := cands[0]
	for _, c := range cands[1:] {
		if c.LastSeen.After(best.LastSeen) || (c.LastSeen.Equal(best.LastSeen) && c.Channel == message.SMS && c.UserID == smsPhone) {
			best = c
		}
	}
	lang := p.Lang(best.Lang)
	n := p.base(s, kind)
	n.Lang = lang
	n.FallbackPhone = smsPhone
	n.FallbackText = p.smsText(s, kind, now, lang)
	switch best.Channel {
	case message.SMS:
		n.OutboxKind, n.Recipient = notify.SMS, best.UserID
		n.Payload = notify.Payload{Text: n.FallbackText}
		n.FallbackPhone, n.FallbackText = "", ""
	case message.Zalo:
		phone := best.Phone
		if phone == "" {
			phone = smsPhone
		}
		tpl := p.cfg.Templates[kind]
		switch {
		case !best.LastSeen.IsZero() && now.Sub(best.LastSeen) <= p.cfg.ZaloWindow:
			n.OutboxKind, n.Recipient = notify.Zalo, best.UserID
			n.Payload = notify.Payload{Text: p.richText(s, kind, now, false, lang)}
		case tpl != "" && phone != "":
			// A ZNS template is registered with Zalo in one language (the
			// deployment's) and its parameters fill that text: it stays in
			// Config.Lang whatever the citizen chose; its SMS fallback
			// follows the citizen's language.
			n.OutboxKind, n.Recipient = ZNS, phone
			n.Payload = ZNSPayload(tpl, p.znsData(s, kind))
		case smsPhone != "":
			n.OutboxKind, n.Recipient = notify.SMS, smsPhone
			n.Payload = notify.Payload{Text: n.FallbackText}
			n.FallbackPhone, n.FallbackText = "", ""
		default: // no template, no phone: the OA may still reach them (48 h – 7 days)
			n.OutboxKind, n.Recipient = notify.Zalo, best.UserID
			n.Payload = notify.Payload{Text: p.richText(s, kind, now, false, lang)}
		}
	case message.Telegram:
		// Telegram keeps messages abroad: tier 0 only (domain.md §6.3).
		n.OutboxKind, n.Recipient = notify.Telegram, best.UserID
		n.Payload = notify.Payload{Text: p.richText(s, kind, now, true, lang)}
	case message.WebChat:
		n.OutboxKind, n.Recipient = notify.WebChat, best.UserID
		n.Payload = notify.Payload{Text: p.richText(s, kind, now, false, lang)}
	default:
		return Notice{}, false
	}
	if kind == Rating && n.OutboxKind != notify.SMS && n.OutboxKind != ZNS {
		n.Payload.Choices = p.ratingChoices(s.Dossier.Code, lang)
	}
	n.DedupeKey = DedupeKey(n.DossierCode, n.Status, n.DueDate, n.OutboxKind, n.Recipient, kind)
	n.Identity = best.Channel + ":" + best.UserID
	if n.OutboxKind == notify.SMS {
		n.Identity = message.SMS + ":" + n.Recipient
	}
	if Quiet(n.OutboxKind) {
		if rel := p.cfg.Quiet.Release(now); rel.After(now) {
			n.HeldUntil = rel
		}
	}
	if kind == Rating {
		n.After = RatingDelay
	}
	return n, true
}

func (p *Policy) base(s Subject, kind string) Notice {
	due, _ := dueDate(s.Dossier)
	return Notice{DossierCode: s.Dossier.Code, Kind: kind, Status: int(s.Dossier.Status), DueDate: due, EventAt: s.EventAt}
}

func (p *Policy) email(s Subject, kind string, now time.Time, lang string) Notice {
	n := p.base(s, kind)
	n.Lang = lang
	n.OutboxKind, n.Recipient, n.Identity = notify.Email, s.Email, "email:"+s.Email
	n.Payload = notify.Payload{Subject: p.tr.T(lang, "notice_email_subject", i18n.Data{"Code": s.Dossier.Code}),
		Text: p.richText(s, kind, now, false, lang)}
	if kind == Rating {
		n.After = RatingDelay
	}
	n.DedupeKey = DedupeKey(n.DossierCode, n.Status, n.DueDate, n.OutboxKind, n.Recipient, kind)
	return n
}

func (p *Policy) data(s Subject, now time.Time) (i18n.Data, dossier.Timing) {
	_, due := dueDate(s.Dossier)
	d := i18n.Data{"Code": s.Dossier.Code, "Due": due, "Days": 1}
	t, days := s.Dossier.Timing(now)
	if t == dossier.TimingEarly || t == dossier.TimingOverdue {
		d["Days"] = days
	}
	return d, t
}

// headline is the kind's sentence: code, status, appointment date and, for
// an early result, by how many calendar days (seed 002 Điều 10.3).
func (p *Policy) headline(s Subject, kind string, now time.Time, lang string) string {
	d, timing := p.data(s, now)
	id := "notice_" + kind
	if kind == Received && d["Due"] == "" {
		id = "notice_received_nodate"
	}
	text := p.tr.T(lang, id, d)
	if (kind == Ready || kind == Returned) && timing == dossier.TimingEarly {
		e := maps.Clone(d)
		e[i18n.PluralCount] = d["Days"] // "1 day", "3 days"
		text += " " + p.tr.T(lang, "notice_early", e)
	}
	return text
}

// smsText is the accent-free SMS in lang: the headline and the opt-out
// hint, within the segment budget (the hint goes first when space runs
// out). The hint names the keyword TU CHOI in every language: it is what
// the opt-out route matches.
func (p *Policy) smsText(s Subject, kind string, now time.Time, lang string) string {
	head := vntext.ToGSM(p.headline(s, kind, now, lang))
	full := head + " " + vntext.ToGSM(p.tr.T(lang, "notice_sms_stop"))
	if vntext.CountSMS(full).Segments <= p.cfg.SMSSegments {
		return full
	}
	text, _ := vntext.FitSMS(head, "", p.cfg.SMSSegments)
	return text
}

// richText is the chat and e-mail text: the headline, the procedure and
// agency, the officers' note for the applicant (tier 1), and how to stop.
// tier0 leaves out what only the applicant may read (Telegram).
func (p *Policy) richText(s Subject, kind string, now time.Time, tier0 bool, lang string) string {
	lines := []string{p.headline(s, kind, now, lang)}
	d := s.Dossier
	if kind != Rating {
		if !tier0 && d.ProcedureName != "" {
			lines = append(lines, p.tr.T(lang, "notice_procedure", i18n.Data{"Procedure": d.ProcedureName, "Agency": d.Agency}))
		}
		if !tier0 && d.Note != "" && (kind == Refused || kind == Supplement || kind == Fee || kind == Stopped) {
			lines = append(lines, p.tr.T(lang, "notice_note", i18n.Data{"Note": d.Note}))
		}
	}
	lines = append(lines, p.tr.T(lang, "notice_chat_stop", i18n.Data{"Code": d.Code}))
	return strings.Join(lines, "\n")
}

func (p *Policy) ratingChoices(code, lang string) []message.Choice {
	var out []message.Choice
	for i, id := range []string{"notice_rate_1", "notice_rate_2", "notice_rate_3"} {
		out = append(out, message.Choice{Label: p.tr.T(lang, id), Value: "DG " + code + " " + strconv.Itoa(i+1)})
	}
	return out
}

// znsData is the template's parameters (zns.md): values are strings, in
// Config.Lang, the language the templates were registered in with Zalo.
func (p *Policy) znsData(s Subject, kind string) map[string]string {
	_, due := dueDate(s.Dossier)
	return map[string]string{"ma_ho_so": s.Dossier.Code, "trang_thai": p.tr.T(p.cfg.Lang, "notice_head_"+kind), "ngay_hen_tra": due}
}

// ZNSPayload stores a template message in an outbox payload: the template
// id as Subject, the parameters as JSON in Text.
func ZNSPayload(templateID string, data map[string]string) notify.Payload {
	b, _ := json.Marshal(data) // keys sorted
	return notify.Payload{Subject: templateID, Text: string(b)}
}

// OverdueSubject builds the subject of the daily job's apology for a dossier past
// its appointment (e-mailed too when the dossier has an address, as every
// notice is).
func OverdueSubject(d dossier.Dossier, now time.Time) Subject {
	return Subject{Dossier: d, Email: d.ApplicantEmail, Kind: Overdue, EventAt: now}
}
