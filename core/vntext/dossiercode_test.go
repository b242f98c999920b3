package vntext

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

var testNow = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

// stripKeyword mimics what the citizen bot does before ParseCodes.
func stripKeyword(s string) string {
	s = CleanCodeText(s)
	s = strings.TrimLeft(s, " ")
	if strings.HasPrefix(s, "DVC") {
		s = strings.TrimLeft(s[3:], " :#.-")
	}
	return s
}

// The vectors of domain.md §1.6.
func TestParseCodesDomainVectors(t *testing.T) {
	const want = "000.00.06.H56-231027-0361"
	tests := []struct {
		in      string
		kind    CodeKind
		value   string
		short   bool
		problem CodeProblem
	}{
		{"DVC 000.00.06.H56-231027-0361", CodeNational, want, false, ""},
		{"dvc 000.00.06.h56-231027-0361", CodeNational, want, false, ""},
		{"Đvc:000.00.06.H56–231027–0361", CodeNational, want, false, ""},
		{"DVC_000.00.06.H56-231027-0361", CodeNational, want, false, ""},
		{"DVC 000 00 06 H56 231027 0361", CodeNational, want, false, ""},
		{"DVC 000.00.06.H56.231027.0361", CodeNational, want, false, ""},
		{"DVC 000,00,06,H56-231O27-O361", CodeNational, want, false, ""},
		{"DVC 000.00.06.H56\u00a0-\u200b231027 -\u00a00361", CodeNational, want, false, ""},
		{"https://hcc.thanhhoa.gov.vn/portaldvc/KenhTin/tra-cuu.aspx?mahs=000.00.06.H56-231027-0361", CodeNational, want, false, ""},
		{"DVC000.00.06.H56-231027-0361", CodeNational, want, false, ""},
		{"ＤＶＣ ０００.００.０６.Ｈ５６-２３１０２７-０３６１", CodeNational, want, false, ""},
		{"DVC H15.50.05.13-261008-0975", CodeNational, "H15.50.05.13-261008-0975", false, ""},
		{"dvc h21.17 261008 0975", CodeNational, "H21.17-261008-0975", false, ""},
		{"DVC H21.17.261008.0975", CodeNational, "H21.17-261008-0975", false, ""},
		{"DVC H21-261008-0975123", CodeNational, "H21-261008-0975123", false, ""},
		{"DVC 000.00.06.H56-231027-361", CodeNational, want, true, ""},
		{"DVC 000.00.06.H56-231327-0361", CodeMalformed, "", false, ProblemBadDate},
		{"DVC 000.00.06.H56-231027", CodeMalformed, "", false, ProblemMissingSeq},
		{"DVC 000.00.06.H56", CodeMalformed, "", false, ProblemMissingDate},
		{"DVC 000.00.06.H56-170101-0001", CodeMalformed, "", false, ProblemTooOld},
		{"DVC 000.00.06.H56-261201-0001", CodeMalformed, "", false, ProblemFutureDate},
		{"DVC 1.001193", CodeProcedure, "1.001193", false, ""},
		{"DVC T-DNG-286034-TT", CodeProcedure, "T-DNG-286034-TT", false, ""},
		{"DVC 00673810079", CodeLocal, "00673810079", false, ""},
		{"DVC 03706/2026/07906", CodeLocal, "03706/2026/07906", false, ""},
		{"DVC hello", CodeNone, "", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got := ParseCodes(stripKeyword(tc.in), testNow)
			if len(got) != 1 {
				t.Fatalf("got %d codes %+v, want 1", len(got), got)
			}
			c := got[0]
			if c.Kind != tc.kind || c.Value != tc.value || c.ShortSeq != tc.short || c.Problem != tc.problem {
				t.Fatalf("got %+v, want kind=%d value=%q short=%v problem=%q", c, tc.kind, tc.value, tc.short, tc.problem)
			}
		})
	}
}

func TestParseCodesEmptyAndMany(t *testing.T) {
	if got := ParseCodes(stripKeyword("DVC"), testNow); got != nil {
		t.Fatalf("bare keyword: got %+v, want nil", got)
	}
	in := "DVC 000.00.06.H56-231027-0361 000.00.06.H56-231027-0362, H21-261008-0001 H21-261008-0002"
	got := ParseCodes(stripKeyword(in), testNow)
	if len(got) != MaxCodesPerMessage {
		t.Fatalf("got %d codes, want %d: %+v", len(got), MaxCodesPerMessage, got)
	}
	for i, want := range []string{"000.00.06.H56-231027-0361", "000.00.06.H56-231027-0362", "H21-261008-0001"} {
		if got[i].Value != want {
			t.Errorf("code %d = %q, want %q", i, got[i].Value, want)
		}
	}
}

func TestNormalizeDossierCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"000.00.20.H17-240305-0001", "000.00.20.H17-240305-0001", true},
		{" 000.00.20.h17-240305-0001 ", "000.00.20.H17-240305-0001", true},
		{"HS2024001", "HS2024001", true},
		{"000.00.20.H17-240305", "", false},
		{"000.00.20.H17-240305-01", "", false},
		{"1.001193", "", false},
		{"", "", false},
		{"x", "", false},
	}
	for _, tc := range tests {
		got, err := NormalizeDossierCode(tc.in, testNow)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizeDossierCode(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseCodes(f *testing.F) {
	for _, s := range []string{
		"DVC 000.00.06.H56-231027-0361", "dvc h21.17 261008 0975", "DVC 1.001193",
		"https://x.vn/a?mahs=000.00.06.H56-231027-0361", "DVC 000,00,06,H56-231O27-O361",
		"\u200b\u00a0ＤＶＣ", "DVC 03706/2026/07906", "H21.1.2.3.4.5-261008-0001",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, c := range ParseCodes(CleanCodeText(s), testNow) {
			switch c.Kind {
			case CodeNational:
				if !IsNationalCode(c.Value) {
					t.Fatalf("national code %q fails the canonical regexp (input %q)", c.Value, s)
				}
			case CodeMalformed:
				if c.Problem == ProblemNone {
					t.Fatalf("malformed without a problem for %q", s)
				}
			case CodeLocal, CodeProcedure:
				if c.Value == "" || !utf8.ValidString(c.Value) {
					t.Fatalf("empty or invalid value for %q: %+v", s, c)
				}
			}
		}
		// A canonical code survives a round trip unchanged.
		for _, c := range ParseCodes(CleanCodeText(s), testNow) {
			if c.Kind == CodeNational && !c.ShortSeq {
				again := ParseCodes(CleanCodeText(c.Value), testNow)
				if len(again) != 1 || again[0].Value != c.Value {
					t.Fatalf("round trip of %q gave %+v", c.Value, again)
				}
			}
		}
	})
}
