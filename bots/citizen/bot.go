// Package citizen is the citizen bot: dossier status, procedure search and
// details, satisfaction ratings, help and language, in Vietnamese (with or
// without diacritics) and English. It sees channel-agnostic messages only.
package citizen

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/search"
	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Dossiers finds dossiers by code.
type Dossiers interface {
	Dossier(ctx context.Context, code string) (dossier.Dossier, error)
}

// Procedures finds procedures by code.
type Procedures interface {
	Procedure(ctx context.Context, code string) (catalog.Procedure, error)
}

// Searcher searches the catalogue.
type Searcher interface {
	Search(query string, limit, offset int) []search.Hit
}

// Defaults.
const (
	DefaultRateLimit  = 10   // messages per user per minute
	DefaultMaxLen     = 1000 // characters per message
	StateTTL          = 30 * time.Minute
	PageSize          = 3
	MaxVerifyAttempts = 3
)

// Bot answers citizens. It is safe for concurrent use; all state lives in
// the session store.
type Bot struct {
	dossiers   Dossiers
	procedures Procedures
	search     Searcher
	ratings    rating.Store
	sessions   session.Store
	tr         *i18n.Catalog
	now        func() time.Time
	log        *slog.Logger
	rateLimit  int
	maxLen     int
}

// Option configures a Bot.
type Option func(*Bot)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(b *Bot) { b.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(b *Bot) { b.log = l } }

// WithRateLimit sets the messages a user may send per minute.
func WithRateLimit(n int) Option { return func(b *Bot) { b.rateLimit = n } }

// WithMaxLen sets the longest message, in characters, the bot reads.
func WithMaxLen(n int) Option { return func(b *Bot) { b.maxLen = n } }

// New returns a bot.
func New(d Dossiers, p Procedures, s Searcher, r rating.Store, sess session.Store, tr *i18n.Catalog, opts ...Option) *Bot {
	b := &Bot{dossiers: d, procedures: p, search: s, ratings: r, sessions: sess, tr: tr,
		now: time.Now, log: slog.Default(), rateLimit: DefaultRateLimit, maxLen: DefaultMaxLen}
	for _, o := range opts {
		o(b)
	}
	return b
}

// state is the short-lived dialog state kept in the session.
type state struct {
	Query    string   `json:"q,omitempty"` // the current search
	Results  []string `json:"r,omitempty"` // procedure codes on the page shown
	Offset   int      `json:"o,omitempty"` // where the next page starts
	Dossier  string   `json:"d,omitempty"` // the last dossier looked up
	Verified []string `json:"v,omitempty"` // dossiers this user proved to be the applicant of
	Pending  string   `json:"p,omitempty"` // what the next message answers
	Level    string   `json:"l,omitempty"` // rating level waiting for a reason or a verification
	Reason   string   `json:"why,omitempty"`
	Raw      string   `json:"raw,omitempty"` // the rating message as typed
	Index    int      `json:"i,omitempty"`   // criterion being asked
	Attempts int      `json:"n,omitempty"`   // failed verifications
	More     string   `json:"m,omitempty"`   // rest of a reply cut to fit an SMS
}

// Pending dialog steps.
const (
	pendReason        = "reason"
	pendVerifyRate    = "verify_rate"
	pendVerifyStatus  = "verify_status"
	pendCriteriaOffer = "criteria_offer"
	pendCriteria      = "criteria"
)

// turn is one message being handled.
type turn struct {
	ctx  context.Context
	in   message.Inbound
	caps message.Capabilities
	lang string
	now  time.Time
	st   state
}

func (t *turn) isVerified(code string) bool {
	for _, v := range t.st.Verified {
		if v == code {
			return true
		}
	}
	return false
}

func (b *Bot) t(tn *turn, id string, data ...i18n.Data) string { return b.tr.T(tn.lang, id, data...) }

// Welcome is the greeting for a new conversation (web chat open, follow).
func (b *Bot) Welcome(ctx context.Context, channel, user string, caps message.Capabilities) message.Reply {
	lang := i18n.Default
	if s, err := b.sessions.Session(ctx, channel, user); err == nil && s.Lang != "" {
		lang = s.Lang
	}
	tn := &turn{ctx: ctx, caps: caps, lang: lang, now: b.now()}
	r := message.Reply{Text: b.t(tn, "welcome") + "\n\n" + b.t(tn, "help")}
	if caps.Buttons {
		r.Choices = b.helpChoices(tn)
	}
	r.Hint = b.t(tn, "hint_start")
	return b.render(tn, r)
}

