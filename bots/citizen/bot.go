// Package citizen is the citizen bot: dossier status, procedure search and
// details, satisfaction ratings, help and language, in Vietnamese (with or
// without diacritics) and English. It sees channel-agnostic messages only.
package citizen

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
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
	"github.com/dvcbot/dvcbot/core/ticket"
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
	DefaultRateLimit = 10   // messages per user per minute
	DefaultMaxLen    = 1000 // characters per message
	StateTTL         = 30 * time.Minute
	PageSize         = 3
	// keptLists is how many numbered lists a session remembers, so the
	// "next results" button of an older list still pages that list.
	keptLists = 4
	// maxSaveTries bounds the compare-and-swap retries of one message; each
	// round at least one concurrent message of the user commits.
	maxSaveTries = 64
)

// VerifyLimits are the failed guesses at a dossier's verification digits
// allowed in 24 hours: per dossier across every session, user and channel;
// per network source (a web chat client's IP, whatever cookies it sends);
// per channel identity.
var VerifyLimits = session.Limits{PerDossier: 5, PerSource: 20, PerUser: 10, Window: 24 * time.Hour}

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
	audit      LookupAudit
}

// LookupAudit records every dossier look-up with the disclosure tier shown
// (0 code and status only, 1 the applicant's view, -1 nothing: not found).
type LookupAudit interface {
	Record(ctx context.Context, channel, user, dossier string, tier int) error
}

// WithLookupAudit records look-ups in an audit log.
func WithLookupAudit(a LookupAudit) Option { return func(b *Bot) { b.audit = a } }

// recordLookup writes a look-up to the audit log; a failure is logged, not
// shown: the citizen's answer does not depend on it.
func (b *Bot) recordLookup(tn *turn, code string, tier int) {
	if b.audit == nil {
		return
	}
	if err := b.audit.Record(tn.ctx, tn.in.Channel, tn.in.UserID, code, tier); err != nil {
		b.log.Error("recording a look-up in the audit log", "code", code, "error", err)
	}
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
	Lists    []list   `json:"ls,omitempty"`  // numbered lists shown, newest last
	ListSeq  int      `json:"lsn,omitempty"` // the id of the last list
	Dossier  string   `json:"d,omitempty"`   // the last dossier looked up
	Verified []string `json:"v,omitempty"`   // dossiers this user proved to be the applicant of
	Pending  string   `json:"p,omitempty"`   // what the next message answers
	Level    string   `json:"l,omitempty"`   // rating level waiting for a reason or a verification
	Reason   string   `json:"why,omitempty"`
	Raw      string   `json:"raw,omitempty"` // the rating message as typed
	Index    int      `json:"i,omitempty"`   // criterion being asked
	More     string   `json:"m,omitempty"`   // rest of a reply cut to fit an SMS
}

// list is one page of search results as shown: typed numbers refer to the
// newest one; buttons name the procedure itself.
type list struct {
	ID     int    `json:"id"`
	Query  string `json:"q"`
	Offset int    `json:"o"` // where this page starts among the query's results
	Items  []item `json:"it"`
}

type item struct {
	Code string `json:"c"`
	Name string `json:"n"`
}

func (st *state) latest() *list {
	if len(st.Lists) == 0 {
		return nil
	}
	return &st.Lists[len(st.Lists)-1]
}

func (st *state) listByID(id int) *list {
	for i := range st.Lists {
		if st.Lists[i].ID == id {
			return &st.Lists[i]
		}
	}
	return nil
}

// listWith returns the newest list holding a procedure code.
func (st *state) listWith(code string) *list {
	for i := len(st.Lists) - 1; i >= 0; i-- {
		for _, it := range st.Lists[i].Items {
			if it.Code == code {
				return &st.Lists[i]
			}
		}
	}
	return nil
}

func (st *state) pushList(l list) *list {
	st.ListSeq++
	l.ID = st.ListSeq
	st.Lists = append(st.Lists, l)
	if len(st.Lists) > keptLists {
		st.Lists = append([]list(nil), st.Lists[len(st.Lists)-keptLists:]...)
	}
	return st.latest()
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
	// key identifies this message across save retries (verification
	// attempts are recorded once per message).
	key string
	// secret: the message carried verification digits.
	secret bool
	// verified: the user just proved to be an applicant.
	verified bool
}

func (t *turn) isVerified(code string) bool {
	for _, v := range t.st.Verified {
		if v == code {
			return true
		}
	}
	return false
}

