package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/report"
)

// Reports: every saved rating is copied, in the same transaction, into
// rating_facts (the rating with its dossier's agency, procedure, field and
// officer, its local day and a change sequence number) and added to the
// daily roll-ups rating_rollup (one row per dimension, local day, channel,
// agency and key), so that a report of any period sums a few thousand
// roll-up rows instead of scanning the ratings.
//
// The change sequence comes from the single row of rating_seq, updated in
// the rating's transaction: its row lock is held until commit, so sequence
// numbers become visible in increasing order and a reader that has seen n
// will never later find a committed version below n. The feed's cursor is
// that number: it skips nothing, neither a late commit nor an edit (an
// edit takes a new number and reappears after the cursor).

// rating_rollup keeps every dimension at three grains: local days, whole
// months (dimension "<dim>@m", day yyyymm00) and whole years ("<dim>@y",
// day yyyy0000). A period sums the years it covers whole, then the whole
// months, then the days at its edges.
const (
	monthSuffix = "@m"
	yearSuffix  = "@y"
)

// grain is one roll-up grain: its dimension suffix and how a day maps to
// its key.
type grain struct {
	suffix string
	key    func(day int) int
	sql    string // the same on rating_facts.day
}

var grains = []grain{
	{"", func(d int) int { return d }, "f.day"},
	{monthSuffix, func(d int) int { return d / 100 * 100 }, "f.day / 100 * 100"},
	{yearSuffix, func(d int) int { return d / 10000 * 10000 }, "f.day / 10000 * 10000"},
}

var allDims = []report.Dimension{report.ByAgency, report.ByProcedure, report.ByOfficer, report.ByField}

type factRow struct {
	bun.BaseModel `bun:"table:rating_facts,alias:f"`

	DossierCode   string                            `bun:"dossier_code,pk"`
	Seq           int64                             `bun:"seq"`
	Day           int                               `bun:"day"`
	Level         int                               `bun:"level"`
	Channel       string                            `bun:"channel"`
	Agency        string                            `bun:"agency"`
	ProcedureCode string                            `bun:"procedure_code"`
	ProcedureName string                            `bun:"procedure_name"`
	Field         string                            `bun:"field"`
	Officer       string                            `bun:"officer"`
	Reason        string                            `bun:"reason"`
	Criteria      map[rating.Criterion]rating.Level `bun:"criteria,type:jsonb"`
	RatedAt       time.Time                         `bun:"rated_at"`
	UpdatedAt     time.Time                         `bun:"updated_at"`
}

func (f factRow) key(dim report.Dimension) (key, label string) {
	switch dim {
	case report.ByProcedure:
		return f.ProcedureCode, f.ProcedureName
	case report.ByOfficer:
		return f.Officer, f.Officer
	case report.ByField:
		return f.Field, f.Field
	}
	return f.Agency, f.Agency
}

func (f factRow) counts() report.Counts {
	var c report.Counts
	switch f.Level {
	case 1:
		c.RHL = 1
	case 2:
		c.HL = 1
	default:
		c.KHL = 1
	}
	for crit, l := range f.Criteria {
		if i := report.CriterionIndex(crit); i >= 0 && l.Valid() {
			c.CritSum[i] = int64(report.Points(l))
			c.CritN[i] = 1
		}
	}
	return c
}

type rollKey struct {
	dim                  report.Dimension
	day                  int
	channel, agency, key string
}

type rollDelta struct {
	label string
	c     report.Counts
}

func addFact(m map[rollKey]*rollDelta, f factRow, sign int64) {
	c := f.counts()
	for _, dim := range allDims {
		for _, g := range grains {
			key, label := f.key(dim)
			k := rollKey{dim + report.Dimension(g.suffix), g.key(f.Day), f.Channel, f.Agency, key}
			d := m[k]
			if d == nil {
				d = &rollDelta{}
				m[k] = d
			}
			d.label = label
			d.c.RHL += sign * c.RHL
			d.c.HL += sign * c.HL
			d.c.KHL += sign * c.KHL
			for i := range c.CritSum {
				d.c.CritSum[i] += sign * c.CritSum[i]
				d.c.CritN[i] += sign * c.CritN[i]
			}
		}
	}
}

