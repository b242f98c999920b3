// Package report turns citizens' satisfaction ratings into the views seed
// 003 asks leaders to have: per procedure, per providing agency, per
// officer and the dossier list behind any figure, for any period in
// Vietnam's local time and any channel, with the change against the
// previous period; the public scoreboard and the ratings feed for the
// national portal sit on the same store.
//
// The package holds no SQL: it declares Store (package store implements it
// with SQL aggregates over maintained daily roll-ups) and builds reports,
// charts (server-side SVG) and exports (CSV, XLSX) from what it returns.
package report

import (
	"context"
	"errors"
	"math"
	"sort"
	"time"

	"github.com/dvcbot/dvcbot/core/rating"
)

// Dimension is what a report groups by.
type Dimension string

// Dimensions.
const (
	ByAgency    Dimension = "agency"
	ByProcedure Dimension = "procedure"
	ByOfficer   Dimension = "officer"
	ByField     Dimension = "field" // lĩnh vực of the procedure (public scoreboard)
)

// Dimensions lists the dimensions the console offers.
func Dimensions() []Dimension { return []Dimension{ByAgency, ByProcedure, ByOfficer} }

// ParseDimension checks a dimension name ("" is ByAgency).
func ParseDimension(s string) (Dimension, error) {
	switch Dimension(s) {
	case "", ByAgency:
		return ByAgency, nil
	case ByProcedure, ByOfficer, ByField:
		return Dimension(s), nil
	}
	return "", errors.New("by must be agency, procedure, officer or field")
}

// NCriteria is the number of criteria (seed 002 Điều 11.2 a–i).
const NCriteria = 9

// CriterionIndex is the position of a criterion in rating.Criteria().
func CriterionIndex(c rating.Criterion) int {
	for i, x := range rating.Criteria() {
		if x == c {
			return i
		}
	}
	return -1
}

// Points is what a criterion answer scores: 2 for Rất hài lòng, 1 for Hài
// lòng, 0 for Không hài lòng — the 0–2 points per index of the agencies'
// 18-point self-assessment sheet (domain.md §4.1).
func Points(l rating.Level) int { return 3 - l.Number() }

// Counts are the additive figures of a set of ratings.
type Counts struct {
	RHL, HL, KHL int64
	CritSum      [NCriteria]int64 // points summed per criterion
	CritN        [NCriteria]int64 // answers per criterion
}

// Total is the number of ratings.
func (c Counts) Total() int64 { return c.RHL + c.HL + c.KHL }

// Share is the satisfaction share (RHL + HL) / total in percent, rounded to
// two decimals; ok is false without ratings.
func (c Counts) Share() (float64, bool) {
	if c.Total() == 0 {
		return 0, false
	}
	return round2(100 * float64(c.RHL+c.HL) / float64(c.Total())), true
}

