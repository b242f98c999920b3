package citizen

import (
	"strings"
	"unicode/utf8"

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
	body := vntext.FitPrefix(text, ellipsis+"\n"+hint, maxSegments)
	if body == "" { // not even one word fits beside the hint
		return hint, strings.TrimSpace(text)
	}
	if nl := strings.LastIndexByte(body, '\n'); nl > 0 && 5*utf8.RuneCountInString(body[:nl]) >= 4*utf8.RuneCountInString(body) {
		body = strings.TrimRight(body[:nl], " \n")
		return body + "\n" + hint, strings.TrimSpace(text[len(body):])
	}
	// The rest starts mid-sentence: the ellipsis joins it to the first part.
	return body + ellipsis + "\n" + hint, ellipsis + strings.TrimSpace(text[len(body):])
}
