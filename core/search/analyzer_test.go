package search

import (
	"math"
	"strings"
	"testing"

	"github.com/dvcbot/dvcbot/core/vntext"
)

func mustAnalyzer(t *testing.T) *Analyzer {
	t.Helper()
	a, err := NewAnalyzer()
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestVietnameseSyllable(t *testing.T) {
	for _, tc := range []struct {
		w    string
		want bool
	}{
		{"the", true}, {"an", true}, {"to", true}, {"can", true}, {"nghieng", true}, {"khuyen", true},
		{"thuong", true}, {"gia", true}, {"a", true},
		{"birth", false}, {"card", false}, {"tax", false}, {"land", false}, {"registration", false},
		{"id", false}, {"death", false}, {"house", false}, {"cccd", false}, {"gplx", false},
	} {
		if got := vietnameseSyllable(tc.w); got != tc.want {
			t.Errorf("vietnameseSyllable(%q) = %v", tc.w, got)
		}
	}
}

func TestIsEnglish(t *testing.T) {
	a := mustAnalyzer(t)
	for _, tc := range []struct {
		q    string
		want bool
	}{
		{"birth registration", true},
		{"renew the id card", true},
		{"how to get a driving license", true},
		{"the can cuoc", false}, // thẻ căn cước
		{"cap lai cccd", false},
		{"gplx", false},
		{"lam the bhyt", false},
		{"dang ky visa", false},
	} {
		if got := a.isEnglish(foldWords(splitWords(vntext.Words(tc.q)))); got != tc.want {
			t.Errorf("isEnglish(%q) = %v", tc.q, got)
		}
	}
}

// The analysed query has (weight > 0) or lacks (weight 0) these terms.
func TestAnalyzeQueries(t *testing.T) {
	a := mustAnalyzer(t)
	tests := []struct {
		name, q string
		has     map[string]float64 // term → weight (exact)
		lacks   []string
		changes bool // names a change to a paper (actions.txt)
		paper   bool // asks for a paper (requests.txt)
	}{
		{name: "a request verb reads as cấp", q: "xin giay phep xay dung",
			has:   map[string]float64{"cap giay": requestWeight * phraseBoost, "giay phep": phraseBoost},
			lacks: []string{"xin", "cap"}, paper: true}, // "cấp" alone says nothing
		{name: "làm in a question phrase is a filler", q: "lam sao de dang ky khai sinh",
			has: map[string]float64{"dang ky": phraseBoost, "khai sinh": phraseBoost}, lacks: []string{"cap", "lam", "sao"}},
		{name: "a request verb alone is dropped", q: "xin cap ho chieu",
			has: map[string]float64{"cap ho": phraseBoost}, lacks: []string{"xin", "xin cap"}, paper: true},
		{name: "a paper named", q: "giay chung nhan quyen su dung dat", paper: true},
		{name: "a paper through a synonym", q: "so do", paper: true},
		{name: "no paper", q: "dang ky ket hon"},
		{name: "synonyms see fillers: giấy tờ xe", q: "giay to xe bi mat",
			has: map[string]float64{"ky xe": phraseBoost / math.Sqrt(5.0/3)}, lacks: []string{"giay to", "to xe"}, changes: true},
		{name: "synonyms see request verbs: làm lại", q: "lam lai giay khai sinh",
			has: map[string]float64{"cap lai": phraseBoost}, changes: true, paper: true},
		{name: "English through the glossary", q: "birth registration",
			has:   map[string]float64{"dang ky": phraseBoost, "khai sinh": phraseBoost, "ky khai": phraseBoost},
			lacks: []string{"birth", "registration"}},
		{name: "the help's example", q: "FIND birth registration",
			has: map[string]float64{"dang ky": phraseBoost, "khai sinh": phraseBoost}, lacks: []string{"find"}},
		{name: "English fillers only in English", q: "the birth certificate of my son",
			has: map[string]float64{"khai sinh": phraseBoost}, lacks: []string{"the", "of", "my"}},
		{name: "translations do not pair across their edges", q: "business permit",
			has: map[string]float64{"kinh doanh": phraseBoost, "giay phep": phraseBoost}, lacks: []string{"doanh giay"}, paper: true},
		{name: "thẻ stays Vietnamese", q: "the bhyt",
			has: map[string]float64{"the": 1, "the bhyt": phraseBoost}, paper: true},
		{name: "an unambiguous English word in a Vietnamese query", q: "dang ky passport",
			has: map[string]float64{"ho chieu": phraseBoost}, lacks: []string{"passport"}, paper: true},
		{name: "a slash between letters separates words", q: "cap lai dang ky/bien so",
			has: map[string]float64{"ky bien": phraseBoost, "bien so": phraseBoost}, lacks: []string{"ky/bien"}, changes: true},
		{name: "a slash between digits does not", q: "quyet dinh 30/4/1975",
			has: map[string]float64{"30/4/1975": 1}},
		{name: "renewal names a change", q: "citizen ID renewal",
			has: map[string]float64{"cap doi": phraseBoost, "the can": phraseBoost}, changes: true, paper: true},
		{name: "a lost paper names a replacement", q: "cccd bi mat", changes: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := a.Query(tc.q)
			got := map[string]float64{}
			for _, term := range q.Terms {
				got[term.Text] = term.Weight
			}
			for term, w := range tc.has {
				if g := got[term]; g < w-1e-9 || g > w+1e-9 {
					t.Errorf("%q: term %q weighs %v, want %v (terms %v)", tc.q, term, g, w, q.Terms)
				}
			}
			for _, term := range tc.lacks {
				if _, ok := got[term]; ok {
					t.Errorf("%q: has term %q (terms %v)", tc.q, term, q.Terms)
				}
			}
			if (q.Actions != 0) != tc.changes {
				t.Errorf("%q: actions %b, want a change: %v", tc.q, q.Actions, tc.changes)
			}
			if q.Paper != tc.paper {
				t.Errorf("%q: asks for a paper: %v", tc.q, q.Paper)
			}
		})
	}
}

