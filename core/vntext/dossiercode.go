package vntext

import (
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// CodeKind says what a piece of text typed as a dossier code turned out to be.
type CodeKind int

const (
	CodeNone      CodeKind = iota // nothing that looks like a code
	CodeNational                  // a well-formed national dossier code
	CodeMalformed                 // looks national but a part is missing or wrong
	CodeProcedure                 // a procedure code (1.001193), not a dossier code
	CodeLocal                     // a local receipt number, passed on verbatim
)

// CodeProblem names what is wrong with a malformed national code.
type CodeProblem string

const (
	ProblemNone        CodeProblem = ""
	ProblemMissingSeq  CodeProblem = "missing_sequence"
	ProblemMissingDate CodeProblem = "missing_date"
	ProblemBadDate     CodeProblem = "bad_date"
	ProblemFutureDate  CodeProblem = "future_date"
	ProblemTooOld      CodeProblem = "too_old"
)

// Code is one code found in a message.
type Code struct {
	Kind  CodeKind
	Value string // canonical national code, procedure code or local receipt
	// ShortSeq is set when the sequence was typed with fewer than 4 digits;
	// Value is then left-padded and should only be used if it exists.
	ShortSeq bool
	Problem  CodeProblem
}

// MaxCodeInput is the longest input, in runes, the parser looks at.
const MaxCodeInput = 512

// MaxCodesPerMessage is how many codes one message may ask about.
const MaxCodesPerMessage = 3

var (
	nationalRe  = regexp.MustCompile(`^(?:[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}|[A-Z][0-9]{2}(?:\.[0-9]{1,3}){0,4})-[0-9]{6}-[0-9]{4,7}$`)
	procedureRe = regexp.MustCompile(`^(?:[0-9]\.[0-9]{6}|T-[A-Z0-9-]+-TT)$`)
	localRe     = regexp.MustCompile(`^[A-Z0-9][A-Z0-9./-]{5,39}$`)
	level1Re    = regexp.MustCompile(`^[A-Z][0-9]{2}$`)
	classicPfx  = regexp.MustCompile(`^[0-9OIL|]{3}[.,\s][0-9OIL|]{2}[.,\s][0-9OIL|]{2}[.,\s][A-Z][0-9OIL]{2}`)
	modernPfx   = regexp.MustCompile(`^[A-Z][0-9]{2}(?:[.,\s-]|$)`)
)

// IsNationalCode reports whether s is a dossier code in canonical form.
func IsNationalCode(s string) bool { return nationalRe.MatchString(s) }

// CleanCodeText applies the character-level normalisation of domain.md §1.5
// steps 1–6: NFKC, invisible characters removed, spaces and dashes unified, a
// code pulled out of a pasted receipt URL, upper case without diacritics.
func CleanCodeText(s string) string {
	if n := 0; len(s) > MaxCodeInput {
		for i := range s {
			if n == MaxCodeInput {
				s = s[:i]
				break
			}
			n++
		}
	}
	s = norm.NFKC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\u200b' || r == '\u200c' || r == '\u200d' || r == '\u2060' || r == '\ufeff' || r == '\u00ad':
			continue
		case r == '\u00a0' || (r >= '\u2000' && r <= '\u200a') || r == '\u202f' || r == '\u3000' || unicode.IsSpace(r):
			r = ' '
		case (r >= '\u2010' && r <= '\u2015') || r == '\u2212' || r == '\ufe58' || r == '\ufe63' || r == '\uff0d' || r == '_':
			r = '-'
		}
		b.WriteRune(r)
	}
	s = b.String()
	if v, ok := codeFromURL(s); ok {
		s = v
	}
	return strings.ToUpper(Unaccent(s))
}

var urlCodeKeys = []string{"mahs", "mhs", "mahoso", "code"}

func codeFromURL(s string) (string, bool) {
	i := strings.Index(strings.ToLower(s), "http")
	if i < 0 {
		return "", false
	}
	raw := s[i:]
	if j := strings.IndexByte(raw, ' '); j >= 0 {
		raw = raw[:j]
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	for k, v := range u.Query() {
		for _, want := range urlCodeKeys {
			if strings.EqualFold(k, want) && len(v) > 0 && v[0] != "" {
				return v[0], true
			}
		}
	}
	return "", false
}

// ParseCodes reads up to MaxCodesPerMessage codes from s, which is cleaned
// text (CleanCodeText) with any keyword already removed. now decides which
// dates lie in the future (Asia/Ho_Chi_Minh calendar).
func ParseCodes(s string, now time.Time) []Code {
	s = strings.Trim(s, " \"'<>[]()")
	if s == "" {
		return nil
	}
	toks := strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '-' || r == '/' || r == ',' || r == ';' || r == '.'
	})
	var out []Code
	for len(toks) > 0 && len(out) < MaxCodesPerMessage {
		c, used := parseNational(toks, now)
		if used == 0 {
			break
		}
		out = append(out, c)
		toks = toks[used:]
	}
	if len(out) > 0 && out[0].Kind == CodeNational {
		return out
	}
	return []Code{classify(s, now, out)}
}

