package rating

import (
	"errors"
	"testing"
)

func TestParseLevel(t *testing.T) {
	tests := []struct {
		in   string
		want Level
		ok   bool
	}{
		{"1", RatHaiLong, true},
		{" 2 ", HaiLong, true},
		{"3", KhongHaiLong, true},
		{"RHL", RatHaiLong, true},
		{"khl", KhongHaiLong, true},
		{"Rất hài lòng", RatHaiLong, true},
		{"rat  hai   long", RatHaiLong, true},
		{"Hài lòng", HaiLong, true},
		{"KHÔNG HÀI LÒNG", KhongHaiLong, true},
		{"khong hai long", KhongHaiLong, true},
		{"Bình thường", HaiLong, true}, // five-level survey answer mapped onto three
		{"rất không hài lòng", KhongHaiLong, true},
		{"hai_long", HaiLong, true},
		{"satisfied", HaiLong, true},
		{"4", "", false},
		{"", "", false},
		{"hài lòng lắm", "", false},
		{"DVC 000.00.01.H26-240101-0001", "", false},
	}
	for _, tc := range tests {
		got, ok := ParseLevel(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseLevel(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		r    Rating
		want error // nil: valid; errReason: ErrReasonMissing; other: any error
	}{
		{name: "satisfied without a reason", r: Rating{Level: HaiLong}},
		{name: "dissatisfied with a reason", r: Rating{Level: KhongHaiLong, Reason: "Trả kết quả trễ hẹn"}},
		{name: "dissatisfied without a reason", r: Rating{Level: KhongHaiLong, Reason: "  "}, want: ErrReasonMissing},
		{name: "unknown level", r: Rating{Level: "tuyet_voi"}, want: errAny},
		{name: "criteria with valid levels", r: Rating{Level: RatHaiLong, Criteria: map[Criterion]Level{"a": HaiLong, "dd": RatHaiLong}}},
		{name: "criterion with an unknown level", r: Rating{Level: RatHaiLong, Criteria: map[Criterion]Level{"b": "5"}}, want: errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want == errAny && err == nil:
				t.Fatal("Validate accepted it")
			case tc.want != nil && tc.want != errAny && !errors.Is(err, tc.want):
				t.Fatalf("Validate = %v, want %v", err, tc.want)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestLevelNumbers(t *testing.T) {
	for i, l := range Levels() {
		if l.Number() != i+1 || !l.Valid() {
			t.Errorf("%s numbered %d", l, l.Number())
		}
	}
	if Level("").Valid() || len(Criteria()) != 9 {
		t.Error("empty level valid, or not nine criteria (seed 002 Điều 11.2 a–i)")
	}
}
