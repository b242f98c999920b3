package vntext

import (
	"strings"
	"time"
)

// FirstNationalCode returns the first national dossier code anywhere in s
// ("DVC 000.00.20.H17-261102-0004", "xem giup ho so 000.00.20.h17 261102
// 0004"), normalised, or "" when there is none. It tries the parser from
// each word on, so the words before a code do not hide it.
func FirstNationalCode(s string, now time.Time) string {
	words := strings.Fields(CleanCodeText(s))
	for i := range words {
		if c := words[i][0]; c < '0' || c > '9' {
			if len(words[i]) < 2 || words[i][1] < '0' || words[i][1] > '9' { // not 000… nor H17…
				continue
			}
		}
		if codes := ParseCodes(strings.Join(words[i:], " "), now); len(codes) > 0 && codes[0].Kind == CodeNational {
			return codes[0].Value
		}
	}
	return ""
}
