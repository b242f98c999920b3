package report

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// Local is Vietnam's time zone: every period is in local dates (UTC+7, no
// daylight saving).
func Local() *time.Location { return vntext.VietnamTime() }

// Period kinds.
const (
	Day     = "day"
	Week    = "week" // ISO week, Monday to Sunday
	Month   = "month"
	Quarter = "quarter"
	Year    = "year"
	Range   = "range" // from–to, both days included
)

// Period is a run of whole local days.
type Period struct {
	Kind     string
	From, To time.Time // local midnights; To is the last day included
}

// DayOf is the local date of t as yyyymmdd.
func DayOf(t time.Time) int {
	l := t.In(Local())
	return l.Year()*10000 + int(l.Month())*100 + l.Day()
}

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, Local()) }

func dayInt(t time.Time) int { return t.Year()*10000 + int(t.Month())*100 + t.Day() }

// DayTime is the local midnight of a yyyymmdd day.
func DayTime(d int) time.Time { return date(d/10000, time.Month(d/100%100), d%100) }

// FromDay and ToDay are the period's ends as yyyymmdd.
func (p Period) FromDay() int { return dayInt(p.From) }
func (p Period) ToDay() int   { return dayInt(p.To) }

// Days is the number of days in the period.
func (p Period) Days() int { return int(p.To.Sub(p.From).Hours()/24+0.5) + 1 }

// PeriodFor returns the period of kind that holds t.
func PeriodFor(kind string, t time.Time) Period {
	l := t.In(Local())
	y, m, d := l.Date()
	switch kind {
	case Day:
		x := date(y, m, d)
		return Period{Day, x, x}
	case Week:
		wd := (int(l.Weekday()) + 6) % 7 // Monday 0
		from := date(y, m, d-wd)
		return Period{Week, from, from.AddDate(0, 0, 6)}
	case Quarter:
		qm := time.Month((int(m)-1)/3*3 + 1)
		from := date(y, qm, 1)
		return Period{Quarter, from, from.AddDate(0, 3, -1)}
	case Year:
		return Period{Year, date(y, 1, 1), date(y, 12, 31)}
	default:
		from := date(y, m, 1)
		return Period{Month, from, from.AddDate(0, 1, -1)}
	}
}

// ParsePeriod reads a period: kind with a value (day 2026-03-31, week
// 2026-W14 or any date in it, month 2026-03, quarter 2026-Q1, year 2026), or
// range with from and to dates. An empty value is the period holding now.
func ParsePeriod(kind, value, from, to string, now time.Time) (Period, error) {
	value = strings.TrimSpace(value)
	if kind == "" {
		kind = Month
	}
	parseDate := func(s string) (time.Time, error) {
		t, err := time.ParseInLocation(time.DateOnly, strings.TrimSpace(s), Local())
		if err != nil {
			return t, fmt.Errorf("%q is not a date (YYYY-MM-DD)", s)
		}
		return t, nil
	}
	switch kind {
	case Range:
		f, err := parseDate(from)
		if err != nil {
			return Period{}, err
		}
		t, err := parseDate(to)
		if err != nil {
			return Period{}, err
		}
		if t.Before(f) {
			return Period{}, errors.New("to is before from")
		}
		if t.Sub(f) > 5*366*24*time.Hour {
			return Period{}, errors.New("a range spans at most five years")
		}
		return Period{Range, f, t}, nil
	case Day, Week, Month, Quarter, Year:
	default:
		return Period{}, errors.New("period must be day, week, month, quarter, year or range")
	}
	if value == "" {
		return PeriodFor(kind, now), nil
	}
	bad := fmt.Errorf("%q is not a %s", value, kind)
	switch kind {
	case Day:
		t, err := parseDate(value)
		if err != nil {
			return Period{}, err
		}
		return PeriodFor(Day, t), nil
	case Week:
		if y, w, ok := strings.Cut(strings.ToUpper(value), "-W"); ok {
			yy, err1 := strconv.Atoi(y)
			ww, err2 := strconv.Atoi(w)
			if err1 != nil || err2 != nil || ww < 1 || ww > 53 {
				return Period{}, bad
			}
			// 4 January is always in ISO week 1.
			p := PeriodFor(Week, date(yy, 1, 4))
			p.From = p.From.AddDate(0, 0, 7*(ww-1))
			p.To = p.From.AddDate(0, 0, 6)
			return p, nil
		}
		t, err := parseDate(value)
		if err != nil {
			return Period{}, bad
		}
		return PeriodFor(Week, t), nil
	case Month:
		t, err := time.ParseInLocation("2006-01", value, Local())
		if err != nil {
			return Period{}, bad
		}
		return PeriodFor(Month, t), nil
	case Quarter:
		y, q, ok := strings.Cut(strings.ToUpper(value), "-Q")
		yy, err1 := strconv.Atoi(y)
		qq, err2 := strconv.Atoi(q)
		if !ok || err1 != nil || err2 != nil || qq < 1 || qq > 4 {
			return Period{}, bad
		}
		return PeriodFor(Quarter, date(yy, time.Month(qq*3-2), 1)), nil
	default:
		yy, err := strconv.Atoi(value)
		if err != nil || yy < 2000 || yy > 2200 {
			return Period{}, bad
		}
		return PeriodFor(Year, date(yy, 1, 1)), nil
	}
}

