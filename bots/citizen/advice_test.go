package citizen

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
)

func vnTime(s string) *time.Time {
	t, err := time.Parse("2006-01-02 15:04 -0700", s+" +0700")
	if err != nil {
		panic(err)
	}
	return &t
}

// Every status × every timing gets advice that matches the facts: nobody
// is told to wait for an appointment date already past, or for one there
// is none of.
func TestAdviceForEveryStatusAndTiming(t *testing.T) {
	tr, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	now := *vnTime("2026-11-22 10:00")
	b := New(nil, nil, nil, nil, nil, tr, WithClock(func() time.Time { return now }))
	const agency = "UBND phường Hải Châu"
	timings := []struct {
		name          string
		due, finished *time.Time
		suffix        map[dossier.Status]string // the timing shown after the status, by status
	}{
		{"due ahead", vnTime("2026-11-25 17:00"), nil, nil},
		{"due later today", vnTime("2026-11-22 17:00"), nil, nil},
		{"overdue", vnTime("2026-11-20 17:00"), nil,
			map[dossier.Status]string{dossier.DaTiepNhan: " (quá hạn 2 ngày)", dossier.DangXuLy: " (quá hạn 2 ngày)"}},
		{"no appointment date", nil, nil, nil},
		{"result early", vnTime("2026-11-20 17:00"), vnTime("2026-11-19 09:00"),
			map[dossier.Status]string{dossier.DaTiepNhan: " (quá hạn 2 ngày)", dossier.DangXuLy: " (quá hạn 2 ngày)", dossier.DaXuLyXong: " (trước hạn 1 ngày)", dossier.DaTraKetQua: " (trước hạn 1 ngày)"}},
		{"result on the day", vnTime("2026-11-20 17:00"), vnTime("2026-11-20 18:00"),
			map[dossier.Status]string{dossier.DaTiepNhan: " (quá hạn 2 ngày)", dossier.DangXuLy: " (quá hạn 2 ngày)", dossier.DaXuLyXong: " (đúng hạn)", dossier.DaTraKetQua: " (đúng hạn)"}},
		{"result late", vnTime("2026-11-20 17:00"), vnTime("2026-11-21 08:00"),
			map[dossier.Status]string{dossier.DaTiepNhan: " (quá hạn 2 ngày)", dossier.DangXuLy: " (quá hạn 2 ngày)", dossier.DaXuLyXong: " (quá hạn 1 ngày)", dossier.DaTraKetQua: " (quá hạn 1 ngày)"}},
	}
	overdueAdvice := "hồ sơ đã quá ngày hẹn trả 20/11/2026. Vui lòng liên hệ " + agency + " để hỏi tiến độ; cơ quan phải có văn bản xin lỗi và hẹn lại ngày trả."
	noDueAdvice := "hồ sơ đang được giải quyết nhưng hệ thống chưa có ngày hẹn trả; vui lòng hỏi " + agency + " hoặc xem giấy tiếp nhận."
	fixed := map[dossier.Status]string{
		dossier.MoiDangKy:          "chờ cơ quan kiểm tra và tiếp nhận hồ sơ; bạn sẽ nhận giấy hẹn trả kết quả.",
		dossier.KhongTiepNhan:      "xem văn bản nêu lý do không tiếp nhận; liên hệ " + agency + " nếu cần nộp lại.",
		dossier.ChoBoSung:          "bổ sung giấy tờ theo yêu cầu tại " + agency + " hoặc trực tuyến; thời hạn giải quyết tạm dừng đến khi bổ sung đủ.",
		dossier.ChoNghiaVuTaiChinh: "nộp phí, lệ phí theo thông báo để hồ sơ được tiếp tục giải quyết.",
		dossier.DaRut:              "không cần làm gì thêm.",
		dossier.DungXuLy:           "liên hệ " + agency + " để biết lý do và hướng xử lý.",
		dossier.DaXuLyXong:         "mang giấy hẹn và giấy tờ tùy thân đến " + agency + " để nhận kết quả.",
		dossier.DaTraKetQua:        "cảm ơn bạn đã sử dụng dịch vụ công.",
	}
	// want is the advice for the two in-progress states, by timing.
	inProgress := map[string]map[dossier.Status]string{
		"due ahead": {dossier.DaTiepNhan: "hồ sơ được chuyển xử lý; vui lòng chờ đến ngày hẹn trả 25/11/2026.",
			dossier.DangXuLy: "vui lòng chờ đến ngày hẹn trả 25/11/2026; không cần làm gì thêm lúc này."},
		"due later today": {dossier.DaTiepNhan: "hồ sơ được chuyển xử lý; vui lòng chờ đến ngày hẹn trả 22/11/2026.",
			dossier.DangXuLy: "vui lòng chờ đến ngày hẹn trả 22/11/2026; không cần làm gì thêm lúc này."},
		"overdue":             {dossier.DaTiepNhan: overdueAdvice, dossier.DangXuLy: overdueAdvice},
		"no appointment date": {dossier.DaTiepNhan: noDueAdvice, dossier.DangXuLy: noDueAdvice},
		"result early":        {dossier.DaTiepNhan: overdueAdvice, dossier.DangXuLy: overdueAdvice},
		"result on the day":   {dossier.DaTiepNhan: overdueAdvice, dossier.DangXuLy: overdueAdvice},
		"result late":         {dossier.DaTiepNhan: overdueAdvice, dossier.DangXuLy: overdueAdvice},
	}
	for _, s := range dossier.AllStatuses() {
		for _, tm := range timings {
			d := dossier.Dossier{Code: "000.00.20.H17-261102-0004", ProcedureName: "Đăng ký tạm trú", Agency: agency,
				Status: s, DueAt: tm.due}
			if s.HasResult() {
				d.FinishedAt = tm.finished
			}
			want, ok := fixed[s]
			if !ok {
				want = inProgress[tm.name][s]
			}
			for _, lang := range []string{"vi", "en"} {
				tn := &turn{ctx: context.Background(), caps: message.RichCaps(), lang: lang, now: now}
				text := b.statusReply(tn, d).Text
				past := tm.due != nil && tm.due.Before(now)
				if past && (strings.Contains(text, "chờ đến ngày hẹn") || strings.Contains(text, "wait until the due date")) {
					t.Errorf("%v, %s, %s: told to wait for a date already past:\n%s", s, tm.name, lang, text)
				}
				if lang != "vi" {
					continue
				}
				if !strings.Contains(text, "\nTiếp theo: "+want+"\n") && !strings.HasSuffix(text, "\nTiếp theo: "+want) {
					t.Errorf("%v, %s: advice\n%s\nwant %q", s, tm.name, text, want)
				}
				head := tr.T("vi", "status_"+itoa(int(s)), i18n.Data{"Due": fmtDate(d.DueAt), "Finished": fmtDate(d.FinishedAt)})
				if line := "Tình trạng: " + head + tm.suffix[s]; !strings.Contains(text, line+"\n") {
					t.Errorf("%v, %s: status line\n%s\nwant %q", s, tm.name, text, line)
				}
			}
		}
	}
}

func itoa(n int) string {
	if n >= 10 {
		return string(rune('0'+n/10)) + string(rune('0'+n%10))
	}
	return string(rune('0' + n))
}