func TestSplitName(t *testing.T) {
	for _, tc := range []struct{ name, head, note string }{
		{"Cấp lại thẻ căn cước", "Cấp lại thẻ căn cước", ""},
		// A short qualifier stays in the name.
		{"Cấp hộ chiếu phổ thông ở trong nước (thực hiện tại cấp tỉnh)", "Cấp hộ chiếu phổ thông ở trong nước thực hiện tại cấp tỉnh", ""},
		// A list of sub-cases does not.
		{"Cấp giấy phép xây dựng mới đối với công trình cấp III, cấp IV (Công trình không theo tuyến/Theo tuyến trong đô thị/Tín ngưỡng (a)) và nhà ở riêng lẻ",
			"Cấp giấy phép xây dựng mới đối với công trình cấp III, cấp IV và nhà ở riêng lẻ",
			"Công trình không theo tuyến/Theo tuyến trong đô thị/Tín ngưỡng a"},
		{"Cấp lại thẻ (một hai ba bốn năm sáu bảy) (thực hiện tại cấp tỉnh)", "Cấp lại thẻ một hai ba bốn năm sáu bảy thực hiện tại cấp tỉnh", ""},
		{"Giấy phép (không đóng", "Giấy phép không đóng", ""},
		{"Giấy phép (một hai ba bốn năm sáu bảy tám", "Giấy phép", "một hai ba bốn năm sáu bảy tám"},
		{"Lạ) thường", "Lạ) thường", ""},
	} {
		head, note := splitName(tc.name)
		// Compared as words: parentheses and spaces separate them alike.
		words := func(x string) string { return strings.Join(vntext.Words(x), " ") }
		head, note = words(head), words(note)
		if head != words(tc.head) || note != words(tc.note) {
			t.Errorf("splitName(%q) = %q, %q; want %q, %q", tc.name, head, note, tc.head, tc.note)
		}
	}
}

func TestDocFirstTime(t *testing.T) {
	a := mustAnalyzer(t)
	for _, tc := range []struct {
		name  string
		first bool
	}{
		{"Cấp giấy phép xây dựng mới đối với công trình cấp III, cấp IV và nhà ở riêng lẻ", true},
		{"Thủ tục cấp mới giấy phép hành nghề khám bệnh, chữa bệnh.", true},
		{"Đăng ký thuế lần đầu đối với người nộp thuế là cá nhân", true},
		{"Cấp giấy phép xây dựng sửa chữa, cải tạo", false},
		{"Thẩm định báo cáo đánh giá tác động môi trường mới", false}, // môi is no mới
	} {
		if got := a.docFirstTime(tc.name); got != tc.first {
			t.Errorf("docFirstTime(%q) = %v", tc.name, got)
		}
	}
}

func TestDocActions(t *testing.T) {
	a := mustAnalyzer(t)
	for _, tc := range []struct {
		name   string
		change bool
	}{
		{"Cấp giấy phép lái xe", false},
		{"Cấp giấy phép xây dựng mới đối với công trình cấp III, cấp IV", false}, // "đối" is no "đổi" this far in
		{"Thủ tục đăng ký khai sinh", false},
		{"Thủ tục đăng ký lại khai sinh", true},
		{"Đổi giấy phép lái xe", true},
		{"Cấp đổi Giấy chứng nhận quyền sử dụng đất", true},
		{"Cấp điều chỉnh giấy phép xây dựng", true},
		{"Gia hạn tạm trú", true},
		{"Xóa đăng ký thường trú", true},
		{"Tích hợp, cập nhật, điều chỉnh thông tin trên thẻ căn cước", false}, // not how it starts
	} {
		if got := a.docActions(tc.name) != 0; got != tc.change {
			t.Errorf("docActions(%q) change = %v", tc.name, got)
		}
	}
}
