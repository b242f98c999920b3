package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/dvcbot/dvcbot/core/rating"
)

// Table is one exportable table: Vietnamese headers and typed cells
// (string, int64, float64, or nil for an empty cell).
type Table struct {
	Name   string // the sheet name and file-name part
	Header []string
	Rows   [][]any
}

// CriterionLetter is how a criterion is written (dd is đ).
func CriterionLetter(c rating.Criterion) string {
	if c == "dd" {
		return "đ"
	}
	return string(c)
}

// LevelText is a level in Vietnamese.
func LevelText(l rating.Level) string {
	switch l {
	case rating.RatHaiLong:
		return "Rất hài lòng"
	case rating.HaiLong:
		return "Hài lòng"
	case rating.KhongHaiLong:
		return "Không hài lòng"
	}
	return string(l)
}

// ChannelText names a channel in Vietnamese.
func ChannelText(ch string) string {
	switch ch {
	case "sms":
		return "SMS"
	case "webchat":
		return "Trò chuyện trên web"
	case "zalo":
		return "Zalo"
	case "telegram":
		return "Telegram"
	case "":
		return "Tất cả kênh"
	}
	return ch
}

// DimText is the header of a dimension's name column.
func DimText(d Dimension) string {
	switch d {
	case ByProcedure:
		return "Thủ tục"
	case ByOfficer:
		return "Cán bộ"
	case ByField:
		return "Lĩnh vực"
	}
	return "Cơ quan, đơn vị"
}

func dimSlug(d Dimension) string {
	switch d {
	case ByProcedure:
		return "theo-thu-tuc"
	case ByOfficer:
		return "theo-can-bo"
	case ByField:
		return "theo-linh-vuc"
	}
	return "theo-don-vi"
}

// FileName names an export: what it holds and the period, e.g.
// danh-gia-hai-long_theo-don-vi_2026-Q1.csv.
func FileName(what string, p Period, ext string) string {
	return "danh-gia-hai-long_" + what + "_" + p.Value() + "." + ext
}

// SummaryFile is the file name of a report's table.
func SummaryFile(rep Report, ext string) string {
	what := dimSlug(rep.Dim)
	if rep.Channel != "" {
		what += "_kenh-" + rep.Channel
	}
	return FileName(what, rep.Period, ext)
}