var rollCols = func() []string {
	cols := []string{"n1", "n2", "n3"}
	for i := range report.NCriteria {
		cols = append(cols, fmt.Sprintf("s%d", i))
	}
	for i := range report.NCriteria {
		cols = append(cols, fmt.Sprintf("k%d", i))
	}
	return cols
}()

// applyRollup adds the deltas to rating_rollup, 500 rows a statement.
func applyRollup(ctx context.Context, db bun.IDB, m map[rollKey]*rollDelta) error {
	if len(m) == 0 {
		return nil
	}
	var set []string
	for _, c := range rollCols {
		set = append(set, c+" = rating_rollup."+c+" + EXCLUDED."+c)
	}
	head := "INSERT INTO rating_rollup (dim, day, channel, agency, gkey, label, " + strings.Join(rollCols, ", ") + ") VALUES "
	tail := " ON CONFLICT (dim, day, channel, agency, gkey) DO UPDATE SET label = EXCLUDED.label, " + strings.Join(set, ", ")
	ph := "(?, ?, ?, ?, ?, ?" + strings.Repeat(", ?", len(rollCols)) + ")"
	var vals []string
	var args []any
	flush := func() error {
		if len(vals) == 0 {
			return nil
		}
		_, err := db.ExecContext(ctx, head+strings.Join(vals, ", ")+tail, args...)
		vals, args = vals[:0], args[:0]
		return err
	}
	for k, d := range m {
		vals = append(vals, ph)
		args = append(args, string(k.dim), k.day, k.channel, k.agency, k.key, d.label, d.c.RHL, d.c.HL, d.c.KHL)
		for _, v := range d.c.CritSum {
			args = append(args, v)
		}
		for _, v := range d.c.CritN {
			args = append(args, v)
		}
		if len(vals) == 500 {
			if err := flush(); err != nil {
				return fmt.Errorf("updating rating roll-ups: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return fmt.Errorf("updating rating roll-ups: %w", err)
	}
	return nil
}

// nextRatingSeq takes n numbers of the change sequence and returns the
// last; the row stays locked until the transaction ends.
func nextRatingSeq(ctx context.Context, tx bun.IDB, n int) (int64, error) {
	var v int64
	err := tx.QueryRowContext(ctx, "UPDATE rating_seq SET value = value + ? WHERE id = 1 RETURNING value", n).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("taking a rating change number: %w", err)
	}
	return v, nil
}

func levelNumber(l string) int { return rating.Level(l).Number() }

// ratingChanged brings a dossier's fact row and the roll-ups up to date
// with its rating, inside the transaction that saved it.
func ratingChanged(ctx context.Context, tx bun.Tx, code string) error {
	seq, err := nextRatingSeq(ctx, tx, 1)
	if err != nil {
		return err
	}
	var r ratingRow
	if err := tx.NewSelect().Model(&r).Where("dossier_code = ?", code).Scan(ctx); err != nil {
		return fmt.Errorf("reading rating of %s: %w", code, err)
	}
	var d dossierRow
	if err := tx.NewSelect().Model(&d).Column("procedure_code", "procedure_name", "agency", "officer").
		Where("code = ?", code).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("reading dossier %s: %w", code, err)
	}
	var field string
	if d.ProcedureCode != "" {
		if err := tx.QueryRowContext(ctx, "SELECT field FROM procedures WHERE code = ?", d.ProcedureCode).Scan(&field); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("reading procedure %s: %w", d.ProcedureCode, err)
		}
	}
	deltas := map[rollKey]*rollDelta{}
	var old factRow
	err = tx.NewSelect().Model(&old).Where("dossier_code = ?", code).Scan(ctx)
	switch {
	case err == nil:
		addFact(deltas, old, -1)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("reading rating facts of %s: %w", code, err)
	}
	f := factRow{DossierCode: code, Seq: seq, Day: report.DayOf(r.CreatedAt), Level: levelNumber(r.Level), Channel: r.Channel,
		Agency: d.Agency, ProcedureCode: d.ProcedureCode, ProcedureName: d.ProcedureName, Field: field, Officer: d.Officer,
		Reason: r.Reason, Criteria: r.Criteria, RatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if err == nil {
		// The dossier's attribution at the first rating stays with it.
		f.Agency, f.ProcedureCode, f.ProcedureName, f.Field, f.Officer = old.Agency, old.ProcedureCode, old.ProcedureName, old.Field, old.Officer
	}
	addFact(deltas, f, 1)
	q := tx.NewInsert().Model(&f).On("CONFLICT (dossier_code) DO UPDATE")
	for _, c := range []string{"seq", "day", "level", "channel", "agency", "procedure_code", "procedure_name", "field", "officer", "reason", "criteria", "rated_at", "updated_at"} {
		q = q.Set(c + " = EXCLUDED." + c)
	}
	if _, err := q.Exec(ctx); err != nil {
		return fmt.Errorf("saving rating facts of %s: %w", code, err)
	}
	return applyRollup(ctx, tx, deltas)
}

// SyncRatingFacts adds the facts of ratings saved before the reports
// existed (it runs at start-up; usually there are none).
func (db *DB) SyncRatingFacts(ctx context.Context) (int, error) {
	var codes []string
	err := db.bun.NewSelect().Table("ratings").Column("dossier_code").
		Where("NOT EXISTS (SELECT 1 FROM rating_facts f WHERE f.dossier_code = ratings.dossier_code)").
		OrderExpr("updated_at").Scan(ctx, &codes)
	if err != nil {
		return 0, fmt.Errorf("finding ratings without facts: %w", err)
	}
	for _, code := range codes {
		if err := db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error { return ratingChanged(ctx, tx, code) }); err != nil {
			return 0, err
		}
	}
	return len(codes), nil
}

