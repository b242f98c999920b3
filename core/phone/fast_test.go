package phone

import (
	"fmt"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// The fast path must give what the library gives: every two-digit prefix
// it takes is a valid mobile range for several sample numbers, and the
// canonical form is the library's.
func TestFastPathAgreesWithLibrary(t *testing.T) {
	for p := 10; p < 100; p++ {
		for _, rest := range []string{"0000000", "1234567", "5123456", "9999999"} {
			d := fmt.Sprintf("0%d%s", p, rest)
			if !mobileFast(d) {
				continue
			}
			num, err := phonenumbers.Parse(d, "VN")
			if err != nil || !phonenumbers.IsValidNumberForRegion(num, "VN") {
				t.Errorf("%s takes the fast path but the library refuses it", d)
				continue
			}
			if want := fmt.Sprintf("%d%d", num.GetCountryCode(), num.GetNationalNumber()); want != "84"+d[1:] {
				t.Errorf("%s: fast %s, library %s", d, "84"+d[1:], want)
			}
		}
	}
	for _, d := range []string{"0905123456", "0388123456", "0123456789", "02363822123", "090512345"} {
		got, err := Normalize(d)
		num, perr := phonenumbers.Parse(d, "VN")
		valid := perr == nil && phonenumbers.IsValidNumberForRegion(num, "VN")
		if valid != (err == nil) {
			t.Errorf("%s: Normalize err %v, library valid %v", d, err, valid)
		}
		if valid && got != fmt.Sprintf("%d%d", num.GetCountryCode(), num.GetNationalNumber()) {
			t.Errorf("%s: %s", d, got)
		}
	}
}
