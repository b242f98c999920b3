// Package demo seeds an empty database with a real catalogue excerpt (400
// procedures from the national portal, embedded) and a dozen dossiers that
// cover every status, so a newcomer can try the bot at once.
package demo

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/vntext"
)

//go:embed procedures.jsonl
var proceduresJSONL []byte

// ApplicantPhone is the phone of every demo dossier: text from it and you are
// the applicant.
const ApplicantPhone = "0905123456"

// Procedures returns the embedded demo catalogue.
func Procedures() ([]catalog.Procedure, error) {
	return catalog.ReadJSONL(bytes.NewReader(proceduresJSONL))
}

// Dossier describes one demo dossier.
type Dossier struct {
	Code          string
	Status        dossier.Status
	ProcedureCode string
	ProcedureName string
	Applicant     string
	Note          string
	DueInDays     int  // due date relative to the seed time; 0 = none
	FinishedDays  int  // result reached this many days before the seed time
	Received      bool // has a receipt date
}

// Agency of the demo dossiers.
const Agency = "UBND phường Hải Châu"

// Dossiers lists the demo dossiers; their codes are fixed so the README can
// name them.
func Dossiers() []Dossier {
	return []Dossier{
		{"000.00.20.H17-261102-0001", dossier.MoiDangKy, "1.001193", "Đăng ký khai sinh", "Nguyễn Văn An", "", 0, 0, false},
		{"000.00.20.H17-261102-0002", dossier.DaTiepNhan, "1.004222", "Đăng ký thường trú", "Trần Thị Bích", "", 5, 0, true},
		{"000.00.20.H17-261102-0003", dossier.KhongTiepNhan, "1.000894", "Đăng ký kết hôn", "Lê Văn Cường", "Hồ sơ không thuộc thẩm quyền giải quyết của UBND phường; đề nghị nộp tại Sở Tư pháp.", 0, 0, true},
		{"000.00.20.H17-261102-0004", dossier.DangXuLy, "1.004194", "Đăng ký tạm trú", "Phạm Thị Dung", "Chuyển Công an phường thẩm định", 3, 0, true},
		{"000.00.20.H17-261102-0005", dossier.DangXuLy, "2.000635", "Cấp bản sao trích lục hộ tịch", "Hoàng Văn Em", "", -2, 0, true},
		{"000.00.20.H17-261102-0006", dossier.ChoBoSung, "1.001612", "Đăng ký thành lập hộ kinh doanh", "Võ Thị Giang", "Bổ sung bản sao hợp đồng thuê mặt bằng kinh doanh.", 4, 0, true},
		{"000.00.20.H17-261102-0007", dossier.ChoNghiaVuTaiChinh, "1.000656", "Đăng ký khai tử", "Đặng Văn Hải", "Nộp lệ phí cấp bản sao trích lục: 8.000 đồng/bản.", 2, 0, true},
		{"000.00.20.H17-261102-0008", dossier.DaRut, "2.000815", "Chứng thực bản sao từ bản chính", "Bùi Thị Lan", "Công dân rút hồ sơ theo yêu cầu.", 0, 0, true},
		{"000.00.20.H17-261102-0009", dossier.DungXuLy, "1.003677", "Khai báo tạm vắng", "Đỗ Văn Minh", "Tạm dừng để xác minh thông tin cư trú.", 6, 0, true},
		{"000.00.20.H17-261102-0010", dossier.DaXuLyXong, "1.014064", "Cấp lại thẻ căn cước", "Ngô Thị Ngọc", "Mời công dân mang giấy hẹn đến nhận thẻ.", 2, 1, true},
		{"000.00.20.H17-261102-0011", dossier.DaTraKetQua, "2.000884", "Chứng thực chữ ký", "Dương Văn Phúc", "", 0, 3, true},
		{"000.00.20.H17-240305-0001", dossier.DaTraKetQua, "1.001193", "Đăng ký khai sinh", "Nguyễn Văn An", "", 0, 0, true},
	}
}