// BulkRating is one dossier and its rating for BulkRatings.
type BulkRating struct {
	Dossier dossier.Dossier
	Field   string
	Rating  rating.Rating // CreatedAt and UpdatedAt set
}

// BulkRatings stores many new dossiers with their ratings at once (the demo
// generator and the benchmark): dossiers, ratings, audit trail, facts and
// roll-ups in one transaction. Dossiers that exist are kept; their ratings
// are skipped.
func (db *DB) BulkRatings(ctx context.Context, items []BulkRating) (int, error) {
	return db.bulkRatings(ctx, items, false)
}

// BulkRatingsDeferred is BulkRatings without the roll-ups: call
// RebuildRatingRollups after the last batch (large loads).
func (db *DB) BulkRatingsDeferred(ctx context.Context, items []BulkRating) (int, error) {
	return db.bulkRatings(ctx, items, true)
}

func (db *DB) bulkRatings(ctx context.Context, items []BulkRating, deferRollups bool) (int, error) {
	if len(items) == 0 {
		return 0, nil
	}
	added := 0
	err := db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		codes := make([]string, len(items))
		for i, it := range items {
			codes[i] = it.Dossier.Code
		}
		var have []string
		if err := tx.NewSelect().Table("ratings").Column("dossier_code").Where("dossier_code IN (?)", bun.List(codes)).Scan(ctx, &have); err != nil {
			return err
		}
		skip := map[string]bool{}
		for _, c := range have {
			skip[c] = true
		}
		var drows []dossierRow
		var rrows []ratingRow
		var arows []ratingAuditRow
		var frows []factRow
		for _, it := range items {
			if skip[it.Dossier.Code] {
				continue
			}
			skip[it.Dossier.Code] = true
			d, r := it.Dossier, it.Rating
			now := r.UpdatedAt.UTC()
			drows = append(drows, dossierRow{Code: d.Code, ProcedureCode: d.ProcedureCode, ProcedureName: d.ProcedureName, Agency: d.Agency,
				ApplicantName: d.ApplicantName, ApplicantPhone: d.ApplicantPhone, SubmittedVia: d.SubmittedVia,
				ReceivedAt: utcPtr(d.ReceivedAt), DueAt: utcPtr(d.DueAt), FinishedAt: utcPtr(d.FinishedAt), ReturnedAt: utcPtr(d.ReturnedAt),
				Officer: d.Officer, Status: int(d.Status), StatusAt: d.StatusAt.UTC(), LastEventID: "demo-" + d.Code, CreatedAt: now, UpdatedAt: now})
			rrows = append(rrows, ratingRow{DossierCode: d.Code, Level: string(r.Level), Reason: r.Reason, Criteria: r.Criteria, Channel: r.Channel,
				UserID: r.UserID, RawText: r.RawText, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: now})
			arows = append(arows, ratingAuditRow{DossierCode: d.Code, Level: string(r.Level), Reason: r.Reason, Criteria: r.Criteria,
				Channel: r.Channel, UserID: r.UserID, RawText: r.RawText, CreatedAt: now})
			frows = append(frows, factRow{DossierCode: d.Code, Day: report.DayOf(r.CreatedAt), Level: r.Level.Number(), Channel: r.Channel,
				Agency: d.Agency, ProcedureCode: d.ProcedureCode, ProcedureName: d.ProcedureName, Field: it.Field, Officer: d.Officer,
				Reason: r.Reason, Criteria: r.Criteria, RatedAt: r.CreatedAt.UTC(), UpdatedAt: now})
		}
		if len(frows) == 0 {
			return nil
		}
		last, err := nextRatingSeq(ctx, tx, len(frows))
		if err != nil {
			return err
		}
		deltas := map[rollKey]*rollDelta{}
		for i := range frows {
			frows[i].Seq = last - int64(len(frows)) + 1 + int64(i)
			addFact(deltas, frows[i], 1)
		}
		if _, err := tx.NewInsert().Model(&drows).On("CONFLICT (code) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("inserting dossiers: %w", err)
		}
		for _, m := range []any{&rrows, &arows, &frows} {
			if _, err := tx.NewInsert().Model(m).Exec(ctx); err != nil {
				return fmt.Errorf("inserting ratings: %w", err)
			}
		}
		added = len(frows)
		if deferRollups {
			return nil
		}
		return applyRollup(ctx, tx, deltas)
	})
	if err != nil {
		added = 0
	}
	return added, err
}

