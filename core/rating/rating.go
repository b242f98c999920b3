// Package rating holds citizens' satisfaction ratings of a dossier's
// handling: the national three levels, an optional reason (required for
// Không hài lòng) and optional answers per criterion of seed 002 Điều 11.2.
package rating

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// Level is the canonical three-level answer.
type Level string

const (
	RatHaiLong   Level = "rat_hai_long"   // 1
	HaiLong      Level = "hai_long"       // 2
	KhongHaiLong Level = "khong_hai_long" // 3
)

// Levels lists the levels in the order citizens number them (1, 2, 3).
func Levels() []Level { return []Level{RatHaiLong, HaiLong, KhongHaiLong} }

// Number is 1, 2 or 3.
func (l Level) Number() int {
	for i, x := range Levels() {
		if x == l {
			return i + 1
		}
	}
	return 0
}

// Valid reports whether l is one of the three levels.
func (l Level) Valid() bool { return l.Number() > 0 }

// ParseLevel reads what citizens type: 1/2/3, RHL/HL/KHL, the words with or
// without diacritics, and the canonical values. The five-level survey scale
// maps onto three on import (bình thường counts as hài lòng).
func ParseLevel(s string) (Level, bool) {
	f := strings.Join(strings.Fields(vntext.Fold(s)), " ")
	switch f {
	case "1", "rhl", "rat hai long", "rat_hai_long", "very satisfied":
		return RatHaiLong, true
	case "2", "hl", "hai long", "hai_long", "satisfied", "binh thuong":
		return HaiLong, true
	case "3", "khl", "khong hai long", "khong_hai_long", "not satisfied", "dissatisfied", "rat khong hai long":
		return KhongHaiLong, true
	}
	return "", false
}

// Criterion is one of the nine things rated (seed 002 Điều 11.2 a–i).
type Criterion string

// Criteria lists the criteria letters in order; texts live in i18n.
func Criteria() []Criterion {
	return []Criterion{"a", "b", "c", "d", "dd", "e", "g", "h", "i"}
}

// Rating is the current rating of one dossier.
type Rating struct {
	DossierCode string
	Level       Level
	Reason      string
	Criteria    map[Criterion]Level
	Channel     string
	UserID      string
	RawText     string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// EditWindow is how long after the first rating it may still be changed.
const EditWindow = 7 * 24 * time.Hour

var (
	ErrNotFound      = errors.New("no rating for this dossier")
	ErrLocked        = errors.New("the rating can no longer be changed")
	ErrReasonMissing = errors.New("a reason is required for khong_hai_long")
)

// Validate checks a rating before it is stored.
func (r Rating) Validate() error {
	if !r.Level.Valid() {
		return errors.New("unknown level " + string(r.Level))
	}
	if r.Level == KhongHaiLong && strings.TrimSpace(r.Reason) == "" {
		return ErrReasonMissing
	}
	for c, l := range r.Criteria {
		if !l.Valid() {
			return errors.New("unknown level for criterion " + string(c))
		}
	}
	return nil
}

// Store keeps ratings and their audit trail.
type Store interface {
	// Rating returns the current rating or ErrNotFound.
	Rating(ctx context.Context, dossierCode string) (Rating, error)
	// SaveRating stores r as the dossier's current rating and appends it to
	// the audit trail, unless the first rating is older than EditWindow at
	// r.UpdatedAt (ErrLocked). It reports whether a rating existed before.
	SaveRating(ctx context.Context, r Rating) (updated bool, err error)
}
