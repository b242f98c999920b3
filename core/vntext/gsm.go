package vntext

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// GSM 03.38 default alphabet (basic table) and its extension table, whose
// characters cost two septets (ESC + code).
const (
	gsmBasic     = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

// gsmTable is the septet cost of each character (0: not in GSM-7), built
// from the two alphabets above: an array up to the Greek capitals, a short
// list for the rest (the euro sign). Counting runs on every SMS reply, so no
// map lookups.
type gsmTable struct {
	narrow [gsmNarrow]uint8
	wide   []gsmWide
}

const gsmNarrow = 0x400

type gsmWide struct {
	r    rune
	cost uint8
}

var gsm = buildGSMTable()

func buildGSMTable() *gsmTable {
	t := &gsmTable{}
	add := func(alphabet string, cost uint8) {
		for _, r := range alphabet {
			if r < gsmNarrow {
				t.narrow[r] = cost
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
	if r >= 0 && r < gsmNarrow {
		return int(gsm.narrow[r])
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
	// One pass for the totals; the parts of a long text are then counted
	// like countParts does, without a second pass when every character
	// costs one unit (parts then fill up exactly).
	gTot, ext := 0, false
	i := 0
	for i < len(s) { // GSM-7 so far
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
			if r >= runeInfoSize || runeInfo[r]&nfcStable == 0 {
				return countSMSNormalised(s) // NFC might change s
			}
		}
		g := gsmCost(r)
		if g == 0 {
			break
		}
		ext = ext || g == 2
		gTot += g
		i += size
	}
	switch {
	case i < len(s): // UCS-2: count the rest
	case gTot == 0:
		return SMSCount{Encoding: GSM7}
	case gTot <= 160:
		return SMSCount{Encoding: GSM7, Units: gTot, Segments: 1}
	case !ext:
		return SMSCount{Encoding: GSM7, Units: gTot, Segments: (gTot + 152) / 153}
	default:
		return countParts(s, GSM7, 160, 153, gsmCost)
	}
	rest, _, ok := scanStable(s[i:])
	if !ok {
		return countSMSNormalised(s)
	}
	// every nfcStable rune is in the BMP: one UTF-16 unit each
	uTot := utf8.RuneCountInString(s[:i]) + rest
	if uTot <= 70 {
		return SMSCount{Encoding: UCS2, Units: uTot, Segments: 1}
	}
	return SMSCount{Encoding: UCS2, Units: uTot, Segments: (uTot + 66) / 67}
}

// countSMSNormalised is CountSMS for any text: it normalises s first.
func countSMSNormalised(s string) SMSCount {
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

// smsCounter counts an nfcStable text rune by rune, both ways at once:
// GSM-7 (while every rune so far is in it), with the parts a concatenated
// message fills exactly as countParts cuts them, and UCS-2 (one unit per
// rune: nfcStable runes are all in the BMP). It is a value: a copy is the
// count of the text so far, to go on from.
type smsCounter struct {
	notGSM       bool // a rune outside GSM-7 was seen
	gTot, uTot   int  // septets, UTF-16 units
	gSegs, gUsed int  // 153-septet parts filled, septets in the last
}

func newSMSCounter() smsCounter { return smsCounter{gSegs: 1} }

// add counts a rune costing g septets (0: not in GSM-7).
func (c *smsCounter) add(g int) {
	c.uTot++
	if c.notGSM {
		return
	}
	if g == 0 {
		c.notGSM = true
		return
	}
	c.gTot += g
	if c.gUsed+g > 153 {
		c.gSegs++
		c.gUsed = 0
	}
	c.gUsed += g
}

// smsSuffix is a text to count after others: its totals, and the cost
// of each rune when they are not all 1.
type smsSuffix struct {
	notGSM, ext bool
	gTot, uTot  int
	costs       []uint8 // septets per rune, when ext
}

// segmentsWith is CountSMS(text + x.text).Segments, c the count of text:
// countParts's arithmetic, the parts of one-unit characters computed
// rather than filled one by one.
func (c *smsCounter) segmentsWith(x *smsSuffix) int {
	if c.uTot+x.uTot == 0 {
		return 0 // CountSMS("")
	}
	if !c.notGSM && !x.notGSM {
		total := c.gTot + x.gTot
		switch {
		case total <= 160:
			return 1
		case !x.ext:
			return c.gSegs + (c.gUsed+x.gTot+152)/153 - 1
		}
		segs, used := c.gSegs, c.gUsed
		for _, g := range x.costs {
			if used+int(g) > 153 {
				segs++
				used = 0
			}
			used += int(g)
		}
		return segs
	}
	if total := c.uTot + x.uTot; total > 70 {
		return (total + 66) / 67
	}
	return 1
}

// typographicPairs maps characters that phones and PDFs produce but GSM-7
// lacks (old, new, old, new...). Every old is one character.
var typographicPairs = []string{
	"“", `"`, "”", `"`, "„", `"`, "«", `"`, "»", `"`,
	"‘", "'", "’", "'", "‚", "'", "`", "'",
	"–", "-", "—", "-", "‐", "-", "‑", "-", "−", "-",
	"…", "...", "•", "-", "·", ".",
	"\u00a0", " ", "\u202f", " ", "\u2009", " ", "\t", " ",
	"\u200b", "", "\u200c", "", "\u200d", "", "\ufeff", "",
}

// typographic is typographicPairs by character.
var typographic = func() map[rune]string {
	m := make(map[rune]string, len(typographicPairs)/2)
	for i := 0; i < len(typographicPairs); i += 2 {
		r, size := utf8.DecodeRuneInString(typographicPairs[i])
		if size != len(typographicPairs[i]) {
			panic("vntext: typographic replacement of more than one character: " + typographicPairs[i])
		}
		m[r] = typographicPairs[i+1]
	}
	return m
}()

// ToGSM renders s for a 7-bit SMS: diacritics removed, typographic
// punctuation replaced, and anything else outside GSM-7 replaced by '?', so
// what Kannel sends is exactly what we counted.
func ToGSM(s string) string {
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if r >= runeInfoSize || runeInfo[r]&gsmKeeps == 0 {
			// s[:i] stays (gsmKeeps runes are nfcStable); the rest is
			// converted, after NFC unless it is NFC as it stands.
			if _, _, ok := scanStable(s[i:]); ok {
				return toGSMFrom(s, i)
			}
			return toGSMFrom(NFC(s), 0)
		}
		i += size
	}
	return s // already GSM-7 as ToGSM writes it: no copy
}

// toGSMFrom is ToGSM of s, an NFC text whose first i bytes it keeps: per
// character what Unaccent, then the typographic replacements, then '?' for
// the rest outside GSM-7 make of it.
func toGSMFrom(s string, i int) string {
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		r, keep := unaccentRune(r)
		switch {
		case !keep:
		case r < runeInfoSize && runeInfo[r]&gsmKeeps != 0 && r < utf8.RuneSelf:
			b.WriteByte(byte(r))
		case r < runeInfoSize && runeInfo[r]&gsmKeeps != 0:
			b.WriteRune(r)
		case isTypographic(r):
			b.WriteString(typographic[r]) // always GSM-7
		case gsmCost(r) == 0:
			b.WriteByte('?')
		default:
			b.WriteRune(r)
		}
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
	n, ascii, ok := scanStable(s)
	if _, _, sufOK := scanStable(suffix); !ok || !sufOK {
		return fitPrefixRunes(s, suffix, maxSegments)
	}
	// s and suffix, and so every prefix of s followed by suffix, are NFC as
	// they stand: the binary search below makes the same probes as
	// fitPrefixRunes, but counts each candidate from the last one that fit
	// (cuts grow with the length tried) instead of from the start, and
	// works on s's bytes instead of a copy of its runes.
	var x smsSuffix
	for _, r := range suffix {
		g := gsmCost(r)
		x.notGSM = x.notGSM || g == 0
		x.ext = x.ext || g == 2
		x.gTot += g
		x.uTot++
	}
	if x.ext && !x.notGSM {
		var costs [32]uint8
		x.costs = costs[:0]
		for _, r := range suffix {
			x.costs = append(x.costs, uint8(gsmCost(r)))
		}
	}
	// best is the cut of the longest length found to fit so far (lo): its
	// rune index, byte offset and count.
	type cut struct {
		runes, off int
		count      smsCounter
	}
	best := cut{count: newSMSCounter()}
	lo, hi := 0, n
	for lo < hi {
		mid := (lo + hi + 1) / 2
		// The byte offset of rune mid, from best (best.runes <= lo < mid).
		end := mid
		if !ascii {
			end = best.off
			for r := best.runes; r < mid; r++ {
				if s[end] < utf8.RuneSelf {
					end++
				} else {
					_, size := utf8.DecodeRuneInString(s[end:])
					end += size
				}
			}
		}
		k := cutWordsAt(s, end)
		c := best
		if k < c.off { // cannot happen (cuts grow with mid); count from the start
			c = cut{count: newSMSCounter()}
		}
		for c.off < k {
			if b := s[c.off]; b < utf8.RuneSelf {
				c.count.add(int(gsm.narrow[b]))
				c.off++
			} else {
				r, size := utf8.DecodeRuneInString(s[c.off:])
				c.count.add(gsmCost(r))
				c.off += size
			}
			c.runes++
		}
		if c.count.segmentsWith(&x) <= maxSegments {
			lo = mid
			best = c
		} else {
			hi = mid - 1
		}
	}
	return s[:best.off]
}

// cutWordsAt is cutWords on bytes: the length of s[:end] without a
// trailing partial word or trailing blanks and punctuation. end is on a
// rune boundary; all the characters looked for are ASCII.
func cutWordsAt(s string, end int) int {
	k := end
	if end < len(s) && s[end] != ' ' && s[end] != '\n' {
		if i := strings.LastIndexAny(s[:end], " \n"); i > 0 {
			k = i
		}
	}
	for k > 0 && isCutTrim(s[k-1]) {
		k--
	}
	return k
}

func isCutTrim(c byte) bool {
	return c == ' ' || c == '\n' || c == ',' || c == ';' || c == ':' || c == '-'
}

// fitPrefixRunes is FitPrefix for any text: each candidate prefix is cut
// from s's runes and counted (normalised) with suffix.
func fitPrefixRunes(s, suffix string, maxSegments int) string {
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