// Previous is the period just before: the previous day, week, month,
// quarter or year, or the range of the same length ending the day before.
func (p Period) Previous() Period {
	switch p.Kind {
	case Day, Week, Month, Quarter, Year:
		return PeriodFor(p.Kind, p.From.AddDate(0, 0, -1))
	}
	n := p.Days()
	to := p.From.AddDate(0, 0, -1)
	return Period{Range, to.AddDate(0, 0, -(n - 1)), to}
}

// Value is what ParsePeriod reads back for the period's kind.
func (p Period) Value() string {
	switch p.Kind {
	case Day:
		return p.From.Format(time.DateOnly)
	case Week:
		y, w := p.From.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case Month:
		return p.From.Format("2006-01")
	case Quarter:
		return fmt.Sprintf("%d-Q%d", p.From.Year(), (int(p.From.Month())-1)/3+1)
	case Year:
		return strconv.Itoa(p.From.Year())
	}
	return p.From.Format(time.DateOnly) + "_" + p.To.Format(time.DateOnly)
}

// Label names the period in Vietnamese ("Quý 1/2026", "Tháng 03/2026").
func (p Period) Label() string {
	switch p.Kind {
	case Day:
		return "Ngày " + p.From.Format("02/01/2006")
	case Week:
		y, w := p.From.ISOWeek()
		return fmt.Sprintf("Tuần %d/%d (%s–%s)", w, y, p.From.Format("02/01"), p.To.Format("02/01/2006"))
	case Month:
		return "Tháng " + p.From.Format("01/2006")
	case Quarter:
		return fmt.Sprintf("Quý %d/%d", (int(p.From.Month())-1)/3+1, p.From.Year())
	case Year:
		return "Năm " + strconv.Itoa(p.From.Year())
	}
	return "Từ " + p.From.Format("02/01/2006") + " đến " + p.To.Format("02/01/2006")
}

// Ref is the period as JSON shows it.
func (p Period) Ref() PeriodRef {
	return PeriodRef{Kind: p.Kind, From: p.From.Format(time.DateOnly), To: p.To.Format(time.DateOnly), Label: p.Label()}
}

// Buckets groups daily figures into the trend's points: days for a period
// of up to 62 days, ISO weeks up to 190 days, months beyond. Every bucket of
// the period is present, empty ones included.
func (p Period) Buckets(days []DayCounts) []Point {
	n := p.Days()
	var pts []Point
	for d := p.From; !d.After(p.To); {
		var end time.Time
		var label string
		switch {
		case n <= 62:
			end, label = d, d.Format("02/01")
		case n <= 190:
			wd := (int(d.Weekday()) + 6) % 7
			end = d.AddDate(0, 0, 6-wd)
			_, w := d.ISOWeek()
			label = fmt.Sprintf("T%d", w)
		default:
			end, label = date(d.Year(), d.Month()+1, 0), d.Format("01/2006")
		}
		if end.After(p.To) {
			end = p.To
		}
		pts = append(pts, Point{Label: label, From: dayInt(d), To: dayInt(end)})
		d = end.AddDate(0, 0, 1)
	}
	i := 0
	for _, dc := range days {
		for i < len(pts) && dc.Day > pts[i].To {
			i++
		}
		if i == len(pts) {
			break
		}
		if dc.Day >= pts[i].From {
			pts[i].Counts.Add(dc.Counts)
		}
	}
	for k := range pts {
		pts[k].Total = pts[k].Counts.Total()
		if s, ok := pts[k].Counts.Share(); ok {
			pts[k].Share = &s
		}
	}
	return pts
}