// Handle answers one inbound message. It never fails: problems are logged
// and answered politely.
func (b *Bot) Handle(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply {
	now := b.now().UTC()
	sess, err := b.sessions.Session(ctx, in.Channel, in.UserID)
	if err != nil {
		b.log.Error("loading session", "channel", in.Channel, "error", err)
		return b.render(&turn{lang: i18n.Default, caps: caps}, message.Reply{Text: b.tr.T(i18n.Default, "error_generic")})
	}
	tn := &turn{ctx: ctx, in: in, caps: caps, lang: sess.Lang, now: now}
	if !i18n.Supported(tn.lang) {
		tn.lang = i18n.Default
	}
	if raw := sess.LiveState(now); raw != nil {
		if err := json.Unmarshal(raw, &tn.st); err != nil {
			tn.st = state{}
		}
	}
	var reply message.Reply
	switch allowed := sess.Allow(now, b.rateLimit); {
	case !allowed && sess.RateCount > b.rateLimit+1:
		reply = message.Reply{} // already told once this minute: stay silent
	case !allowed:
		reply = message.Reply{Text: b.t(tn, "rate_limited", i18n.Data{"Limit": b.rateLimit})}
	case utf8.RuneCountInString(in.Text) > b.maxLen:
		reply = message.Reply{Text: b.t(tn, "too_long", i18n.Data{"Max": b.maxLen})}
	default:
		reply = b.dispatch(tn)
	}
	reply = b.render(tn, reply)
	sess.Lang = tn.lang
	if st, err := json.Marshal(tn.st); err == nil {
		sess.State, sess.StateExpiresAt = st, now.Add(StateTTL)
	}
	if err := b.sessions.SaveSession(ctx, sess); err != nil {
		b.log.Error("saving session", "channel", in.Channel, "error", err)
	}
	return reply
}

// render fits a reply to the channel: plain channels get GSM-7 text within
// the segment budget, the rest kept for THEM; buttons only where they exist.
func (b *Bot) render(tn *turn, r message.Reply) message.Reply {
	if !tn.caps.Plain {
		return r
	}
	r.Choices, r.Hint = nil, ""
	text := r.Text
	if !tn.caps.Accents {
		text = vntext.ToGSM(text)
	}
	if tn.caps.MaxSegments <= 0 || text == "" {
		r.Text = text
		return r
	}
	more := b.t(tn, "sms_more")
	if !tn.caps.Accents {
		more = vntext.ToGSM(more)
	}
	fitted, cut := vntext.FitSMS(text, more, tn.caps.MaxSegments)
	if cut {
		body := strings.TrimSuffix(fitted, " "+more)
		tn.st.More = strings.TrimSpace(text[len(body):])
	}
	r.Text = fitted
	return r
}

// dispatch decides what the message asks for.
func (b *Bot) dispatch(tn *turn) message.Reply {
	text := strings.TrimSpace(tn.in.Text)
	if text == "" {
		return b.help(tn)
	}
	words := strings.Fields(strings.ToUpper(vntext.Unaccent(text)))
	first := words[0]
	rest := strings.TrimSpace(text[wordEnd(text, 1):])
	more := tn.st.More
	tn.st.More = ""

	switch {
	case isOneOf(first, "THEM", "MORE", "TIEP", "NEXT") && len(words) == 1:
		if more != "" {
			return message.Reply{Text: more}
		}
		return b.nextPage(tn)
	case isOneOf(first, "HELP", "HD", "?", "/HELP", "/START", "HUONGDAN", "TROGIUP") ||
		(len(words) == 2 && first == "HUONG" && words[1] == "DAN"):
		tn.st.Pending = ""
		return b.help(tn)
	case len(words) == 1 && isOneOf(first, "EN", "ENGLISH", "/EN"):
		tn.lang = "en"
		return message.Reply{Text: b.t(tn, "lang_set")}
	case len(words) == 1 && isOneOf(first, "VI", "VN", "TIENGVIET", "/VI") || (len(words) == 2 && first == "TIENG" && words[1] == "VIET"):
		tn.lang = "vi"
		return message.Reply{Text: b.t(tn, "lang_set")}
	}
	if kw, n := statusKeyword(words); kw {
		tn.st.Pending = ""
		return b.status(tn, strings.TrimSpace(text[wordEnd(text, n):]), true)
	}
	if isOneOf(first, "DG", "DANHGIA", "RATE", "/DANHGIA", "/RATE") || (len(words) > 1 && first == "DANH" && words[1] == "GIA") {
		n := 1
		if first == "DANH" {
			n = 2
		}
		tn.st.Pending = ""
		return b.rateCommand(tn, strings.TrimSpace(text[wordEnd(text, n):]), text)
	}
	if isOneOf(first, "XACMINH", "VERIFY") || (len(words) > 1 && first == "XAC" && words[1] == "MINH") {
		n := 1
		if first == "XAC" {
			n = 2
		}
		return b.verifyCommand(tn, strings.TrimSpace(text[wordEnd(text, n):]))
	}
	if isOneOf(first, "TIM", "TTHC", "SEARCH", "FIND", "/TIM", "/SEARCH") {
		tn.st.Pending = ""
		if rest == "" {
			return message.Reply{Text: b.t(tn, "search_usage")}
		}
		return b.searchFirst(tn, rest)
	}
	if tn.st.Pending != "" {
		if r, ok := b.pending(tn, text); ok {
			return r
		}
	}
	if n, ok := pickNumber(text); ok && len(tn.st.Results) > 0 {
		return b.details(tn, n)
	}
	if lvl, ok := rating.ParseLevel(text); ok && tn.st.Dossier != "" && !isDigits(text) {
		return b.rate(tn, tn.st.Dossier, lvl, "", text)
	}
	if r, ok := b.bareCode(tn, text); ok {
		return r
	}
	return b.searchFirst(tn, text)
}

// statusKeyword recognises DVC, HS, MHS, MA HS, TRA CUU, STATUS at the start.
func statusKeyword(words []string) (bool, int) {
	w := words[0]
	switch {
	case len(words) > 1 && w == "TRA" && words[1] == "CUU", len(words) > 1 && w == "MA" && words[1] == "HS":
		return true, 2
	case isOneOf(w, "DVC", "HS", "MHS", "TRACUU", "STATUS", "/DVC", "/STATUS"):
		return true, 1
	case strings.HasPrefix(w, "DVC") && len(w) > 3 && !isLetter(w[3]): // DVC000.00…, DVC:…
		return true, 0
	}
	return false, 0
}

func isLetter(c byte) bool { return c >= 'A' && c <= 'Z' }

// wordEnd returns the byte offset just after the n-th blank-separated word.
func wordEnd(s string, n int) int {
	i := 0
	for k := 0; k < n; k++ {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
			i++
		}
		for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' {
			i++
		}
	}
	return i
}

func isOneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

func isDigits(s string) bool {
	s = strings.TrimSpace(s)
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// pickNumber reads "1", "2", "3" (also "so 2", "#2").
func pickNumber(s string) (int, bool) {
	f := strings.Fields(vntext.Fold(strings.NewReplacer("#", " ", ".", " ").Replace(s)))
	if len(f) == 2 && (f[0] == "so" || f[0] == "no") {
		f = f[1:]
	}
	if len(f) != 1 || len(f[0]) != 1 || f[0][0] < '1' || f[0][0] > '9' {
		return 0, false
	}
	return int(f[0][0] - '0'), true
}

func (b *Bot) help(tn *turn) message.Reply {
	r := message.Reply{Text: b.t(tn, "help")}
	if tn.caps.Buttons {
		r.Choices = b.helpChoices(tn)
	}
	return r
}

func (b *Bot) helpChoices(tn *turn) []message.Choice {
	other := "EN"
	if tn.lang == "en" {
		other = "VI"
	}
	return []message.Choice{
		{Label: b.t(tn, "btn_example_search"), Value: b.t(tn, "example_search")},
		{Label: b.t(tn, "btn_lang"), Value: other},
	}
}

// fmtDate renders a time as dd/mm/yyyy in Vietnam time.
func fmtDate(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.In(vntext.VietnamTime()).Format("02/01/2006")
}
