// Package phone normalises Vietnamese phone numbers so that 0905123456,
// 84905123456, +84 905 123 456 and 0084905123456 are one person.
package phone

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// ErrInvalid is returned for text that is not a valid phone number.
var ErrInvalid = errors.New("not a valid Vietnamese phone number")

// legacyMobile maps the 11-digit mobile prefixes renumbered in 2018 to their
// 10-digit successors, so old stored numbers still compare equal.
var legacyMobile = map[string]string{
	"0120": "070", "0121": "079", "0122": "077", "0126": "076", "0128": "078",
	"0123": "083", "0124": "084", "0125": "085", "0127": "081", "0129": "082",
	"0162": "032", "0163": "033", "0164": "034", "0165": "035", "0166": "036",
	"0167": "037", "0168": "038", "0169": "039",
	"0186": "056", "0188": "058", "0199": "059",
}

// Normalize returns the canonical form of a phone number: "84" followed by the
// national significant number, no plus sign (what SMS gateways use).
func Normalize(s string) (string, error) {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' || r == '+' {
			return r
		}
		if r == ' ' || r == '.' || r == '-' || r == '(' || r == ')' {
			return -1
		}
		return 'x'
	}, strings.TrimSpace(s))
	if digits == "" || strings.ContainsRune(digits, 'x') {
		return "", fmt.Errorf("%q: %w", s, ErrInvalid)
	}
	switch {
	case strings.HasPrefix(digits, "0084"):
		digits = "+84" + digits[4:]
	case strings.HasPrefix(digits, "84") && len(digits) >= 11:
		digits = "+" + digits
	}
	if strings.HasPrefix(digits, "+840") {
		digits = "0" + digits[4:]
	}
	if strings.HasPrefix(digits, "+84") {
		digits = "0" + digits[3:]
	}
	if len(digits) == 11 && strings.HasPrefix(digits, "01") {
		if p, ok := legacyMobile[digits[:4]]; ok {
			digits = p + digits[4:]
		}
	}
	if mobileFast(digits) {
		return "84" + digits[1:], nil
	}
	num, err := phonenumbers.Parse(digits, "VN")
	if err != nil || !phonenumbers.IsValidNumberForRegion(num, "VN") {
		return "", fmt.Errorf("%q: %w", s, ErrInvalid)
	}
	return fmt.Sprintf("%d%d", num.GetCountryCode(), num.GetNationalNumber()), nil
}

// mobilePrefixes are the two-digit mobile prefixes (after the leading 0) of
// Vietnam's 10-digit numbering since 2018, as libphonenumber validates them.
// A number in them skips the library's full parse, which costs more than the
// rest of an SMS status look-up; TestFastPathAgreesWithLibrary keeps the
// list honest.
var mobilePrefixes = [100]bool{
	32: true, 33: true, 34: true, 35: true, 36: true, 37: true, 38: true, 39: true,
	56: true, 58: true, 59: true,
	70: true, 76: true, 77: true, 78: true, 79: true,
	81: true, 82: true, 83: true, 84: true, 85: true, 86: true, 88: true,
	90: true, 91: true, 93: true, 94: true, 96: true, 97: true, 98: true,
}

// mobileFast reports whether d ("0" + 9 digits) is a mobile number whose
// canonical form needs no library call.
func mobileFast(d string) bool {
	if len(d) != 10 || d[0] != '0' {
		return false
	}
	for i := 1; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return mobilePrefixes[int(d[1]-'0')*10+int(d[2]-'0')]
}

// Same reports whether a and b are the same valid number.
func Same(a, b string) bool {
	na, errA := Normalize(a)
	nb, errB := Normalize(b)
	return errA == nil && errB == nil && na == nb
}

// LastDigits returns the last n digits of a normalised number.
func LastDigits(normalized string, n int) string {
	if len(normalized) < n {
		return normalized
	}
	return normalized[len(normalized)-n:]
}
