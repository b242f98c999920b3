package vntext

import (
	"strings"
	"unicode/utf16"
)

// GSM 03.38 default alphabet (basic table) and its extension table, whose
// characters cost two septets (ESC + code).
const (
	gsmBasic     = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

// gsmTable is the septet cost of each character (0: not in GSM-7), built
// from the two alphabets above: an array for Latin-1, a short list for the
// Greek capitals and the euro sign. Counting runs on every SMS reply (and
// many times while a long one is cut to fit), so no map lookups.
type gsmTable struct {
	latin [256]uint8
	wide  []gsmWide
}

type gsmWide struct {
	r    rune
	cost uint8
}

var gsm = buildGSMTable()

func buildGSMTable() *gsmTable {
	t := &gsmTable{}
	add := func(alphabet string, cost uint8) {
		for _, r := range alphabet {
			if r < 256 {
				t.latin[r] = cost
			} else {
				t.wide = append(t.wide, gsmWide{r, cost})
			}
		}
	}
	add(gsmBasic, 1)
	add(gsmExtension, 2)
	return t
}

// gsmCost is r's cost in septets, 0 when GSM-7 lacks it.
func gsmCost(r rune) int {
	if r >= 0 && r < 256 {
		return int(gsm.latin[r])
	}
	for _, w := range gsm.wide {
		if w.r == r {
			return int(w.cost)
		}
	}
	return 0
}

// Encoding is how an SMS is coded on the air.
type Encoding int

const (
	GSM7 Encoding = iota // 160 septets, 153 per concatenated part
	UCS2                 // 70 UTF-16 units, 67 per concatenated part
)

func (e Encoding) String() string {
	if e == GSM7 {
		return "GSM-7"
	}
	return "UCS-2"
}

// IsGSM7 reports whether every character of s exists in GSM-7.
func IsGSM7(s string) bool {
	for _, r := range s {
		if gsmCost(r) == 0 {
			return false
		}
	}
	return true
}

// SMSCount is the result of counting a text for SMS.
type SMSCount struct {
	Encoding Encoding
	Units    int // septets for GSM-7, UTF-16 code units for UCS-2
	Segments int
}

// CountSMS counts the segments s needs, exactly as a handset or Kannel would:
// NFC first; GSM-7 when every character fits (extension characters cost two
// septets and an ESC pair is never split), UCS-2 otherwise (a surrogate pair is
// never split).
func CountSMS(s string) SMSCount {
	s = NFC(s)
	if s == "" {
		return SMSCount{Encoding: GSM7}
	}
	if IsGSM7(s) {
		return countParts(s, GSM7, 160, 153, gsmCost)
	}
	return countParts(s, UCS2, 70, 67, func(r rune) int { return utf16.RuneLen(r) })
}

func countParts(s string, enc Encoding, single, part int, cost func(rune) int) SMSCount {
	total := 0
	for _, r := range s {
		total += cost(r)
	}
	if total <= single {
		return SMSCount{Encoding: enc, Units: total, Segments: 1}
	}
	segs, used := 1, 0
	for _, r := range s {
		c := cost(r)
		if used+c > part {
			segs++
			used = 0
		}
		used += c
	}
	return SMSCount{Encoding: enc, Units: total, Segments: segs}
}

// typographic maps characters that phones and PDFs produce but GSM-7 lacks.
var typographic = strings.NewReplacer(
	"“", `"`, "”", `"`, "„", `"`, "«", `"`, "»", `"`,
	"‘", "'", "’", "'", "‚", "'", "`", "'",
	"–", "-", "—", "-", "‐", "-", "‑", "-", "−", "-",
	"…", "...", "•", "-", "·", ".",
	"\u00a0", " ", "\u202f", " ", "\u2009", " ", "\t", " ",
	"\u200b", "", "\u200c", "", "\u200d", "", "\ufeff", "",
)

// ToGSM renders s for a 7-bit SMS: diacritics removed, typographic
// punctuation replaced, and anything else outside GSM-7 replaced by '?', so
// what Kannel sends is exactly what we counted.
func ToGSM(s string) string {
	s = typographic.Replace(Unaccent(s))
	if IsGSM7(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if gsmCost(r) == 0 {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// FitSMS cuts s to at most maxSegments segments, on a word boundary, ending
// with more (e.g. "... Gui THEM de xem tiep") when something was cut. The
// result never splits a character. If even more alone does not fit, more is
// dropped.
func FitSMS(s, more string, maxSegments int) (string, bool) {
	if CountSMS(s).Segments <= maxSegments {
		return s, false
	}
	suffix := " " + more
	if more == "" {
		suffix = ""
	}
	return FitPrefix(s, suffix, maxSegments) + suffix, true
}

// FitPrefix returns the longest prefix of s, cut after a whole word and
// without trailing blanks or punctuation, that fits in maxSegments together
// with suffix. The bot uses it to cut a reply and keep the rest for later.
func FitPrefix(s, suffix string, maxSegments int) string {
	runes := []rune(s)
	lo, hi := 0, len(runes)
	for lo < hi { // largest prefix length that fits, by binary search
		mid := (lo + hi + 1) / 2
		if CountSMS(cutWords(runes, mid)+suffix).Segments <= maxSegments {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return cutWords(runes, lo)
}

// cutWords returns r[:n] without a trailing partial word or trailing
// blanks and punctuation.
func cutWords(r []rune, n int) string {
	s := string(r[:n])
	if n < len(r) && r[n] != ' ' && r[n] != '\n' {
		if i := strings.LastIndexAny(s, " \n"); i > 0 {
			s = s[:i]
		}
	}
	return strings.TrimRight(s, " \n,;:-")
}
