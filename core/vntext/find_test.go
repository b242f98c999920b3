package vntext_test

import (
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

func TestFirstNationalCode(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	tests := map[string]string{
		"DVC 000.00.20.H17-261102-0004":            "000.00.20.H17-261102-0004",
		"dvc 000.00.20.h17 261121 0042":            "000.00.20.H17-261121-0042",
		"xem giup ho so 000.00.20.H17-261102-0004": "000.00.20.H17-261102-0004",
		"DVC000.00.20.H17-261102-0004":             "",
		"tim dang ky khai sinh 2024":               "",
		"HD":                                       "",
		"":                                         "",
	}
	for in, want := range tests {
		if got := vntext.FirstNationalCode(in, now); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}
