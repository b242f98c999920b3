package vntext

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

func TestFoldAndUnaccent(t *testing.T) {
	tests := []struct{ in, fold, unaccent string }{
		{"Căn CƯỚC công dân", "can cuoc cong dan", "Can CUOC cong dan"},
		{"Đăng ký khai sinh", "dang ky khai sinh", "Dang ky khai sinh"},
		{"đường Đỗ", "duong do", "duong Do"},
		{norm.NFD.String("Hồ sơ của ông Đặng Văn Lưỡng"), "ho so cua ong dang van luong", "Ho so cua ong Dang Van Luong"},
		{"ỳỷỹỵý ỲỶỸỴÝ", "yyyyy yyyyy", "yyyyy YYYYY"},
		{"ăâêôơư", "aaeoou", "aaeoou"},
		{"GPLX 1.001612", "gplx 1.001612", "GPLX 1.001612"},
	}
	for _, tc := range tests {
		if got := Fold(tc.in); got != tc.fold {
			t.Errorf("Fold(%q) = %q, want %q", tc.in, got, tc.fold)
		}
		if got := Unaccent(tc.in); got != tc.unaccent {
			t.Errorf("Unaccent(%q) = %q, want %q", tc.in, got, tc.unaccent)
		}
	}
}

func TestHasDiacritics(t *testing.T) {
	for in, want := range map[string]bool{
		"tim cap lai can cuoc": false, "tìm cấp lại": true, "đ": true, "ABC 123": false,
		norm.NFD.String("sơ"): true,
	} {
		if got := HasDiacritics(in); got != want {
			t.Errorf("HasDiacritics(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Tìm: cấp lại CCCD, nhanh!", []string{"tìm", "cấp", "lại", "cccd", "nhanh"}},
		{"thủ tục 1.001612.", []string{"thủ", "tục", "1.001612"}},
		{norm.NFD.String("Hộ tịch"), []string{"hộ", "tịch"}},
		{"  ", nil},
	}
	for _, tc := range tests {
		if got := Words(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Words(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStripHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>Bước 1:&nbsp;Nộp hồ sơ</p><p>Bước 2: Nhận&#160;kết quả</p>", "Bước 1: Nộp hồ sơ\nBước 2: Nhận kết quả"},
		{"a &amp; b &lt;c&gt; &#x110;", "a & b <c> Đ"},
		{"dòng 1\r\ndòng 2", "dòng 1\ndòng 2"},
		{"5 < 6 & x", "5 < 6 & x"},
		{"không có HTML", "không có HTML"},
	}
	for _, tc := range tests {
		if got := StripHTML(tc.in); got != tc.want {
			t.Errorf("StripHTML(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCountSMS(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		enc      Encoding
		units    int
		segments int
	}{
		{"empty", "", GSM7, 0, 0},
		{"160 plain", strings.Repeat("A", 160), GSM7, 160, 1},
		{"161 plain", strings.Repeat("A", 161), GSM7, 161, 2},
		{"euro fits", strings.Repeat("A", 155) + "€", GSM7, 157, 1},
		{"euro overflows", strings.Repeat("A", 159) + "€", GSM7, 161, 2},
		{"esc pair not split", strings.Repeat("A", 152) + "€" + strings.Repeat("A", 10), GSM7, 164, 2},
		{"306 in two", strings.Repeat("A", 306), GSM7, 306, 2},
		{"307 in three", strings.Repeat("A", 307), GSM7, 307, 3},
		{"70 ucs2", strings.Repeat("ệ", 70), UCS2, 70, 1},
		{"71 ucs2", strings.Repeat("ệ", 71), UCS2, 71, 2},
		{"nfd counted as nfc", norm.NFD.String(strings.Repeat("ệ", 70)), UCS2, 70, 1},
		{"accented gsm chars stay 7-bit", "àèéìòù É", GSM7, 8, 1},
		{"emoji pair", strings.Repeat("a", 66) + "😀", UCS2, 68, 1},
		{"emoji pair not split", strings.Repeat("a", 66) + "😀" + strings.Repeat("a", 3), UCS2, 71, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CountSMS(tc.in)
			if got.Encoding != tc.enc || got.Units != tc.units || got.Segments != tc.segments {
				t.Fatalf("CountSMS = %+v, want %v/%d/%d", got, tc.enc, tc.units, tc.segments)
			}
		})
	}
}

func TestToGSM(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Hồ sơ của ông Đặng Văn Lưỡng đã được tiếp nhận", "Ho so cua ong Dang Van Luong da duoc tiep nhan"},
		{"“Hẹn trả” – 05/03…", `"Hen tra" - 05/03...`},
		{"phí 50.000\u00a0đồng", "phi 50.000 dong"},
		{"emoji 😀 ở đây", "emoji ? o day"},
	}
	for _, tc := range tests {
		got := ToGSM(tc.in)
		if got != tc.want {
			t.Errorf("ToGSM(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !IsGSM7(got) {
			t.Errorf("ToGSM(%q) is not GSM-7", tc.in)
		}
	}
}

func TestFitSMS(t *testing.T) {
	long := strings.Repeat("Ho so dang giai quyet ", 30)
	got, cut := FitSMS(long, "Gui THEM de xem tiep", 2)
	if !cut {
		t.Fatal("expected a cut")
	}
	if c := CountSMS(got); c.Segments > 2 {
		t.Fatalf("fitted text needs %d segments", c.Segments)
	}
	if !strings.HasSuffix(got, " Gui THEM de xem tiep") {
		t.Fatalf("missing pointer: %q", got)
	}
	body := strings.TrimSuffix(got, " Gui THEM de xem tiep")
	if !strings.HasPrefix(long, body) || long[len(body)] != ' ' {
		t.Fatalf("cut is not a prefix ending on a word boundary: %q", body)
	}
	short := "Da tiep nhan"
	if got, cut := FitSMS(short, "x", 1); got != short || cut {
		t.Fatalf("short text changed: %q %v", got, cut)
	}
	uni := strings.Repeat("Hồ sơ ", 40)
	got, _ = FitSMS(uni, "Gửi THÊM", 2)
	if c := CountSMS(got); c.Segments > 2 || c.Encoding != UCS2 {
		t.Fatalf("ucs2 fit: %+v", c)
	}
}

func FuzzCountSMS(f *testing.F) {
	for _, s := range []string{"", "Hồ sơ", "€€€", strings.Repeat("a", 200), "😀x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := CountSMS(s)
		if s != "" && c.Segments < 1 {
			t.Fatalf("no segments for %q", s)
		}
		g := ToGSM(s)
		if !IsGSM7(g) {
			t.Fatalf("ToGSM(%q) = %q is not GSM-7", s, g)
		}
		fit, _ := FitSMS(g, "Gui THEM", 2)
		if CountSMS(fit).Segments > 2 {
			t.Fatalf("FitSMS(%q) needs %d segments", g, CountSMS(fit).Segments)
		}
	})
}

func TestScanFoldedMatchesFoldWords(t *testing.T) {
	for _, s := range []string{
		"Tìm: cấp lại CCCD, nhanh!", "thủ tục 1.001612.", norm.NFD.String("Hộ tịch Đà Nẵng"),
		"Giấy phép lái xe hạng A1/B2", "  ", "ĐĂNG KÝ – KẾT HÔN (có yếu tố nước ngoài)", "a.b. c/",
	} {
		var got []string
		ScanFolded(NFC(s), func(w []byte) bool { got = append(got, string(w)); return true })
		if want := FoldWords(s); !reflect.DeepEqual(got, want) {
			t.Errorf("ScanFolded(%q) = %q, FoldWords = %q", s, got, want)
		}
	}
	n := 0
	ScanFolded("mot hai ba bon", func([]byte) bool { n++; return n < 2 })
	if n != 2 {
		t.Errorf("stopping after 2 words scanned %d", n)
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"Miễn phí":      "Miễn phí",
		"  Miễn   phí ": "Miễn phí",
		"<p>Bước 1:&nbsp;Nộp hồ sơ</p>\r\n<p>Bước 2</p>": "Bước 1: Nộp hồ sơ\nBước 2",
		"dòng 1\n\n\ndòng 2\n":                           "dòng 1\ndòng 2",
		"a\tb\u00a0c\u3000d":                             "a b c d",
		"Ho\u0302\u0300 so\u031b":                        "Hồ sơ", // NFD in, NFC out
		"":                                               "",
		"\n \n":                                          "",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

// squeezed is only a shortcut: whenever it says yes, the long way agrees.
func FuzzSqueezed(f *testing.F) {
	for _, s := range []string{"a b", "a  b", " a", "a ", "a\nb", "a\n\nb", "a\u00a0b", "a\tb", "ồ\n", "\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Split(s, "\n")
		out := lines[:0]
		for _, l := range lines {
			if l = strings.Join(strings.Fields(l), " "); l != "" {
				out = append(out, l)
			}
		}
		long := strings.Join(out, "\n")
		if squeezed(s) != (long == s) {
			t.Errorf("squeezed(%q) = %v, but squeezing gives %q", s, squeezed(s), long)
		}
	})
}
