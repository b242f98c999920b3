package message

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSplit(t *testing.T) {
	para := strings.Repeat("Hồ sơ đang được xử lý. ", 4) // 92 runes
	tests := []struct {
		name string
		text string
		max  int
		want []string
	}{
		{name: "short text stays whole", text: "Xin chào", max: 10, want: []string{"Xin chào"}},
		{name: "empty text is one empty part", text: "", max: 10, want: []string{""}},
		{name: "exactly max runes", text: "Đăng ký khai sinh", max: 17, want: []string{"Đăng ký khai sinh"}},
		{name: "prefers the paragraph break", text: "Bước 1: nộp hồ sơ\n\nBước 2: nhận kết quả", max: 30,
			want: []string{"Bước 1: nộp hồ sơ", "Bước 2: nhận kết quả"}},
		{name: "then a line break", text: "Bước 1: nộp hồ sơ\nBước 2: nhận kết quả", max: 30,
			want: []string{"Bước 1: nộp hồ sơ", "Bước 2: nhận kết quả"}},
		{name: "then a sentence", text: para, max: 50,
			want: []string{"Hồ sơ đang được xử lý. Hồ sơ đang được xử lý.", "Hồ sơ đang được xử lý. Hồ sơ đang được xử lý."}},
		{name: "then a word", text: "một hai ba bốn năm sáu bảy tám", max: 12,
			want: []string{"một hai ba", "bốn năm sáu", "bảy tám"}},
		{name: "a word longer than max is cut between runes", text: "Đđđđđđđđđđ", max: 4,
			want: []string{"Đđđđ", "đđđđ", "đđ"}},
		{name: "a break too early is not taken", text: "a " + strings.Repeat("ơ", 10), max: 8,
			want: []string{"a ơơơơơơ", "ơơơơ"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Split(tc.text, tc.max)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("Split = %q, want %q", got, tc.want)
			}
			for _, p := range got {
				if n := utf8.RuneCountInString(p); n > tc.max || !utf8.ValidString(p) {
					t.Errorf("part %q has %d runes (max %d) or is not UTF-8", p, n, tc.max)
				}
			}
		})
	}
}

func TestSplitZeroLimitEnds(t *testing.T) {
	if got := Split("abc", 0); len(got) != 3 {
		t.Fatalf("Split with limit 0 = %q, want one rune a part", got)
	}
}