// RebuildRatingRollups recomputes rating_rollup from rating_facts in one
// transaction, holding the change-sequence row so that no rating is saved
// meanwhile (after a deferred bulk load).
func (db *DB) RebuildRatingRollups(ctx context.Context) error {
	return db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := nextRatingSeq(ctx, tx, 0); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM rating_rollup"); err != nil {
			return err
		}
		var sel []string
		for _, c := range rating.Criteria() {
			v := "f.criteria->>'" + string(c) + "'"
			if db.dialect == SQLite {
				v = "json_extract(f.criteria, '$." + string(c) + "')"
			}
			sel = append(sel, "sum(CASE "+v+" WHEN 'rat_hai_long' THEN 2 WHEN 'hai_long' THEN 1 ELSE 0 END)")
		}
		for _, c := range rating.Criteria() {
			v := "f.criteria->>'" + string(c) + "'"
			if db.dialect == SQLite {
				v = "json_extract(f.criteria, '$." + string(c) + "')"
			}
			sel = append(sel, "sum(CASE WHEN "+v+" IN ('rat_hai_long', 'hai_long', 'khong_hai_long') THEN 1 ELSE 0 END)")
		}
		crit := strings.Join(sel, ", ")
		for _, dim := range allDims {
			key, label := factCol(dim), factCol(dim)
			if dim == report.ByProcedure {
				label = "procedure_name"
			}
			for _, g := range grains {
				grain := struct {
					dim report.Dimension
					day string
				}{dim + report.Dimension(g.suffix), g.sql}
				q := "INSERT INTO rating_rollup (dim, day, channel, agency, gkey, label, " + strings.Join(rollCols, ", ") + ") " +
					"SELECT ?, " + grain.day + ", f.channel, f.agency, f." + key + ", max(f." + label + "), " +
					"sum(CASE WHEN f.level = 1 THEN 1 ELSE 0 END), sum(CASE WHEN f.level = 2 THEN 1 ELSE 0 END), " +
					"sum(CASE WHEN f.level = 3 THEN 1 ELSE 0 END), " + crit +
					" FROM rating_facts f GROUP BY " + grain.day + ", f.channel, f.agency, f." + key
				if _, err := tx.ExecContext(ctx, q, string(grain.dim)); err != nil {
					return fmt.Errorf("rebuilding roll-ups by %s: %w", grain.dim, err)
				}
			}
		}
		return nil
	})
}

