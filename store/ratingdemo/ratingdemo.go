// Package ratingdemo makes realistic demo ratings with their dossiers for
// the satisfaction reports: `dvcbot demo ratings` and the benchmark.
package ratingdemo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/dvcbot/dvcbot/core/demo"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/report"
	"github.com/dvcbot/dvcbot/store"
)

// Agencies are the demo's providing agencies: Đà Nẵng's wards and
// departments (the codes' third segment tells them apart).
var Agencies = []string{
	demo.Agency, "UBND phường Thanh Khê", "UBND phường Sơn Trà", "UBND phường Ngũ Hành Sơn", "UBND phường Liên Chiểu",
	"UBND phường Cẩm Lệ", "UBND phường Hòa Khánh", "UBND phường An Hải", "UBND phường Hòa Cường", "UBND xã Hòa Vang",
	"Sở Tư pháp", "Sở Xây dựng", "Sở Nông nghiệp và Môi trường", "Sở Tài chính", "Sở Y tế",
	"Sở Nội vụ", "Sở Công Thương", "Sở Giáo dục và Đào tạo", "Công an thành phố Đà Nẵng", "Sở Khoa học và Công nghệ",
}

var (
	demoFamily = []string{"Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Võ", "Phan", "Đặng", "Bùi", "Đỗ", "Huỳnh", "Ngô"}
	demoMiddle = []string{"Văn", "Thị", "Minh", "Ngọc", "Hữu", "Thanh", "Quốc", "Thu"}
	demoGiven  = []string{"An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Khoa", "Lan", "Linh", "Nam", "Phúc", "Quân", "Tâm", "Trang", "Tuấn", "Vy"}
	demoWhy    = []string{
		"Phải đi lại nhiều lần để bổ sung giấy tờ",
		"Trả kết quả trễ hẹn so với giấy biên nhận",
		"Cán bộ hướng dẫn chưa rõ ràng, thiếu nhiệt tình",
		"Không được thông báo khi hồ sơ cần bổ sung",
		"Dịch vụ công trực tuyến hay bị lỗi khi nộp hồ sơ",
		"Thời gian chờ tại bộ phận một cửa quá lâu",
	}
	demoChannels = []struct {
		name   string
		weight int
	}{{"sms", 30}, {"webchat", 35}, {"zalo", 30}, {"telegram", 5}}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func demoName(r *rand.Rand) string {
	return pick(r, demoFamily) + " " + pick(r, demoMiddle) + " " + pick(r, demoGiven)
}

// demoRatings makes n realistic dossiers with their ratings, rated within
// the last days days before now.
type demoRatings struct {
	r        *rand.Rand
	procs    []demoProc
	officers [][]string
	now      time.Time
	days     int
	seqs     map[string]int
	base     int // the seed's offset of the codes' sequence numbers
}

type demoProc struct{ code, name, field string }

func newDemoRatings(seed uint64, now time.Time, days int) (*demoRatings, error) {
	procs, err := demo.Procedures()
	if err != nil {
		return nil, err
	}
	g := &demoRatings{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), now: now, days: days, seqs: map[string]int{}, base: int(seed % 5000)}
	for _, p := range procs {
		g.procs = append(g.procs, demoProc{p.Code, p.Name, p.Field})
	}
	for range Agencies {
		var names []string
		for range 6 {
			names = append(names, demoName(g.r))
		}
		g.officers = append(g.officers, names)
	}
	return g, nil
}

func (g *demoRatings) next() store.BulkRating {
	r := g.r
	ai := r.IntN(len(Agencies))
	// Each agency handles its own slice of the catalogue (about 60 procedures).
	p := g.procs[(ai*37+r.IntN(60))%len(g.procs)]
	rated := g.now.Add(-time.Duration(r.Int64N(int64(g.days) * int64(24*time.Hour))))
	received := rated.Add(-time.Duration(3+r.IntN(20)) * 24 * time.Hour)
	day := received.In(report.Local()).Format("060102")
	key := fmt.Sprintf("%02d-%s", 20+ai, day)
	g.seqs[key]++
	seq := g.seqs[key] + g.base // codes stay unique per agency and day
	code := fmt.Sprintf("000.00.%02d.H17-%s-%04d", 20+ai, day, seq%10000)
	if seq >= 10000 {
		code = fmt.Sprintf("000.00.%02d.H17-%s-%05d", 20+ai, day, seq)
	}
	finished := rated.Add(-time.Duration(r.IntN(48)) * time.Hour)
	due := received.Add(15 * 24 * time.Hour)
	applicantPhone := fmt.Sprintf("8490%07d", r.IntN(10000000))
	d := dossier.Dossier{Code: code, ProcedureCode: p.code, ProcedureName: p.name, Agency: Agencies[ai],
		ApplicantName: demoName(r), ApplicantPhone: applicantPhone, SubmittedVia: pick(r, []string{"truc_tiep", "truc_tuyen", "truc_tuyen", "buu_chinh"}),
		ReceivedAt: &received, DueAt: &due, FinishedAt: &finished, ReturnedAt: &finished, Officer: pick(r, g.officers[ai]),
		Status: dossier.DaTraKetQua, StatusAt: finished}
	// Levels: about 55 % very satisfied, 38 % satisfied, 7 % not.
	lvl := rating.RatHaiLong
	switch x := r.IntN(100); {
	case x >= 93:
		lvl = rating.KhongHaiLong
	case x >= 55:
		lvl = rating.HaiLong
	}
	w := r.IntN(100)
	ch := demoChannels[0].name
	for _, c := range demoChannels {
		if w < c.weight {
			ch = c.name
			break
		}
		w -= c.weight
	}
	rt := rating.Rating{DossierCode: code, Level: lvl, Channel: ch, UserID: applicantPhone, CreatedAt: rated, UpdatedAt: rated,
		RawText: "DG " + code + fmt.Sprintf(" %d", lvl.Number())}
	if lvl == rating.KhongHaiLong {
		rt.Reason = pick(r, demoWhy)
	}
	if r.IntN(100) < 40 { // four in ten answer the criteria
		rt.Criteria = map[rating.Criterion]rating.Level{}
		for _, c := range rating.Criteria() {
			if r.IntN(100) < 85 {
				l := lvl
				if r.IntN(100) < 25 {
					l = pick(r, rating.Levels())
				}
				rt.Criteria[c] = l
			}
		}
	}
	return store.BulkRating{Dossier: d, Field: p.field, Rating: rt}
}

// deferAbove is the load above which the roll-ups are rebuilt once at the
// end instead of being updated batch by batch.
const deferAbove = 20000

// Add adds n demo ratings to db in batches.
func Add(ctx context.Context, db *store.DB, n int, seed uint64, now time.Time, days int, progress func(done int)) (int, error) {
	g, err := newDemoRatings(seed, now, days)
	if err != nil {
		return 0, err
	}
	const batch = 2000
	added := 0
	for done := 0; done < n; {
		k := min(batch, n-done)
		items := make([]store.BulkRating, k)
		for i := range items {
			items[i] = g.next()
		}
		bulk := db.BulkRatings
		if n > deferAbove {
			bulk = db.BulkRatingsDeferred
		}
		a, err := bulk(ctx, items)
		if err != nil {
			return added, err
		}
		added += a
		done += k
		if progress != nil {
			progress(done)
		}
	}
	if n > deferAbove {
		return added, db.RebuildRatingRollups(ctx)
	}
	return added, nil
}
