package report

import (
	"fmt"
	"html"
	"strings"

	"github.com/dvcbot/dvcbot/core/rating"
)

// Charts are drawn on the server as inline SVG: no script, no library, no
// CDN; they scale to the screen (viewBox, width 100%) and every chart's
// figures are in the table printed beside it.

const (
	colRHL  = "#116329"
	colHL   = "#54aeff"
	colKHL  = "#cf222e"
	colLine = "#0b5cad"
	colGrid = "#d0d7de"
	colText = "#1b1f24"
)

func esc(s string) string { return html.EscapeString(s) }

func svgOpen(b *strings.Builder, id, label string, w, h int) {
	fmt.Fprintf(b, `<svg id="%s" class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" font-family="system-ui,sans-serif" font-size="12"><title>%s</title>`,
		esc(id), w, h, esc(label), esc(label))
}

// TrendSVG draws the volume per bucket as bars and the satisfaction share
// as a line (0–100 % on the right axis).
func TrendSVG(pts []Point) string {
	const w, h, left, right, top, bottom = 640, 260, 44, 44, 16, 40
	var b strings.Builder
	svgOpen(&b, "chart-trend", "Xu hướng: số đánh giá (cột) và tỷ lệ hài lòng (đường)", w, h)
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	var maxN int64 = 1
	for _, p := range pts {
		maxN = max(maxN, p.Total)
	}
	for i := 0; i <= 4; i++ {
		y := float64(top) + ph*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>`, left, w-right, y, y, colGrid)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">%d</text>`, left-4, y+4, colText, maxN*int64(4-i)/4)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="%s">%d%%</text>`, w-right+4, y+4, colLine, 100-25*i)
	}
	if len(pts) == 0 {
		b.WriteString(`</svg>`)
		return b.String()
	}
	slot := pw / float64(len(pts))
	bw := slot * 0.7
	var line []string
	every := (len(pts) + 11) / 12 // at most 12 labels
	for i, p := range pts {
		x := float64(left) + slot*float64(i) + (slot-bw)/2
		bh := ph * float64(p.Total) / float64(maxN)
		fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" fill-opacity="0.45"><title>%s: %d</title></rect>`,
			x, float64(top)+ph-bh, bw, bh, colHL, esc(p.Label), p.Total)
		cx := x + bw/2
		if p.Share != nil {
			line = append(line, fmt.Sprintf("%.1f,%.1f", cx, float64(top)+ph*(1-*p.Share/100)))
		}
		if i%every == 0 {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>`, cx, h-bottom+16, colText, esc(p.Label))
		}
	}
	if len(line) > 0 {
		fmt.Fprintf(&b, `<polyline class="share" fill="none" stroke="%s" stroke-width="2.5" points="%s"/>`, colLine, strings.Join(line, " "))
		for _, pt := range line {
			xy := strings.SplitN(pt, ",", 2)
			fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3" fill="%s"/>`, xy[0], xy[1], colLine)
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">▮ số đánh giá   ━ tỷ lệ hài lòng</text>`, left, h-6, colText)
	b.WriteString(`</svg>`)
	return b.String()
}

// StackedSVG draws one horizontal bar per row, split into Rất hài lòng,
// Hài lòng and Không hài lòng as shares of the row's ratings.
func StackedSVG(rows []Row, limit int) string {
	if len(rows) > limit {
		rows = rows[:limit]
	}
	const w, labelW, rowH, top = 640, 220, 26, 8
	h := top + rowH*len(rows) + 34
	var b strings.Builder
	svgOpen(&b, "chart-stack", "Cơ cấu mức độ hài lòng theo từng dòng của bảng", w, h)
	pw := float64(w - labelW - 50)
	for i, r := range rows {
		y := float64(top + rowH*i)
		label := []rune(r.Label)
		if len(label) > 30 {
			label = append(label[:29], '…')
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="%s">%s</text>`, labelW-6, y+15, colText, esc(string(label)))
		x := float64(labelW)
		if r.Total > 0 {
			for _, part := range []struct {
				n   int64
				col string
				lvl string
			}{{r.RHL, colRHL, "Rất hài lòng"}, {r.HL, colHL, "Hài lòng"}, {r.KHL, colKHL, "Không hài lòng"}} {
				bw := pw * float64(part.n) / float64(r.Total)
				fmt.Fprintf(&b, `<rect class="seg" x="%.1f" y="%.1f" width="%.1f" height="%d" fill="%s"><title>%s · %s: %d</title></rect>`,
					x, y+2, bw, rowH-6, part.col, esc(r.Label), part.lvl, part.n)
				x += bw
			}
		}
		share := "–"
		if r.Share != nil {
			share = fmt.Sprintf("%.0f%%", *r.Share)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" fill="%s">%s</text>`, w-46, y+15, colText, share)
	}
	ly := h - 12
	for i, part := range []struct{ col, text string }{{colRHL, "Rất hài lòng"}, {colHL, "Hài lòng"}, {colKHL, "Không hài lòng"}} {
		x := labelW + i*130
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" fill="%s">%s</text>`, x, ly-10, part.col, x+16, ly, colText, part.text)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// CriteriaSVG draws the average points (0–2) of each criterion a–i.
func CriteriaSVG(r Row) string {
	const w, h, left, top, bottom = 640, 220, 36, 12, 30
	var b strings.Builder
	svgOpen(&b, "chart-criteria", "Điểm trung bình từng tiêu chí (0–2)", w, h)
	ph := float64(h - top - bottom)
	for i := 0; i <= 4; i++ {
		y := float64(top) + ph*float64(i)/4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/><text x="%d" y="%.1f" text-anchor="end" fill="%s">%.1f</text>`,
			left, w-8, y, y, colGrid, left-4, y+4, colText, 2-0.5*float64(i))
	}
	crit := rating.Criteria()
	slot := float64(w-left-8) / float64(len(crit))
	for i, c := range crit {
		x := float64(left) + slot*float64(i) + slot*0.2
		if i < len(r.Criteria) && r.Criteria[i] != nil {
			v := *r.Criteria[i]
			bh := ph * v / 2
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>Tiêu chí %s: %.2f</title></rect>`,
				x, float64(top)+ph-bh, slot*0.6, bh, colRHL, CriterionLetter(c), v)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="%s">%s</text>`, x+slot*0.3, h-10, colText, CriterionLetter(c))
	}
	b.WriteString(`</svg>`)
	return b.String()
}