// Reports returns the reports' reader.
func (db *DB) Reports() report.Store { return reportStore{db} }

type reportStore struct{ db *DB }

// groupCols is what a group by dimension selects and groups.
func groupCols(dim report.Dimension) (sel, group string) {
	if dim == report.ByOfficer {
		return "gkey, max(label), agency", "gkey, agency"
	}
	if dim == report.ByAgency {
		return "gkey, max(label), gkey", "gkey"
	}
	return "gkey, max(label), ''", "gkey"
}

// factCol is the rating_facts column of a dimension.
func factCol(dim report.Dimension) string {
	switch dim {
	case report.ByProcedure:
		return "procedure_code"
	case report.ByOfficer:
		return "officer"
	case report.ByField:
		return "field"
	}
	return "agency"
}

func sums() string {
	s := make([]string, len(rollCols))
	for i, c := range rollCols {
		s[i] = "sum(" + c + ")"
	}
	return strings.Join(s, ", ")
}

func scanCounts(rows *sql.Rows, dst ...any) (report.Counts, error) {
	var c report.Counts
	ptrs := append(dst, &c.RHL, &c.HL, &c.KHL)
	for i := range c.CritSum {
		ptrs = append(ptrs, &c.CritSum[i])
	}
	for i := range c.CritN {
		ptrs = append(ptrs, &c.CritN[i])
	}
	return c, rows.Scan(ptrs...)
}

// rollupWhere filters the daily rating_rollup rows of dim.
func rollupWhere(f report.Filter, dim report.Dimension) (string, []any) {
	return rollupFilters("dim = ? AND day >= ? AND day <= ?", []any{string(dim), f.FromDay, f.ToDay}, f)
}

// spanWhere covers f's days with the whole years inside it (yearly rows),
// then whole months (monthly rows), then the days at the edges (daily
// rows). With noYears, years are covered by their months (a trend by
// month).
func spanWhere(f report.Filter, dim report.Dimension, noYears bool) (string, []any) {
	type seg struct {
		suffix   string
		from, to int // keys, both included
	}
	var segs []seg
	add := func(suffix string, key int) {
		if n := len(segs); n > 0 && segs[n-1].suffix == suffix {
			segs[n-1].to = key
			return
		}
		segs = append(segs, seg{suffix, key, key})
	}
	end := report.DayTime(f.ToDay)
	for d := report.DayTime(f.FromDay); !d.After(end); {
		switch {
		case !noYears && d.YearDay() == 1 && !d.AddDate(1, 0, -1).After(end):
			add(yearSuffix, d.Year()*10000)
			d = d.AddDate(1, 0, 0)
		case d.Day() == 1 && !d.AddDate(0, 1, -1).After(end):
			add(monthSuffix, report.DayOf(d)/100*100)
			d = d.AddDate(0, 1, 0)
		default:
			add("", report.DayOf(d))
			d = d.AddDate(0, 0, 1)
		}
	}
	var ors []string
	var args []any
	for _, s := range segs {
		ors = append(ors, "(dim = ? AND day >= ? AND day <= ?)")
		args = append(args, string(dim)+s.suffix, s.from, s.to)
	}
	return rollupFilters("("+strings.Join(ors, " OR ")+")", args, f)
}

