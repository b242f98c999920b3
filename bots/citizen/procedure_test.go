package citizen

import (
	"strings"
	"testing"

	"github.com/dvcbot/dvcbot/core/vntext"
)

func TestCleanTimeLimit(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1 (không ghi đơn vị)", ""},
		{"5 (Không ghi đơn vị)", ""},
		{"", ""},
		{"5 Ngày làm việc", "5 ngày làm việc"},
		{"20 Ngày", "20 ngày"},
		{"Trực tuyến: 15 Ngày; Dịch vụ bưu chính: 15 Ngày; Trực tiếp: 15 Ngày", "15 ngày"},
		{"Trực tuyến: 15 Ngày; Dịch vụ bưu chính: 15 Ngày; Trực tiếp: 25 Ngày", "Trực tuyến, Dịch vụ bưu chính: 15 ngày; Trực tiếp: 25 ngày"},
		{"Trực tuyến: 2 Ngày làm việc; Dịch vụ bưu chính: 2 Ngày làm việc; Trực tiếp: 2 Ngày làm việc; Trực tiếp: 3 Ngày làm việc; Trực tuyến: 3 Ngày làm việc",
			"Trực tuyến, Dịch vụ bưu chính, Trực tiếp: 2 ngày làm việc; Trực tiếp, Trực tuyến: 3 ngày làm việc"},
		{"Trực tuyến: 1 (không ghi đơn vị); Trực tiếp: 5 Ngày làm việc", "5 ngày làm việc"},
	} {
		if got := cleanTimeLimit(tc.in); got != tc.want {
			t.Errorf("cleanTimeLimit(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCleanFee(t *testing.T) {
	for _, tc := range []struct{ fee, charge, want string }{
		{"Miễn phí", "", "Miễn phí"},
		{"Lệ phí: 8.000 đồng/bản", "Lệ phí: 8.000 đồng/bản", "Lệ phí: 8.000 đồng/bản"}, // entered as phí and lệ phí
		{"Miễn phí (Miễn lệ phí.) | Miễn phí ( (Miễn lệ phí.))", "", "Miễn phí (Miễn lệ phí.)"},
		{"70,000 Việt Nam Đồng | Trả kết quả qua dịch vụ bưu chính, trả phí theo quy định.", "",
			"70,000 Việt Nam Đồng; Trả kết quả qua dịch vụ bưu chính, trả phí theo quy định."},
		{"50.000 đồng", "50.000 đồng/lần cấp", "50.000 đồng/lần cấp"}, // one contains the other
		{"", "", ""},
	} {
		if got := cleanFee(tc.fee, tc.charge); got != tc.want {
			t.Errorf("cleanFee(%q, %q) = %q, want %q", tc.fee, tc.charge, got, tc.want)
		}
	}
}

func TestCleanResult(t *testing.T) {
	for in, want := range map[string]string{
		"Giấy khai sinhMã: KQ.G15.000031Từ khóaKhông có thông tinMô tả": "Giấy khai sinh",
		"Thẻ căn cước": "Thẻ căn cước",
		"Mã: KQ.G01":   "",
	} {
		if got := cleanResult(in); got != want {
			t.Errorf("cleanResult(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFitSMS(t *testing.T) {
	const hint = "Gui THEM de doc tiep"
	lines := func(n int, l string) string { return strings.TrimSuffix(strings.Repeat(l+"\n", n), "\n") }
	line50 := strings.Repeat("abcd ", 9) + "abcd."                 // 50 characters
	long := strings.TrimSpace(strings.Repeat("tu dai ", 60)) + "." // one 419-character sentence
	for _, tc := range []struct {
		name, text, want, rest string
	}{
		{"fits", "Ho so 1\nTinh trang: xong", "Ho so 1\nTinh trang: xong", ""},
		{"cut at a line", lines(8, line50), lines(5, line50) + "\n" + hint, lines(3, line50)},
		// 306 characters in two segments, less the ellipsis, the newline and
		// the hint: 282 characters, the last word whole.
		{"cut in a sentence", long, strings.Repeat("tu dai ", 40) + "tu...\n" + hint,
			"...dai " + strings.TrimSpace(strings.Repeat("tu dai ", 19)) + "."},
	} {
		got, rest := fitSMS(tc.text, hint, 2)
		if got != tc.want || rest != tc.rest {
			t.Errorf("%s:\ngot  %q, rest %q\nwant %q, rest %q", tc.name, got, rest, tc.want, tc.rest)
		}
		if n := vntext.CountSMS(got).Segments; n > 2 {
			t.Errorf("%s: %d segments", tc.name, n)
		}
	}
}
