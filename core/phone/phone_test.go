package phone

import (
	"errors"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"0905123456", "84905123456", true},
		{"84905123456", "84905123456", true},
		{"+84905123456", "84905123456", true},
		{"+84 905 123 456", "84905123456", true},
		{"0084905123456", "84905123456", true},
		{"090.512.3456", "84905123456", true},
		{"+840905123456", "84905123456", true},
		{"01629123456", "84329123456", true},  // renumbered 0162 → 032
		{"02363822222", "842363822222", true}, // Đà Nẵng landline
		{"12345", "", false},
		{"09051234567890", "", false},
		{"abc", "", false},
		{"", "", false},
		{"0905123456; DROP", "", false},
	}
	for _, tc := range tests {
		got, err := Normalize(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Normalize(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Normalize(%q) error %v is not ErrInvalid", tc.in, err)
		}
	}
	if !Same("0905 123 456", "+84905123456") || Same("0905123456", "0905123457") {
		t.Error("Same is wrong")
	}
}