func pct(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// SummaryTable is a report's rows and total.
func SummaryTable(rep Report) Table {
	h := []string{DimText(rep.Dim)}
	if rep.Dim == ByProcedure {
		h = []string{"Mã thủ tục", "Thủ tục"}
	}
	if rep.Dim == ByOfficer {
		h = append(h, "Cơ quan, đơn vị")
	}
	h = append(h, "Tổng số đánh giá", "Rất hài lòng", "Hài lòng", "Không hài lòng", "Tỷ lệ hài lòng (%)",
		"Kỳ trước: số đánh giá", "Kỳ trước: tỷ lệ hài lòng (%)", "Thay đổi (điểm %)")
	for _, c := range rating.Criteria() {
		h = append(h, "Tiêu chí "+CriterionLetter(c)+" (điểm TB 0–2)")
	}
	t := Table{Name: "Tong hop", Header: h}
	line := func(r Row, total bool) []any {
		var out []any
		switch {
		case rep.Dim == ByProcedure && total:
			out = []any{"", r.Label}
		case rep.Dim == ByProcedure:
			out = []any{r.Key, r.Label}
		default:
			out = []any{r.Label}
		}
		if rep.Dim == ByOfficer {
			out = append(out, r.Agency)
		}
		out = append(out, r.Total, r.RHL, r.HL, r.KHL, pct(r.Share), r.PrevTotal, pct(r.PrevShare), pct(r.Delta))
		for _, c := range r.Criteria {
			out = append(out, pct(c))
		}
		return out
	}
	for _, r := range rep.Rows {
		t.Rows = append(t.Rows, line(r, false))
	}
	t.Rows = append(t.Rows, line(rep.Total, true))
	return t
}

// TrendTable is the trend chart's figures.
func TrendTable(rep Report) Table {
	t := Table{Name: "Xu huong", Header: []string{"Kỳ", "Từ ngày", "Đến ngày", "Số đánh giá", "Rất hài lòng", "Hài lòng", "Không hài lòng", "Tỷ lệ hài lòng (%)"}}
	for _, p := range rep.Trend {
		t.Rows = append(t.Rows, []any{p.Label, DayTime(p.From).Format("02/01/2006"), DayTime(p.To).Format("02/01/2006"),
			p.Total, p.Counts.RHL, p.Counts.HL, p.Counts.KHL, pct(p.Share)})
	}
	return t
}

// ReasonsTable lists the reasons given with Không hài lòng.
func ReasonsTable(rep Report) Table {
	t := Table{Name: "Ly do KHL", Header: []string{"Mã hồ sơ", "Cơ quan, đơn vị", "Thủ tục", "Lý do không hài lòng", "Thời điểm đánh giá"}}
	for _, r := range rep.Reasons {
		t.Rows = append(t.Rows, []any{r.DossierCode, r.Agency, r.ProcedureName, r.Reason, localTime(r.RatedAt)})
	}
	return t
}

// DossiersTable is the dossier list behind a figure.
func DossiersTable(list []DossierRating) Table {
	h := []string{"Mã hồ sơ", "Mã thủ tục", "Thủ tục", "Cơ quan, đơn vị", "Cán bộ", "Kênh", "Mức đánh giá", "Lý do"}
	for _, c := range rating.Criteria() {
		h = append(h, "Tiêu chí "+CriterionLetter(c))
	}
	h = append(h, "Thời điểm đánh giá")
	t := Table{Name: "Ho so", Header: h}
	for _, d := range list {
		row := []any{d.DossierCode, d.ProcedureCode, d.ProcedureName, d.Agency, d.Officer, ChannelText(d.Channel), LevelText(d.Level), d.Reason}
		for _, c := range rating.Criteria() {
			if l, ok := d.Criteria[c]; ok {
				row = append(row, LevelText(l))
			} else {
				row = append(row, nil)
			}
		}
		t.Rows = append(t.Rows, append(row, localTime(d.RatedAt)))
	}
	return t
}

func localTime(t time.Time) string { return t.In(Local()).Format("02/01/2006 15:04") }

func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return csvSafe(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int:
		return strconv.Itoa(x)
	case float64:
		return strconv.FormatFloat(x, 'f', 2, 64)
	}
	return csvSafe(fmt.Sprint(v))
}

// csvSafe defuses text a spreadsheet would run as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes t as UTF-8 CSV with a byte-order mark (so that Excel reads
// the Vietnamese letters); decimals use a point.
func WriteCSV(w io.Writer, t Table) error {
	if _, err := io.WriteString(w, "\uFEFF"); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(t.Header); err != nil {
		return err
	}
	for _, r := range t.Rows {
		rec := make([]string, len(r))
		for i, v := range r {
			rec[i] = cellText(v)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteXLSX writes the tables as the sheets of one workbook, numbers as
// numbers.
func WriteXLSX(w io.Writer, title string, tables ...Table) error {
	f := excelize.NewFile()
	defer f.Close()
	bold, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	for i, t := range tables {
		name := t.Name
		if i == 0 {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				return err
			}
		} else if _, err := f.NewSheet(name); err != nil {
			return err
		}
		row := 1
		if title != "" {
			if err := f.SetCellValue(name, "A1", title); err != nil {
				return err
			}
			row = 3
		}
		put := func(r int, vals []any) error {
			for c, v := range vals {
				cell, err := excelize.CoordinatesToCellName(c+1, r)
				if err != nil {
					return err
				}
				if v == nil {
					continue
				}
				if s, ok := v.(string); ok {
					v = csvSafe(s)
				}
				if err := f.SetCellValue(name, cell, v); err != nil {
					return err
				}
			}
			return nil
		}
		hdr := make([]any, len(t.Header))
		for i, h := range t.Header {
			hdr[i] = h
		}
		if err := put(row, hdr); err != nil {
			return err
		}
		last, _ := excelize.CoordinatesToCellName(len(t.Header), row)
		first, _ := excelize.CoordinatesToCellName(1, row)
		if err := f.SetCellStyle(name, first, last, bold); err != nil {
			return err
		}
		for i, r := range t.Rows {
			if err := put(row+1+i, r); err != nil {
				return err
			}
		}
		endCol, _ := excelize.ColumnNumberToName(len(t.Header))
		if err := f.SetColWidth(name, "A", endCol, 18); err != nil {
			return err
		}
	}
	_, err = f.WriteTo(w)
	return err
}