// CriterionAvg is the average points (0–2) of criterion i, rounded to two
// decimals; ok is false without answers.
func (c Counts) CriterionAvg(i int) (float64, bool) {
	if c.CritN[i] == 0 {
		return 0, false
	}
	return round2(float64(c.CritSum[i]) / float64(c.CritN[i])), true
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.RHL += o.RHL
	c.HL += o.HL
	c.KHL += o.KHL
	for i := range c.CritSum {
		c.CritSum[i] += o.CritSum[i]
		c.CritN[i] += o.CritN[i]
	}
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// Filter selects ratings. Days are local (Asia/Ho_Chi_Minh) dates written
// yyyymmdd, both ends included.
type Filter struct {
	FromDay, ToDay int
	Channel        string    // "": every channel
	Agency         string    // "": every agency
	Dim            Dimension // with Key: only ratings whose Dim is Key
	Key            string
	Level          int // 1–3; 0: every level (dossier lists)
}

// Group is one row of an aggregate.
type Group struct {
	Key    string
	Label  string
	Agency string
	Counts Counts
}

// DayCounts are one local day's figures.
type DayCounts struct {
	Day    int
	Counts Counts
}

// Reason is a reason given with Không hài lòng.
type Reason struct {
	DossierCode   string    `json:"dossier_code"`
	Agency        string    `json:"agency"`
	ProcedureName string    `json:"procedure_name"`
	Reason        string    `json:"reason"`
	RatedAt       time.Time `json:"rated_at"`
}

// DossierRating is one rated dossier of a list.
type DossierRating struct {
	DossierCode   string                            `json:"dossier_code"`
	ProcedureCode string                            `json:"procedure_code"`
	ProcedureName string                            `json:"procedure_name"`
	Agency        string                            `json:"agency"`
	Officer       string                            `json:"officer"`
	Channel       string                            `json:"channel"`
	Level         rating.Level                      `json:"level"`
	Criteria      map[rating.Criterion]rating.Level `json:"criteria,omitempty"`
	Reason        string                            `json:"reason,omitempty"`
	RatedAt       time.Time                         `json:"rated_at"`
}

// FeedItem is one rating version of the feed, without personal data.
type FeedItem struct {
	Seq           int64                             `json:"-"`
	DossierCode   string                            `json:"dossier_code"`
	ProcedureCode string                            `json:"procedure_code"`
	Agency        string                            `json:"agency"`
	Level         rating.Level                      `json:"level"`
	Criteria      map[rating.Criterion]rating.Level `json:"criteria"`
	Channel       string                            `json:"channel"`
	RatedAt       time.Time                         `json:"rated_at"`
}

// Store reads the aggregates. Implementations aggregate in SQL.
type Store interface {
	// Aggregate groups the ratings of f by dim.
	Aggregate(ctx context.Context, f Filter, dim Dimension) ([]Group, error)
	// Daily sums the ratings of f per local day (days without any omitted).
	Daily(ctx context.Context, f Filter) ([]DayCounts, error)
	// Reasons lists reasons given with Không hài lòng, newest first.
	Reasons(ctx context.Context, f Filter, limit int) ([]Reason, error)
	// Dossiers lists the rated dossiers behind a figure, newest first, and
	// how many there are in all.
	Dossiers(ctx context.Context, f Filter, limit, offset int) ([]DossierRating, int, error)
	// Feed returns the rating versions committed after seq, in commit order.
	Feed(ctx context.Context, afterSeq int64, limit int) ([]FeedItem, error)
}

// Query asks for a report.
type Query struct {
	Period  Period
	Dim     Dimension
	Channel string
	Agency  string // the principal's scope or the agency asked for
	Key     string // drill into one row of Dim (its dossiers, its trend)
}

func (q Query) filter(p Period) Filter {
	f := Filter{FromDay: p.FromDay(), ToDay: p.ToDay(), Channel: q.Channel, Agency: q.Agency}
	if q.Key != "" {
		f.Dim, f.Key = q.Dim, q.Key
	}
	return f
}

// Row is one line of a report table.
type Row struct {
	Key       string     `json:"key"`
	Label     string     `json:"label"`
	Agency    string     `json:"agency,omitempty"`
	Total     int64      `json:"total"`
	RHL       int64      `json:"rat_hai_long"`
	HL        int64      `json:"hai_long"`
	KHL       int64      `json:"khong_hai_long"`
	Share     *float64   `json:"satisfaction_pct"` // nil: no ratings
	Criteria  []*float64 `json:"criteria_avg"`     // 0–2 per criterion a–i; nil: no answers
	PrevTotal int64      `json:"previous_total"`
	PrevShare *float64   `json:"previous_satisfaction_pct"` // nil: no ratings then
	Delta     *float64   `json:"change_pct_points"`         // Share − PrevShare
	Counts    Counts     `json:"-"`
}

func newRow(g Group, prev Counts) Row {
	c := g.Counts
	r := Row{Key: g.Key, Label: g.Label, Agency: g.Agency, Total: c.Total(), RHL: c.RHL, HL: c.HL, KHL: c.KHL,
		PrevTotal: prev.Total(), Counts: c}
	if s, ok := c.Share(); ok {
		r.Share = &s
	}
	if s, ok := prev.Share(); ok {
		r.PrevShare = &s
	}
	if r.Share != nil && r.PrevShare != nil {
		d := round2(*r.Share - *r.PrevShare)
		r.Delta = &d
	}
	r.Criteria = make([]*float64, NCriteria)
	for i := range r.Criteria {
		if v, ok := c.CriterionAvg(i); ok {
			r.Criteria[i] = &v
		}
	}
	return r
}

// Point is one bucket of the trend.
type Point struct {
	Label  string   `json:"label"`
	From   int      `json:"from"`
	To     int      `json:"to"`
	Total  int64    `json:"total"`
	Share  *float64 `json:"satisfaction_pct"`
	Counts Counts   `json:"-"`
}

// Report is what the console shows for a query.
type Report struct {
	Period   Period    `json:"-"`
	Previous Period    `json:"-"`
	PeriodJ  PeriodRef `json:"period"`
	PrevJ    PeriodRef `json:"previous_period"`
	Dim      Dimension `json:"by"`
	Channel  string    `json:"channel,omitempty"`
	Agency   string    `json:"agency,omitempty"`
	Key      string    `json:"key,omitempty"`
	Rows     []Row     `json:"rows"`
	Total    Row       `json:"total"`
	Reasons  []Reason  `json:"reasons"`
	Trend    []Point   `json:"trend"`
}

// PeriodRef is a period as JSON shows it.
type PeriodRef struct {
	Kind  string `json:"kind"`
	From  string `json:"from"`
	To    string `json:"to"`
	Label string `json:"label"`
}

// MaxReasons is how many reasons a report lists.
const MaxReasons = 100

// Build runs q against st: the rows of the period and of the previous one,
// the total, the reasons and the trend.
func Build(ctx context.Context, st Store, q Query) (Report, error) {
	if q.Dim == "" {
		q.Dim = ByAgency
	}
	prev := q.Period.Previous()
	rep := Report{Period: q.Period, Previous: prev, PeriodJ: q.Period.Ref(), PrevJ: prev.Ref(), Dim: q.Dim,
		Channel: q.Channel, Agency: q.Agency, Key: q.Key}
	cur, err := st.Aggregate(ctx, q.filter(q.Period), q.Dim)
	if err != nil {
		return rep, err
	}
	before, err := st.Aggregate(ctx, q.filter(prev), q.Dim)
	if err != nil {
		return rep, err
	}
	// Officers' names are unique within an agency only.
	key := func(g Group) string { return g.Agency + "\x00" + g.Key }
	prevBy := map[string]Counts{}
	var curTotal, prevTotal Counts
	for _, g := range before {
		prevBy[key(g)] = g.Counts
		prevTotal.Add(g.Counts)
	}
	for _, g := range cur {
		rep.Rows = append(rep.Rows, newRow(g, prevBy[key(g)]))
		curTotal.Add(g.Counts)
	}
	sort.SliceStable(rep.Rows, func(i, j int) bool {
		if rep.Rows[i].Total != rep.Rows[j].Total {
			return rep.Rows[i].Total > rep.Rows[j].Total
		}
		return key(Group{Key: rep.Rows[i].Key, Agency: rep.Rows[i].Agency}) < key(Group{Key: rep.Rows[j].Key, Agency: rep.Rows[j].Agency})
	})
	rep.Total = newRow(Group{Label: "Tổng cộng", Counts: curTotal}, prevTotal)
	if rep.Reasons, err = st.Reasons(ctx, q.filter(q.Period), MaxReasons); err != nil {
		return rep, err
	}
	days, err := st.Daily(ctx, q.filter(q.Period))
	if err != nil {
		return rep, err
	}
	rep.Trend = q.Period.Buckets(days)
	if rep.Rows == nil {
		rep.Rows = []Row{}
	}
	if rep.Reasons == nil {
		rep.Reasons = []Reason{}
	}
	return rep, nil
}
