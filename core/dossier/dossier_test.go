package dossier

import (
	"encoding/json"
	"testing"
	"time"
)

func ts(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func TestTiming(t *testing.T) {
	now := *ts("2024-03-10T09:00:00+07:00")
	due := ts("2024-03-08T17:00:00+07:00")
	tests := []struct {
		name     string
		d        Dossier
		want     Timing
		wantDays int
	}{
		{"no due date", Dossier{Status: DangXuLy}, TimingNone, 0},
		{"in progress, overdue", Dossier{Status: DangXuLy, DueAt: due}, TimingOverdue, 2},
		{"accepted, overdue", Dossier{Status: DaTiepNhan, DueAt: due}, TimingOverdue, 2},
		{"in progress, same day but later hour", Dossier{Status: DangXuLy, DueAt: ts("2024-03-10T08:00:00+07:00")}, TimingOverdue, 1},
		{"in progress, on track", Dossier{Status: DangXuLy, DueAt: ts("2024-03-12T17:00:00+07:00")}, TimingOnTrack, 0},
		{"paused: supplement", Dossier{Status: ChoBoSung, DueAt: due}, TimingNone, 0},
		{"paused: fees", Dossier{Status: ChoNghiaVuTaiChinh, DueAt: due}, TimingNone, 0},
		{"paused: stopped", Dossier{Status: DungXuLy, DueAt: due}, TimingNone, 0},
		{"refused", Dossier{Status: KhongTiepNhan, DueAt: due}, TimingNone, 0},
		{"early result", Dossier{Status: DaXuLyXong, DueAt: due, FinishedAt: ts("2024-03-07T10:00:00+07:00")}, TimingEarly, 1},
		{"on time result, late hour", Dossier{Status: DaTraKetQua, DueAt: due, FinishedAt: ts("2024-03-08T20:00:00+07:00")}, TimingOnTime, 0},
		{"late result", Dossier{Status: DaTraKetQua, DueAt: due, FinishedAt: ts("2024-03-09T08:00:00+07:00")}, TimingOverdue, 1},
		// 23:30 UTC on the 7th is the 8th in Vietnam: the day counts in local time.
		{"day in Vietnam time", Dossier{Status: DaXuLyXong, DueAt: due, FinishedAt: ts("2024-03-07T23:30:00Z")}, TimingOnTime, 0},
	}
	for _, tc := range tests {
		got, days := tc.d.Timing(now)
		if got != tc.want || days != tc.wantDays {
			t.Errorf("%s: Timing = %v, %d; want %v, %d", tc.name, got, days, tc.want, tc.wantDays)
		}
	}
}

func TestMaskName(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Nguyễn Văn An", "Nguyễn V. A."},
		{"NGUYỄN VĂN AN", "Nguyễn V. A."},
		{"Đặng Thị Ánh Tuyết", "Đặng T. Á. T."},
		{"NguyễnVănAn", "Nguyễn V. A."},            // camel-joined
		{"Nguyễn-Văn-An", "Nguyễn V. A."},          // hyphenated
		{"Nguyễn Văn-An", "Nguyễn V. A."},          // partly hyphenated
		{"  Nguyễn   Văn \t An  ", "Nguyễn V. A."}, // extra blanks
		{"Lê", "L."}, // one word: never shown whole
		{"lê", "L."},
		{"NGUYỄNVĂNAN", "N."}, // one capitalised run cannot be split: initial only
		{"Nguyễn.V.An", "Nguyễn V. A."},
		{"Nguyê\u0303n Văn An", "Nguyễn V. A."}, // decomposed accents
		{"  ", ""},
		{"", ""},
	} {
		if got := MaskName(tc.in); got != tc.want {
			t.Errorf("MaskName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]Status{`"DANG_XU_LY"`: DangXuLy, `4`: DangXuLy, `"10"`: DaTraKetQua, `"da_rut"`: DaRut} {
		got, err := ParseStatus(json.RawMessage(in))
		if err != nil || got != want {
			t.Errorf("ParseStatus(%s) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{`0`, `11`, `"XONG"`, `{}`, `true`, `4.5`} {
		if _, err := ParseStatus(json.RawMessage(in)); err == nil {
			t.Errorf("ParseStatus(%s) accepted", in)
		}
	}
	for _, s := range AllStatuses() {
		back, err := ParseStatusCode(s.Code())
		if err != nil || back != s {
			t.Errorf("round trip of %v", s)
		}
	}
}