func rollupFilters(w string, args []any, f report.Filter) (string, []any) {
	if f.Channel != "" {
		w += " AND channel = ?"
		args = append(args, f.Channel)
	}
	if f.Agency != "" {
		w += " AND agency = ?"
		args = append(args, f.Agency)
	}
	if f.Key != "" {
		w += " AND gkey = ?"
		args = append(args, f.Key)
	}
	return w, args
}

func (s reportStore) Aggregate(ctx context.Context, f report.Filter, dim report.Dimension) ([]report.Group, error) {
	if f.Key != "" && f.Dim != dim {
		return nil, fmt.Errorf("aggregate by %s filtered on %s is not offered", dim, f.Dim)
	}
	sel, group := groupCols(dim)
	w, args := spanWhere(f, dim, false)
	rows, err := s.db.bun.QueryContext(ctx, "SELECT "+sel+", "+sums()+" FROM rating_rollup WHERE "+w+" GROUP BY "+group, args...)
	if err != nil {
		return nil, fmt.Errorf("aggregating ratings: %w", err)
	}
	defer rows.Close()
	var out []report.Group
	for rows.Next() {
		var g report.Group
		c, err := scanCounts(rows, &g.Key, &g.Label, &g.Agency)
		if err != nil {
			return nil, err
		}
		if c.Total() == 0 {
			continue // every rating of it was edited away into another row
		}
		g.Counts = c
		out = append(out, g)
	}
	return out, rows.Err()
}

// Daily sums per local day; over more than 190 days the trend is drawn by
// month (report.Period.Buckets), so whole months come from the monthly
// roll-ups, keyed on their first day.
func (s reportStore) Daily(ctx context.Context, f report.Filter) ([]report.DayCounts, error) {
	dim := report.ByAgency
	if f.Key != "" {
		dim = f.Dim
	}
	w, args := rollupWhere(f, dim)
	if report.DayTime(f.ToDay).Sub(report.DayTime(f.FromDay)) > 190*24*time.Hour {
		w, args = spanWhere(f, dim, true)
	}
	rows, err := s.db.bun.QueryContext(ctx, "SELECT day, "+sums()+" FROM rating_rollup WHERE "+w+" GROUP BY day ORDER BY day", args...)
	if err != nil {
		return nil, fmt.Errorf("daily ratings: %w", err)
	}
	defer rows.Close()
	var out []report.DayCounts
	for rows.Next() {
		var d report.DayCounts
		c, err := scanCounts(rows, &d.Day)
		if err != nil {
			return nil, err
		}
		if d.Day%100 == 0 {
			d.Day++ // a whole month: its first day
		}
		d.Counts = c
		out = append(out, d)
	}
	return out, rows.Err()
}

// factWhere filters rating_facts. The period is read on rated_at (the day
// is rated_at's local date), so that the lists, newest first, walk an index
// on rated_at backwards.
func factWhere(q *bun.SelectQuery, f report.Filter) *bun.SelectQuery {
	q = q.Where("f.rated_at >= ? AND f.rated_at < ?", report.DayTime(f.FromDay).UTC(), report.DayTime(f.ToDay).AddDate(0, 0, 1).UTC())
	if f.Channel != "" {
		q = q.Where("f.channel = ?", f.Channel)
	}
	if f.Agency != "" {
		q = q.Where("f.agency = ?", f.Agency)
	}
	if f.Key != "" {
		q = q.Where("f.? = ?", bun.Ident(factCol(f.Dim)), f.Key)
	}
	if f.Level > 0 {
		q = q.Where("f.level = ?", f.Level)
	}
	return q
}