// phoneOnly: on SMS the sender's number is proven by the network, and a
// typed code proves nothing more; only the dossier's own number is its
// applicant there.
func (t *turn) phoneOnly() bool { return t.caps.Plain || t.in.Channel == message.SMS }

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
// and answered politely. The session is read, changed and written back with
// a compare-and-swap; when another message of the same user was saved in
// between, the message is handled again on the fresh session, so
// concurrent messages are all counted.
func (b *Bot) Handle(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply {
	key := newKey()
	for try := 1; ; try++ {
		reply, err := b.handleOnce(ctx, in, caps, key)
		if err == nil {
			return reply
		}
		if !errors.Is(err, session.ErrConflict) || try == maxSaveTries || ctx.Err() != nil {
			b.log.Error("saving session", "channel", in.Channel, "tries", try, "error", err)
			return reply
		}
	}
}

func (b *Bot) handleOnce(ctx context.Context, in message.Inbound, caps message.Capabilities, key string) (message.Reply, error) {
	now := b.now().UTC()
	sess, err := b.sessions.Session(ctx, in.Channel, in.UserID)
	if err != nil {
		b.log.Error("loading session", "channel", in.Channel, "error", err)
		return b.render(&turn{lang: i18n.Default, caps: caps}, message.Reply{Text: b.tr.T(i18n.Default, "error_generic"), Failed: true}), nil
	}
	tn := &turn{ctx: ctx, in: in, caps: caps, lang: sess.Lang, now: now, key: key}
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
	reply.Secret, reply.RotateSession = tn.secret, tn.verified
	sess.Lang = tn.lang
	if st, err := json.Marshal(tn.st); err == nil {
		sess.State, sess.StateExpiresAt = st, now.Add(StateTTL)
	}
	return reply, b.sessions.SaveSession(ctx, sess)
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
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
	fitted, rest := fitSMS(text, more, tn.caps.MaxSegments)
	tn.st.More = rest
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
	case isOneOf(first, "THEM", "MORE") && len(words) == 1:
		// THEM is "the rest of this text"; with nothing cut it still helps
		// the user who means the next results.
		if more != "" {
			return message.Reply{Text: more}
		}
		if tn.st.latest() != nil {
			return b.nextPage(tn, tn.st.latest())
		}
		return message.Reply{Text: b.t(tn, "more_nothing")}
	case isOneOf(first, "TIEP", "NEXT", "/NEXT") && len(words) <= 2:
		l := tn.st.latest()
		if len(words) == 2 {
			id, err := strconv.Atoi(words[1])
			if err != nil {
				break
			}
			l = tn.st.listByID(id)
			if l == nil {
				return message.Reply{Text: b.t(tn, "list_expired")}
			}
		}
		if l == nil {
			return message.Reply{Text: b.t(tn, "more_nothing")}
		}
		return b.nextPage(tn, l)
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
	if first == "TC" && len(words) > 1 {
		return b.criteriaCommand(tn, words[1:])
	}
	if isOneOf(first, "XACMINH", "VERIFY") || (len(words) > 1 && first == "XAC" && words[1] == "MINH") {
		tn.secret = true // digits may be typed along with the command
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
		if code, ok := procedureCode(rest, tn.now); ok {
			return b.detailsByCode(tn, code)
		}
		return b.searchFirst(tn, rest)
	}
	if tn.st.Pending != "" {
		if r, ok := b.pending(tn, text); ok {
			return r
		}
	}
	if n, ok := pickNumber(text); ok || isDigits(text) {
		// A number refers to the list the user sees, and only to it: never a
		// search for "1".
		l := tn.st.latest()
		switch {
		case l == nil:
			r := message.Reply{Text: b.t(tn, "number_no_list") + "\n\n" + b.t(tn, "help")}
			if tn.caps.Buttons {
				r.Choices = b.helpChoices(tn)
			}
			return r
		case !ok:
			return message.Reply{Text: b.t(tn, "pick_out_of_range", i18n.Data{"Max": len(l.Items)})}
		}
		return b.details(tn, l, n)
	}
	if lvl, ok := rating.ParseLevel(text); ok && tn.st.Dossier != "" && !isDigits(text) {
		return b.rate(tn, tn.st.Dossier, lvl, "", text)
	}
	if r, ok := b.codeInText(tn, text); ok {
		return r
	}
	return b.searchFirst(tn, text)
}

// procedureCode reads "1.001193" (a search for the code itself shows it).
func procedureCode(s string, now time.Time) (string, bool) {
	cs := vntext.ParseCodes(vntext.CleanCodeText(s), now)
	if len(cs) == 1 && cs[0].Kind == vntext.CodeProcedure {
		return cs[0].Value, true
	}
	return "", false
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
		{Label: b.t(tn, "btn_handoff"), Value: ticket.ButtonValue}, // the hand-off route opens a ticket
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

// failure is the apology for a look-up that failed (a database call timed
// out): marked Failed, so the pipeline does not record it as the answer but
// answers again once the bot can.
func (b *Bot) failure(tn *turn) message.Reply {
	return message.Reply{Text: b.t(tn, "error_generic"), Failed: true}
}
