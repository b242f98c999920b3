package vntext

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// runeInfo classifies every rune below runeInfoSize (Latin, Greek,
// Cyrillic, the Vietnamese block, general punctuation, currency signs), so
// that NFC, Unaccent, ToGSM, CountSMS and FitPrefix, which run on every SMS
// reply, look a rune up instead of asking the norm and unicode tables.
var runeInfo = buildRuneInfo()

const runeInfoSize = 0x2200

const (
	// nfcStable: NFC quick check Yes and combining class 0, so the rune
	// neither changes under NFC nor combines with its neighbours: any text
	// made only of such runes, and any piece of it, alone or followed by
	// another such text, is NFC as it stands.
	nfcStable = 1 << iota
	// isMn: a nonspacing (combining) mark, which Unaccent drops.
	isMn
	// unaccentKeeps: Unaccent leaves the rune as it is (no fold, not Mn)
	// and it is nfcStable.
	unaccentKeeps
	// typographicRune: ToGSM replaces it (see typographic).
	typographicRune
	// gsmKeeps: ToGSM leaves the rune as it is (nfcStable, Unaccent keeps
	// it, it is in GSM-7 and not typographic).
	gsmKeeps
)

func buildRuneInfo() *[runeInfoSize]uint8 {
	var t [runeInfoSize]uint8
	var buf [utf8.UTFMax]byte
	for r := rune(0); r < runeInfoSize; r++ {
		b := utf8.AppendRune(buf[:0], r)
		p := norm.NFC.Properties(b)
		// Hangul jamo compose algorithmically (L+V, LV+T): never trusted.
		jamo := r >= 0x1100 && r < 0x1200
		if !jamo && p.CCC() == 0 && p.BoundaryBefore() && norm.NFC.IsNormal(b) {
			t[r] |= nfcStable
		}
		if unicode.Is(unicode.Mn, r) {
			t[r] |= isMn
		}
		if (r >= foldTableSize || foldTable[r] == r) && t[r]&(isMn|nfcStable) == nfcStable {
			t[r] |= unaccentKeeps
		}
		if _, ok := typographic[r]; ok {
			t[r] |= typographicRune
		}
		if t[r]&(nfcStable|unaccentKeeps) == nfcStable|unaccentKeeps && t[r]&typographicRune == 0 && gsmCost(r) != 0 {
			t[r] |= gsmKeeps
		}
	}
	return &t
}

// isTypographic reports whether ToGSM replaces r (see typographic).
func isTypographic(r rune) bool {
	if r < runeInfoSize {
		return runeInfo[r]&typographicRune != 0
	}
	_, ok := typographic[r]
	return ok
}

// asciiSpan returns the index of the first non-ASCII byte of s at or after
// i (len(s) if none), eight bytes at a time.
func asciiSpan(s string, i int) int {
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if w&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i < len(s) && s[i] < utf8.RuneSelf; i++ {
	}
	return i
}

// scanStable reports whether s is valid UTF-8 made only of nfcStable runes
// (ASCII always is), so NFC as it stands, with its length in runes and
// whether it is all ASCII.
func scanStable(s string) (runes int, ascii, ok bool) {
	i := asciiSpan(s, 0)
	if i == len(s) {
		return len(s), true, true
	}
	runes = i
	for i < len(s) {
		if s[i] < utf8.RuneSelf {
			j := asciiSpan(s, i)
			runes += j - i
			i = j
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= runeInfoSize || runeInfo[r]&nfcStable == 0 {
			return 0, false, false // U+FFFD (invalid UTF-8) included
		}
		runes++
		i += size
	}
	return runes, false, true
}