func (s reportStore) Reasons(ctx context.Context, f report.Filter, limit int) ([]report.Reason, error) {
	var rows []factRow
	f.Level = 3
	q := factWhere(s.db.bun.NewSelect().Model(&rows).Column("dossier_code", "agency", "procedure_name", "reason", "rated_at"), f).
		Where("f.reason <> ''").OrderExpr("f.rated_at DESC, f.dossier_code").Limit(int64(limit))
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing reasons: %w", err)
	}
	out := make([]report.Reason, len(rows))
	for i, r := range rows {
		out[i] = report.Reason{DossierCode: r.DossierCode, Agency: r.Agency, ProcedureName: r.ProcedureName, Reason: r.Reason, RatedAt: r.RatedAt.UTC()}
	}
	return out, nil
}

func (s reportStore) Dossiers(ctx context.Context, f report.Filter, limit, offset int) ([]report.DossierRating, int, error) {
	var rows []factRow
	q := factWhere(s.db.bun.NewSelect().Model(&rows), f).OrderExpr("f.rated_at DESC, f.dossier_code").Limit(int64(limit)).Offset(int64(offset))
	if err := q.Scan(ctx); err != nil {
		return nil, 0, fmt.Errorf("listing rated dossiers: %w", err)
	}
	n, err := s.count(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	out := make([]report.DossierRating, len(rows))
	for i, r := range rows {
		out[i] = report.DossierRating{DossierCode: r.DossierCode, ProcedureCode: r.ProcedureCode, ProcedureName: r.ProcedureName,
			Agency: r.Agency, Officer: r.Officer, Channel: r.Channel, Level: rating.Levels()[max(0, min(2, r.Level-1))],
			Criteria: r.Criteria, Reason: r.Reason, RatedAt: r.RatedAt.UTC()}
	}
	return out, int(n), nil
}

// count is how many ratings f selects, from the roll-ups.
func (s reportStore) count(ctx context.Context, f report.Filter) (int64, error) {
	dim := report.ByAgency
	if f.Key != "" {
		dim = f.Dim
	}
	col := "n1 + n2 + n3"
	if f.Level >= 1 && f.Level <= 3 {
		col = fmt.Sprintf("n%d", f.Level)
	}
	w, args := spanWhere(f, dim, false)
	var n int64
	if err := s.db.bun.QueryRowContext(ctx, "SELECT coalesce(sum("+col+"), 0) FROM rating_rollup WHERE "+w, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting rated dossiers: %w", err)
	}
	return n, nil
}

func (s reportStore) Feed(ctx context.Context, after int64, limit int) ([]report.FeedItem, error) {
	var rows []factRow
	err := s.db.bun.NewSelect().Model(&rows).
		Column("seq", "dossier_code", "procedure_code", "agency", "level", "criteria", "channel", "updated_at").
		Where("seq > ?", after).OrderExpr("seq").Limit(int64(limit)).Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the ratings feed: %w", err)
	}
	out := make([]report.FeedItem, len(rows))
	for i, r := range rows {
		crit := r.Criteria
		if crit == nil {
			crit = map[rating.Criterion]rating.Level{}
		}
		out[i] = report.FeedItem{Seq: r.Seq, DossierCode: r.DossierCode, ProcedureCode: r.ProcedureCode, Agency: r.Agency,
			Level: rating.Levels()[max(0, min(2, r.Level-1))], Criteria: crit, Channel: r.Channel, RatedAt: r.UpdatedAt.UTC()}
	}
	return out, nil
}
