// Package vntext handles Vietnamese text the way citizens type it: NFC
// normalisation, diacritic folding (đ→d included), syllable tokenising, GSM-7
// rendering and SMS segment counting, and dossier-code normalising.
package vntext

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// foldTable maps every precomposed Latin letter up to the Vietnamese block
// (U+1EFF) to its base ASCII letter. It is computed once from the Unicode
// decompositions so it covers NFC text without a per-call NFD pass.
var foldTable = buildFoldTable()

const foldTableSize = 0x1F00

func buildFoldTable() [foldTableSize]rune {
	var t [foldTableSize]rune
	for r := rune(0); r < foldTableSize; r++ {
		t[r] = r
		if r < utf8.RuneSelf {
			continue
		}
		d := norm.NFD.String(string(r))
		base, _ := utf8.DecodeRuneInString(d)
		if base < utf8.RuneSelf && len(d) > 1 {
			t[r] = base
		}
	}
	t['đ'], t['Đ'] = 'd', 'D'
	return t
}

// NFC returns s in Unicode Normalization Form C. Upstream texts arrive in both
// NFC and NFD; everything is stored and compared in NFC.
func NFC(s string) string {
	if _, _, ok := scanStable(s); ok || norm.NFC.IsNormalString(s) {
		return s
	}
	return norm.NFC.String(s)
}

// Unaccent removes Vietnamese diacritics and maps đ/Đ to d/D, keeping case.
// "Hồ sơ của ông Đặng" → "Ho so cua ong Dang".
func Unaccent(s string) string {
	for i := asciiSpan(s, 0); i < len(s); i = asciiSpan(s, i) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= runeInfoSize || runeInfo[r]&unaccentKeeps == 0 {
			// s[:i] stays (unaccentKeeps runes are nfcStable); the rest is
			// folded, after NFC unless it is NFC as it stands.
			if _, _, ok := scanStable(s[i:]); ok {
				return unaccentFrom(s, i)
			}
			return unaccentFrom(NFC(s), 0)
		}
		i += size
	}
	return s // nothing to fold: no copy
}