// parseNational reads one national code from the front of toks and reports
// how many tokens it used (0 when toks does not start with an agency).
func parseNational(toks []string, now time.Time) (Code, int) {
	agency, n := readAgency(toks)
	if n == 0 {
		return Code{}, 0
	}
	if n == len(toks) {
		return Code{Kind: CodeMalformed, Problem: ProblemMissingDate}, n
	}
	date, ok := digitsOnly(toks[n])
	if !ok || len(date) != 6 {
		return Code{Kind: CodeMalformed, Problem: ProblemMissingDate}, n
	}
	if p := checkDate(date, now); p != ProblemNone {
		return Code{Kind: CodeMalformed, Problem: p}, n + 1
	}
	if n+1 == len(toks) {
		return Code{Kind: CodeMalformed, Problem: ProblemMissingSeq}, n + 1
	}
	seq, ok := digitsOnly(toks[n+1])
	if !ok || len(seq) == 0 || len(seq) > 7 {
		return Code{Kind: CodeMalformed, Problem: ProblemMissingSeq}, n + 1
	}
	short := len(seq) < 4
	if short {
		seq = strings.Repeat("0", 4-len(seq)) + seq
	}
	return Code{Kind: CodeNational, Value: agency + "-" + date + "-" + seq, ShortSeq: short}, n + 2
}

// readAgency reads a classic (000.00.06.H56) or modern (H15.50.05.13) agency.
func readAgency(toks []string) (string, int) {
	if len(toks) >= 4 {
		a, okA := digitsOnly(toks[0])
		b, okB := digitsOnly(toks[1])
		c, okC := digitsOnly(toks[2])
		if okA && okB && okC && len(a) == 3 && len(b) == 2 && len(c) == 2 {
			if l1, ok := level1(toks[3]); ok {
				return a + "." + b + "." + c + "." + l1, 4
			}
		}
	}
	l1, ok := level1(toks[0])
	if !ok {
		return "", 0
	}
	parts, n := []string{l1}, 1
	for n < len(toks) && len(parts) < 5 {
		d, ok := digitsOnly(toks[n])
		if !ok || len(d) < 1 || len(d) > 3 {
			break
		}
		parts, n = append(parts, d), n+1
	}
	return strings.Join(parts, "."), n
}

func level1(t string) (string, bool) {
	if len(t) != 3 || t[0] < 'A' || t[0] > 'Z' {
		return "", false
	}
	d, ok := digitsOnly(t[1:])
	if !ok {
		return "", false
	}
	return t[:1] + d, level1Re.MatchString(t[:1] + d)
}

// digitsOnly maps look-alike letters to digits (O→0, I/L/|→1) and reports
// whether the result is all digits.
func digitsOnly(t string) (string, bool) {
	b := []byte(t)
	for i, c := range b {
		switch c {
		case 'O':
			b[i] = '0'
		case 'I', 'L', '|':
			b[i] = '1'
		}
		if b[i] < '0' || b[i] > '9' {
			return "", false
		}
	}
	return string(b), len(b) > 0
}

var vnZone = time.FixedZone("ICT", 7*3600)

// VietnamTime is the zone of the edges: upstream dates, dossier codes, replies.
func VietnamTime() *time.Location { return vnZone }

func checkDate(d string, now time.Time) CodeProblem {
	t, err := time.ParseInLocation("060102", d, vnZone)
	if err != nil || t.Format("060102") != d {
		return ProblemBadDate
	}
	if t.Year() < 2018 {
		return ProblemTooOld
	}
	local := now.In(vnZone)
	tomorrow := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, vnZone)
	if t.After(tomorrow) {
		return ProblemFutureDate
	}
	return ProblemNone
}

// classify decides, for text that did not yield a national code, what it is
// (domain.md §1.5, after step 8). partial holds what parseNational found.
func classify(s string, now time.Time, partial []Code) Code {
	compact := strings.Join(strings.Fields(s), " ")
	if procedureRe.MatchString(compact) {
		return Code{Kind: CodeProcedure, Value: compact}
	}
	if len(partial) > 0 && partial[0].Kind == CodeMalformed {
		return partial[0]
	}
	looksNational := classicPfx.MatchString(compact) || modernPfx.MatchString(compact)
	for _, t := range strings.FieldsFunc(compact, func(r rune) bool {
		return r == ' ' || r == '-' || r == '/' || r == ',' || r == ';'
	}) {
		if d, ok := digitsOnly(t); ok && len(d) == 6 {
			looksNational = true
			if p := checkDate(d, now); p != ProblemNone {
				return Code{Kind: CodeMalformed, Problem: p}
			}
		}
	}
	if looksNational {
		return Code{Kind: CodeMalformed, Problem: ProblemMissingSeq}
	}
	if localRe.MatchString(compact) && strings.ContainsAny(compact, "0123456789") {
		return Code{Kind: CodeLocal, Value: compact}
	}
	return Code{Kind: CodeNone}
}

// NormalizeDossierCode returns the stored form of a dossier code sent by a
// one-stop system: the canonical national form, or a local receipt number
// upper-cased. It rejects anything else.
func NormalizeDossierCode(s string, now time.Time) (string, error) {
	codes := ParseCodes(CleanCodeText(s), now)
	if len(codes) != 1 {
		return "", errBadCode
	}
	switch c := codes[0]; c.Kind {
	case CodeNational:
		if c.ShortSeq {
			return "", errBadCode
		}
		return c.Value, nil
	case CodeLocal:
		return c.Value, nil
	case CodeMalformed:
		return "", &CodeError{Problem: c.Problem}
	}
	return "", errBadCode
}

// CodeError explains why a dossier code was refused.
type CodeError struct{ Problem CodeProblem }

func (e *CodeError) Error() string {
	if e.Problem == ProblemNone {
		return "not a dossier code"
	}
	return "malformed dossier code: " + string(e.Problem)
}

var errBadCode = &CodeError{}
