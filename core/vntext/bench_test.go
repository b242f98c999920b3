package vntext

import (
	"strings"
	"testing"
)

// A status reply as the citizen bot builds it (Vietnamese, several lines),
// its GSM-7 rendering, and a long GSM-7 text that needs cutting.
var (
	benchStatusVI = "Hồ sơ 000.00.20.H17-261102-0004\n" +
		"Tình trạng: Hồ sơ đang được giải quyết, hẹn trả ngày 15/11/2026\n" +
		"Đăng ký thay đổi nội dung đăng ký hộ kinh doanh - UBND quận Hải Châu\n" +
		"Người nộp: N*** V** A*\n" +
		"Tiếp theo: vui lòng chờ đến ngày hẹn trả 15/11/2026; không cần làm gì thêm lúc này.\n" +
		"Ngày tiếp nhận: 02/11/2026"
	benchStatusGSM = ToGSM(benchStatusVI)
	benchLongGSM   = strings.Repeat("Ho so dang giai quyet, hen tra ngay 15/11/2026. ", 12)
	benchLongVI    = strings.Repeat("Hồ sơ đang được giải quyết, hẹn trả ngày 15/11/2026. ", 6)
)

func BenchmarkCountSMS(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"gsm", benchStatusGSM}, {"vi", benchStatusVI}, {"long-gsm", benchLongGSM},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CountSMS(bc.s)
			}
		})
	}
}

func BenchmarkToGSM(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"vi", benchStatusVI}, {"ascii", benchStatusGSM},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ToGSM(bc.s)
			}
		})
	}
}

func BenchmarkUnaccent(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"vi", benchStatusVI}, {"ascii", benchStatusGSM},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Unaccent(bc.s)
			}
		})
	}
}

func BenchmarkFitPrefix(b *testing.B) {
	const hint = "...\nGui THEM de doc tiep"
	for _, bc := range []struct{ name, s, suffix string }{
		{"gsm", benchStatusGSM + "\n" + benchLongGSM, hint},
		{"vi", benchStatusVI + "\n" + benchLongVI, "...\nGửi THÊM để đọc tiếp"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				FitPrefix(bc.s, bc.suffix, 2)
			}
		})
	}
}

func BenchmarkFitSMS(b *testing.B) {
	for _, bc := range []struct{ name, s string }{
		{"fits", benchStatusGSM}, {"cut", benchLongGSM},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				FitSMS(bc.s, "", 2)
			}
		})
	}
}
