package ticket

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// DefaultWorkingHours is DVCBOT_WORKING_HOURS' default.
const DefaultWorkingHours = "Mon-Fri 07:30-17:00"

// Hours are the officers' working hours in Vietnam's time: days of the
// week and one daily span.
type Hours struct {
	Days       [7]bool // indexed by time.Weekday
	Start, End int     // minutes after midnight, Start < End
	text       string
}

var dayNames = map[string]time.Weekday{"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday}

// ParseHours reads "Mon-Fri 07:30-17:00" (days: a range or a comma list,
// e.g. "Mon-Fri,Sat"; times HH:MM-HH:MM, start before end).
func ParseHours(v string) (Hours, error) {
	fields := strings.Fields(v)
	if len(fields) != 2 {
		return Hours{}, errors.New(`must be days and times, e.g. "Mon-Fri 07:30-17:00"`)
	}
	var h Hours
	for _, part := range strings.Split(strings.ToLower(fields[0]), ",") {
		a, b, isRange := strings.Cut(part, "-")
		da, ok := dayNames[a]
		if !ok {
			return Hours{}, fmt.Errorf("unknown day %q (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", a)
		}
		db := da
		if isRange {
			if db, ok = dayNames[b]; !ok {
				return Hours{}, fmt.Errorf("unknown day %q (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", b)
			}
		}
		for d := da; ; d = (d + 1) % 7 {
			h.Days[d] = true
			if d == db {
				break
			}
		}
	}
	s, e, ok := strings.Cut(fields[1], "-")
	if !ok {
		return Hours{}, errors.New("times must be HH:MM-HH:MM")
	}
	var err error
	if h.Start, err = minutes(s); err != nil {
		return Hours{}, err
	}
	if h.End, err = minutes(e); err != nil {
		return Hours{}, err
	}
	if h.Start >= h.End {
		return Hours{}, errors.New("the day must start before it ends")
	}
	h.text = v
	return h, nil
}

func minutes(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// MustHours parses a constant.
func MustHours(v string) Hours {
	h, err := ParseHours(v)
	if err != nil {
		panic(err)
	}
	return h
}

func (h Hours) String() string { return h.text }

// Within reports whether t is inside the working hours.
func (h Hours) Within(t time.Time) bool {
	l := t.In(vntext.VietnamTime())
	m := l.Hour()*60 + l.Minute()
	return h.Days[l.Weekday()] && m >= h.Start && m < h.End
}

// NextOpen is t when inside the working hours, else the next start.
func (h Hours) NextOpen(t time.Time) time.Time {
	if h.Within(t) {
		return t
	}
	l := t.In(vntext.VietnamTime())
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, l.Location())
	for i := 0; i < 8; i++ {
		d := day.AddDate(0, 0, i)
		start := d.Add(time.Duration(h.Start) * time.Minute)
		if h.Days[d.Weekday()] && start.After(l) {
			return start
		}
	}
	return t
}

// Clock renders the daily span, "07:30-17:00".
func (h Hours) Clock() string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", h.Start/60, h.Start%60, h.End/60, h.End%60)
}
