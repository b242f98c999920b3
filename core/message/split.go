package message

import (
	"strings"
	"unicode/utf8"
)

// Split cuts text into parts of at most limit runes, preferring a paragraph,
// then a line, a sentence, a word boundary; never inside a rune. Platforms
// cap a message's length (Zalo 2,000 characters, Telegram 4,096).
func Split(text string, limit int) []string {
	limit = max(limit, 1) // a part holds at least one rune, or this would never end
	var out []string
	for utf8.RuneCountInString(text) > limit {
		runes := []rune(text)
		head := string(runes[:limit])
		cut := -1
		for _, sep := range []string{"\n\n", "\n", ". ", " "} {
			if i := strings.LastIndex(head, sep); i > len(head)/2 {
				cut = i + len(sep)
				break
			}
		}
		if cut < 0 {
			cut = len(head)
		}
		out = append(out, strings.TrimSpace(text[:cut]))
		text = strings.TrimSpace(text[cut:])
	}
	if text != "" || len(out) == 0 {
		out = append(out, text)
	}
	return out
}