// unaccentFrom is Unaccent of s, an NFC text whose first i bytes it keeps.
func unaccentFrom(s string, i int) string {
	var b strings.Builder
	b.Grow(len(s))
	b.WriteString(s[:i])
	for _, r := range s[i:] {
		if r, keep := unaccentRune(r); keep {
			if r < utf8.RuneSelf {
				b.WriteByte(byte(r))
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// unaccentRune is what Unaccent makes of r: its base letter, and whether
// to keep it (a combining mark left over from unusual input is dropped).
func unaccentRune(r rune) (rune, bool) {
	if r < runeInfoSize {
		if r < foldTableSize {
			r = foldTable[r] // stays below runeInfoSize
		}
		return r, runeInfo[r]&isMn == 0
	}
	return r, !unicode.Is(unicode.Mn, r)
}

// Fold lower-cases s and removes its diacritics: the form search and keyword
// matching compare on. "Căn CƯỚC" → "can cuoc".
func Fold(s string) string {
	s = NFC(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}
	if r < foldTableSize {
		r = foldTable[r]
	}
	return unicode.ToLower(r)
}

// HasDiacritics reports whether s contains any letter that folding would change
// beyond case, i.e. whether the writer typed accents.
func HasDiacritics(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf && r < foldTableSize && foldTable[r] != r {
			return true
		}
		if unicode.Is(unicode.Mn, r) {
			return true
		}
	}
	return false
}

// Words splits s into lower-case NFC words (syllables, numbers, codes such as
// "1.001193" keep their inner dots). Punctuation separates words.
func Words(s string) []string {
	s = strings.ToLower(NFC(s))
	var out []string
	start := -1
	for i, r := range s {
		inner := (r == '.' || r == '/') && start >= 0 && i+1 < len(s) && isWordByte(s[i+1])
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || inner {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			out = append(out, s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= utf8.RuneSelf
}

// FoldWords is Words followed by Fold on each word.
func FoldWords(s string) []string {
	w := Words(s)
	for i := range w {
		w[i] = Fold(w[i])
	}
	return w
}

// StripHTML turns an HTML fragment from the upstream feed into plain text:
// tags dropped (block tags become line breaks), common entities decoded,
// Windows line ends and runs of blanks squeezed.
func StripHTML(s string) string {
	if !strings.ContainsAny(s, "<&\r") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		switch c := s[i]; c {
		case '<':
			end := strings.IndexByte(s[i:], '>')
			if end < 0 {
				b.WriteString(s[i:])
				i = len(s)
				continue
			}
			tag := strings.ToLower(strings.TrimLeft(s[i+1:i+end], "/"))
			if isBlockTag(tag) {
				b.WriteByte('\n')
			}
			i += end + 1
		case '&':
			end := strings.IndexByte(s[i:], ';')
			if end > 1 && end < 10 {
				if r, ok := entity(s[i+1 : i+end]); ok {
					b.WriteString(r)
					i += end + 1
					continue
				}
			}
			b.WriteByte(c)
			i++
		case '\r':
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return squeezeBlankLines(b.String())
}

func isBlockTag(tag string) bool {
	for _, p := range []string{"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "ul", "ol", "table"} {
		if tag == p || strings.HasPrefix(tag, p+" ") || strings.HasPrefix(tag, p+"/") {
			return true
		}
	}
	return false
}

func entity(name string) (string, bool) {
	switch name {
	case "nbsp":
		return " ", true
	case "amp":
		return "&", true
	case "lt":
		return "<", true
	case "gt":
		return ">", true
	case "quot":
		return `"`, true
	case "apos", "#39":
		return "'", true
	}
	if strings.HasPrefix(name, "#") {
		n, base := name[1:], 10
		if strings.HasPrefix(n, "x") || strings.HasPrefix(n, "X") {
			n, base = n[1:], 16
		}
		var v rune
		for _, c := range n {
			d := strings.IndexRune("0123456789abcdef", unicode.ToLower(c))
			if d < 0 || d >= base {
				return "", false
			}
			v = v*rune(base) + rune(d)
		}
		if v > 0 && v <= unicode.MaxRune {
			return string(v), true
		}
	}
	return "", false
}

func squeezeBlankLines(s string) string {
	if squeezed(s) {
		return s
	}
	lines := strings.Split(s, "\n")
	out := lines[:0]
	for _, l := range lines {
		l = strings.Join(strings.Fields(l), " ")
		if l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// squeezed reports whether squeezeBlankLines would return s unchanged: no
// blank line, no space at a line's ends, no run of spaces, no other white
// space than ' ' and '\n'. Stored texts mostly are, and the check allocates
// nothing.
func squeezed(s string) bool {
	if s == "" {
		return true
	}
	prev := byte('\n') // a line may not start with a space or be blank
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
			if prev == ' ' || prev == '\n' {
				return false
			}
		case c == '\n':
			if prev == ' ' || prev == '\n' {
				return false
			}
		case c < utf8.RuneSelf:
			if asciiSpace(c) {
				return false
			}
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if unicode.IsSpace(r) {
				return false
			}
			i += size - 1
		}
		prev = c
	}
	return prev != ' ' && prev != '\n'
}

func asciiSpace(c byte) bool { return c == '\t' || c == '\v' || c == '\f' || c == '\r' }

// Clean is the canonical stored form of an upstream text: NFC, HTML removed,
// whitespace squeezed. Hashes and diffs compare on it.
func Clean(s string) string {
	return NFC(squeezeBlankLines(StripHTML(s)))
}

// ScanFolded calls fn with each folded word of s (lower case, no diacritics,
// đ→d), in order, until fn returns false. The slice is reused between calls:
// copy it to keep it. It splits like Words (inner dots and slashes between
// letters or digits stay: 1.001612) but allocates nothing per word, for
// indexing large catalogues. s should be NFC (stored texts are).
func ScanFolded(s string, fn func(word []byte) bool) {
	buf := make([]byte, 0, 32)
	var prevWord bool
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= '0' && r <= '9'):
			buf = append(buf, byte(r))
		case r >= 'A' && r <= 'Z':
			buf = append(buf, byte(r+'a'-'A'))
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			buf = utf8.AppendRune(buf, foldRune(r))
		case r >= utf8.RuneSelf && unicode.Is(unicode.Mn, r):
			// a combining mark of NFD input: folding drops it
		case (r == '.' || r == '/') && len(buf) > 0 && i < len(s) && isWordByte(lowerASCII(s[i])):
			buf = append(buf, byte(r))
		default:
			if len(buf) > 0 {
				if !fn(buf) {
					return
				}
				buf = buf[:0]
			}
		}
		prevWord = len(buf) > 0
	}
	if prevWord && len(buf) > 0 {
		fn(buf)
	}
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
