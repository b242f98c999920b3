package vntext

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf16"

	"golang.org/x/text/unicode/norm"
)

// The reference implementations below are the straightforward versions
// the fast paths replaced (normalise, then convert and count rune by rune,
// every candidate of a cut counted from scratch). The fast paths must give
// exactly their results, byte for byte, on any input.

func refNFC(s string) string {
	if norm.NFC.IsNormalString(s) {
		return s
	}
	return norm.NFC.String(s)
}

func refUnaccent(s string) string {
	s = refNFC(s)
	var b strings.Builder
	for _, r := range s {
		if r < foldTableSize {
			r = foldTable[r]
		}
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

var refTypographic = strings.NewReplacer(
	"“", `"`, "”", `"`, "„", `"`, "«", `"`, "»", `"`,
	"‘", "'", "’", "'", "‚", "'", "`", "'",
	"–", "-", "—", "-", "‐", "-", "‑", "-", "−", "-",
	"…", "...", "•", "-", "·", ".",
	"\u00a0", " ", "\u202f", " ", "\u2009", " ", "\t", " ",
	"\u200b", "", "\u200c", "", "\u200d", "", "\ufeff", "",
)

func refIsGSM7(s string) bool {
	for _, r := range s {
		if gsmCost(r) == 0 {
			return false
		}
	}
	return true
}

func refToGSM(s string) string {
	s = refTypographic.Replace(refUnaccent(s))
	if refIsGSM7(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if gsmCost(r) == 0 {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func refCountSMS(s string) SMSCount {
	s = refNFC(s)
	if s == "" {
		return SMSCount{Encoding: GSM7}
	}
	if refIsGSM7(s) {
		return countParts(s, GSM7, 160, 153, gsmCost)
	}
	return countParts(s, UCS2, 70, 67, func(r rune) int { return utf16.RuneLen(r) })
}

func refCutWords(r []rune, n int) string {
	s := string(r[:n])
	if n < len(r) && r[n] != ' ' && r[n] != '\n' {
		if i := strings.LastIndexAny(s, " \n"); i > 0 {
			s = s[:i]
		}
	}
	return strings.TrimRight(s, " \n,;:-")
}

func refFitPrefix(s, suffix string, maxSegments int) string {
	runes := []rune(s)
	lo, hi := 0, len(runes)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if refCountSMS(refCutWords(runes, mid)+suffix).Segments <= maxSegments {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return refCutWords(runes, lo)
}

func refFitSMS(s, more string, maxSegments int) (string, bool) {
	if refCountSMS(s).Segments <= maxSegments {
		return s, false
	}
	suffix := " " + more
	if more == "" {
		suffix = ""
	}
	return refFitPrefix(s, suffix, maxSegments) + suffix, true
}

// checkSame compares every fast path with its reference on s.
func checkSame(t *testing.T, s string) {
	t.Helper()
	if got, want := NFC(s), refNFC(s); got != want {
		t.Errorf("NFC(%q) = %q, want %q", s, got, want)
	}
	if got, want := Unaccent(s), refUnaccent(s); got != want {
		t.Errorf("Unaccent(%q) = %q, want %q", s, got, want)
	}
	if got, want := ToGSM(s), refToGSM(s); got != want {
		t.Errorf("ToGSM(%q) = %q, want %q", s, got, want)
	}
	if got, want := CountSMS(s), refCountSMS(s); got != want {
		t.Errorf("CountSMS(%q) = %+v, want %+v", s, got, want)
	}
}

func checkFitSame(t *testing.T, s, suffix string, maxSegments int) {
	t.Helper()
	if got, want := FitPrefix(s, suffix, maxSegments), refFitPrefix(s, suffix, maxSegments); got != want {
		t.Errorf("FitPrefix(%q, %q, %d) = %q, want %q", s, suffix, maxSegments, got, want)
	}
	got, gotCut := FitSMS(s, suffix, maxSegments)
	want, wantCut := refFitSMS(s, suffix, maxSegments)
	if got != want || gotCut != wantCut {
		t.Errorf("FitSMS(%q, %q, %d) = %q %v, want %q %v", s, suffix, maxSegments, got, gotCut, want, wantCut)
	}
}

// trickyTexts: Vietnamese (NFC and NFD), GSM-7 extension characters,
// typographic punctuation, emoji, NUL, invalid UTF-8, Hangul jamo, and
// lengths at the 1/2/3-segment limits of GSM-7 (160/306/459) and UCS-2
// (70/134/201), with a two-septet character across a part boundary.
func trickyTexts() []string {
	vi := "Hồ sơ của ông Đặng Văn Lưỡng đã được tiếp nhận, hẹn trả ngày 15/11/2026."
	texts := []string{
		"", " ", "\n", "a", "\x00", "a\x00b", "€", "{}[]~^|€\\", "\f", "\r\n",
		vi, norm.NFD.String(vi), ToGSM(vi),
		"“Hẹn trả” – 05/03…", "phí 50.000\u00a0đồng", "emoji 😀 ở đây", "😀", "👍🏽 ok",
		"\u0301", "a\u0301", "e\u0302\u0301", "\u0301bắt đầu bằng dấu", "ở\u0301",
		"\xff", "a\xffb", "\xe2\x82", "ồ\xe1", "\ufffd", "x\ufffdy",
		"\u1100\u1161", "\u1100", "가\u11a8", "Ωmega K", "Å vs Å", "\u212b",
		"ÄÖÑÜäöñüà ÉèéùìòÇ ØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæß ¤§¿¡£¥", "`tab\there`", "a\u200bb\ufeffc",
		"  leading", "trailing  ", "a,;:- b", "no-spaces-at-all-" + strings.Repeat("x", 400),
		"Ngày 1:\nNộp hồ sơ\nNgày 2:\nNhận kết quả\n",
		"Ελληνικά κείμενα", "Кириллица", "中文 文本", "٣٤ عربي",
	}
	for _, n := range []int{69, 70, 71, 133, 134, 135, 152, 153, 154, 159, 160, 161, 200, 201, 202, 305, 306, 307, 458, 459, 460} {
		texts = append(texts,
			strings.Repeat("a", n),
			strings.Repeat("ệ", n),
			strings.Repeat("a", n-1)+"€",
			strings.Repeat("a", n-1)+"😀",
			strings.Repeat("{", n/2),
			strings.Repeat("ab ", n/3)+"c",
			strings.Repeat("ồ ", n/2),
		)
	}
	for _, n := range []int{151, 152, 153, 304, 305, 306} {
		texts = append(texts, strings.Repeat("a", n)+"€"+strings.Repeat("b", 10)) // ESC pair at a part boundary
	}
	return texts
}

var trickySuffixes = []string{"", " Gui THEM", "...\nGui THEM de doc tiep", "...\nGửi THÊM để đọc tiếp", "€€", "😀", "\u0301x", "\xff", "x"}

func TestFastPathsMatchReference(t *testing.T) {
	for _, s := range trickyTexts() {
		checkSame(t, s)
		for _, suffix := range trickySuffixes {
			for _, max := range []int{-1, 0, 1, 2, 3} {
				checkFitSame(t, s, suffix, max)
			}
		}
	}
}

// randomText strings together pieces that exercise every path.
func randomText(rng *rand.Rand) string {
	pieces := []string{
		"a", "Z", "0", " ", " ", " ", "\n", ",", ";", ":", "-", ".", "hồ", "sơ", "đã", "Đặng", "ệ",
		"€", "{", "}", "[", "]", "~", "^", "|", "\\", "\f", "`", "\t", "“", "…", "\u00a0", "\u200b",
		"😀", "\x00", "\u0301", "\u0323", "\xff", "\xe1\xbb", "\ufffd", "Δ", "Ω", "é", "ñ", "\u1161", "\u11a8", "가",
		"\u212b", "\u0344", "Ж", "中",
	}
	n := rng.IntN(500)
	var b strings.Builder
	for range n {
		p := pieces[rng.IntN(len(pieces))]
		if rng.IntN(4) > 0 { // mostly plain words and blanks
			p = pieces[rng.IntN(12)]
		}
		b.WriteString(p)
	}
	return b.String()
}

func TestFastPathsMatchReferenceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	rounds := 2000
	if testing.Short() {
		rounds = 200
	}
	for range rounds {
		s := randomText(rng)
		checkSame(t, s)
		checkFitSame(t, s, trickySuffixes[rng.IntN(len(trickySuffixes))], rng.IntN(4))
		if t.Failed() {
			return
		}
	}
}

func FuzzFastPathsMatchReference(f *testing.F) {
	for _, s := range trickyTexts() {
		f.Add(s, " Gui THEM", 2)
	}
	f.Add("Hồ sơ "+strings.Repeat("đang giải quyết ", 20), "...\nGửi THÊM", 1)
	f.Fuzz(func(t *testing.T, s, suffix string, max int) {
		max %= 5
		checkSame(t, s)
		checkSame(t, suffix)
		checkFitSame(t, s, suffix, max)
	})
}

// The runes marked nfcStable really are: NFC leaves each alone, and next
// to each other (in any order) as well.
func TestNFCStableRunes(t *testing.T) {
	var stable []rune
	for r := rune(0); r < runeInfoSize; r++ {
		if runeInfo[r]&nfcStable == 0 {
			continue
		}
		stable = append(stable, r)
		if s := string(r); !norm.NFC.IsNormalString(s) || norm.NFC.String(s) != s {
			t.Errorf("%U is not NFC-stable", r)
		}
	}
	if len(stable) < 1000 {
		t.Fatalf("only %d stable runes", len(stable))
	}
	// Every stable rune beside a sample of others, including the letters
	// Vietnamese uses and the GSM-7 ones.
	sample := []rune("aAeEoOuUdDyY ăâêôơưđĂÂÊÔƠƯĐàáảãạầấẩẫậềếểễệờớởỡợừứửữựỳýỷỹỵ€ΔΩÆßØ“”–…\u00a0·")
	for _, r := range sample {
		if r < runeInfoSize && runeInfo[r]&nfcStable == 0 {
			t.Errorf("%U (%c) should be stable", r, r)
		}
	}
	for _, a := range stable {
		for _, b := range sample {
			if s := string(a) + string(b); !norm.NFC.IsNormalString(s) {
				t.Errorf("%U %U is not NFC", a, b)
			}
			if s := string(b) + string(a); !norm.NFC.IsNormalString(s) {
				t.Errorf("%U %U is not NFC", b, a)
			}
		}
	}
	for _, r := range []rune{0x0301, 0x0323, 0x0344, 0x212b, 0x1100, 0x1161, 0x11a8, 0x2126, 0x037e} {
		if runeInfo[r]&nfcStable != 0 {
			t.Errorf("%U must not be stable", r)
		}
	}
}
