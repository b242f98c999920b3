package citizen

import (
	"strings"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// ellipsis marks a sentence cut in the middle ("..." is GSM-7; "…" is not).
const ellipsis = "..."

// fitSMS cuts text to maxSegments with hint on a line of its own, and
// returns the rest for THEM. It cuts at the end of a line when that keeps
// four fifths of what fits, so the reader gets whole lines; otherwise at a
// word, marked with an ellipsis so the hint is never read as the end of the
// sentence.
func fitSMS(text, hint string, maxSegments int) (fitted, rest string) {
	if vntext.CountSMS(text).Segments <= maxSegments {
		return text, ""
	}
	runes := []rune(text)
	suffix := ellipsis + "\n" + hint
	lo, hi := 0, len(runes)
	for lo < hi { // the longest word-cut prefix that fits, by binary search
		mid := (lo + hi + 1) / 2
		if vntext.CountSMS(wordPrefix(runes, mid)+suffix).Segments <= maxSegments {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	body := wordPrefix(runes, lo)
	if body == "" { // not even one word fits beside the hint
		return hint, strings.TrimSpace(text)
	}
	if nl := strings.LastIndexByte(body, '\n'); nl > 0 && 5*len([]rune(body[:nl])) >= 4*lo {
		body = strings.TrimRight(body[:nl], " \n")
		return body + "\n" + hint, strings.TrimSpace(text[len(body):])
	}
	// The rest starts mid-sentence: the ellipsis joins it to the first part.
	return body + ellipsis + "\n" + hint, ellipsis + strings.TrimSpace(text[len(body):])
}

// wordPrefix returns r[:n] without a trailing partial word or trailing
// blanks and punctuation.
func wordPrefix(r []rune, n int) string {
	s := string(r[:n])
	if n < len(r) && r[n] != ' ' && r[n] != '\n' {
		if i := strings.LastIndexAny(s, " \n"); i > 0 {
			s = s[:i]
		} else {
			s = ""
		}
	}
	return strings.TrimRight(s, " \n,;:-")
}