// Events turns the demo dossiers into the status events a one-stop system
// would have sent, as of now.
func Events(now time.Time) ([]dossier.Event, error) {
	var out []dossier.Event
	phone := "84" + ApplicantPhone[1:]
	for _, d := range Dossiers() {
		received, err := receiptDate(d.Code)
		if err != nil {
			return nil, err
		}
		doc := dossier.Dossier{
			Code: d.Code, ProcedureCode: d.ProcedureCode, ProcedureName: d.ProcedureName, Agency: Agency,
			ApplicantName: d.Applicant, ApplicantPhone: phone, SubmittedVia: "truc_tuyen", Officer: "Cán bộ một cửa",
		}
		if d.Received {
			doc.ReceivedAt = &received
		}
		if d.DueInDays != 0 {
			due := atFive(now.AddDate(0, 0, d.DueInDays))
			doc.DueAt = &due
		}
		final := now.Add(-time.Hour)
		if d.FinishedDays > 0 {
			final = now.AddDate(0, 0, -d.FinishedDays)
		}
		if d.Code == "000.00.20.H17-240305-0001" { // the contract's example, finished early
			due := time.Date(2024, 3, 8, 10, 0, 0, 0, time.UTC)
			final = time.Date(2024, 3, 7, 8, 30, 0, 0, time.UTC)
			doc.DueAt = &due
		}
		if d.Status.HasResult() {
			f := final
			doc.FinishedAt = &f
			if d.Status == dossier.DaTraKetQua {
				doc.ReturnedAt = &f
			}
		}
		if d.Received && d.Status != dossier.DaTiepNhan {
			ev := dossier.Event{ID: "demo-" + d.Code + "-2", OccurredAt: received, Status: dossier.DaTiepNhan, Dossier: doc}
			ev.Dossier.Status, ev.Dossier.StatusAt, ev.Dossier.LastEventID = ev.Status, ev.OccurredAt, ev.ID
			out = append(out, withPayload(ev))
		}
		occurred := received.Add(time.Hour)
		if d.Status.HasResult() {
			occurred = final
		}
		ev := dossier.Event{ID: fmt.Sprintf("demo-%s-%d", d.Code, int(d.Status)), OccurredAt: occurred, Status: d.Status, Note: d.Note, Dossier: doc}
		ev.Dossier.Status, ev.Dossier.Note, ev.Dossier.StatusAt, ev.Dossier.LastEventID = ev.Status, ev.Note, ev.OccurredAt, ev.ID
		out = append(out, withPayload(ev))
	}
	return out, nil
}

func withPayload(ev dossier.Event) dossier.Event {
	ev.Payload, _ = json.Marshal(map[string]any{"event_id": ev.ID, "status": ev.Status.Code(), "source": "demo"})
	return ev
}

func receiptDate(code string) (time.Time, error) {
	for i := 0; i+7 < len(code); i++ {
		if code[i] == '-' {
			t, err := time.ParseInLocation("060102", code[i+1:i+7], vntext.VietnamTime())
			if err == nil {
				return t.Add(8 * time.Hour).UTC(), nil
			}
		}
	}
	return time.Time{}, fmt.Errorf("demo code %s has no date", code)
}

// atFive is 17:00 Vietnam time on t's day: when one-stop desks close.
func atFive(t time.Time) time.Time {
	l := t.In(vntext.VietnamTime())
	return time.Date(l.Year(), l.Month(), l.Day(), 17, 0, 0, 0, vntext.VietnamTime()).UTC()
}

// Seed loads the demo catalogue and dossiers when the catalogue is empty. It
// reports whether it did.
func Seed(ctx context.Context, cat catalog.Store, dossiers dossier.Store, now time.Time) (bool, error) {
	n, err := cat.CountProcedures(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	procs, err := Procedures()
	if err != nil {
		return false, fmt.Errorf("reading the embedded demo catalogue: %w", err)
	}
	if _, err := catalog.Import(ctx, cat, procs, "demo", now); err != nil {
		return false, err
	}
	events, err := Events(now)
	if err != nil {
		return false, err
	}
	if _, err := dossiers.ApplyEvents(ctx, events); err != nil {
		return false, fmt.Errorf("seeding demo dossiers: %w", err)
	}
	return true, nil
}
