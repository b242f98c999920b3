package citizen

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
)

// The rendering part of a status reply, without the store: i18n, the
// reply's lines, GSM-7 rendering and the cut to the SMS budget.
func BenchmarkRenderStatus(b *testing.B) {
	tr, err := i18n.New()
	if err != nil {
		b.Fatal(err)
	}
	bot := New(nil, nil, nil, nil, nil, tr, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	now := time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC)
	received, due := now.AddDate(0, 0, -3), now.AddDate(0, 0, 10)
	d := dossier.Dossier{
		Code: "000.00.20.H17-261102-0004", ProcedureName: "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh",
		Agency: "UBND quận Hải Châu", ApplicantName: "Nguyễn Văn An", ApplicantPhone: "84905123456",
		ReceivedAt: &received, DueAt: &due, Status: dossier.DangXuLy,
	}
	long := d
	long.Note = strings.Repeat("Bổ sung bản sao giấy chứng nhận đăng ký hộ kinh doanh có chứng thực. ", 4)
	for _, bc := range []struct {
		name string
		d    dossier.Dossier
		caps message.Capabilities
	}{
		{"sms", d, message.SMSCaps(2, false)},
		{"sms-cut", long, message.SMSCaps(2, false)},
		{"sms-accents-cut", long, message.SMSCaps(2, true)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			in := message.Inbound{Channel: message.SMS, UserID: "84905123456", Phone: "84905123456", Text: "DVC " + d.Code, Time: now}
			for b.Loop() {
				tn := &turn{ctx: context.Background(), in: in, caps: bc.caps, lang: i18n.Default, now: now}
				if r := bot.render(tn, bot.statusReply(tn, bc.d)); r.Text == "" {
					b.Fatal("empty reply")
				}
			}
		})
	}
}
