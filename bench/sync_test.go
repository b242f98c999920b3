package bench

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/nationaldb"
	"github.com/dvcbot/dvcbot/core/nationaldb/nationaldbtest"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// upstream turns a procedure into the feed's detail record.
func upstream(i int, p catalog.Procedure) map[string]any {
	docs := make([]map[string]any, len(p.Documents))
	for k, d := range p.Documents {
		docs[k] = map[string]any{"ten": d.Name, "ban_chinh": 1, "ban_sao": 0, "bat_buoc": true}
	}
	return map[string]any{"id_hethong": 100_000 + i, "maso": p.Code, "ten": p.Name, "linh_vuc": p.Field,
		"cap_thuc_hien": p.Level, "trinh_tu": p.Steps, "thanh_phan_ho_so": docs, "phi": p.Fee, "thoi_han": p.TimeLimit,
		"co_quan_thuc_hien": p.Agency, "ket_qua": p.Result}
}

type syncBench struct {
	db     *store.DB
	fake   *nationaldbtest.Fake
	syncer *catalogsync.Syncer
	now    time.Time
}

func newSyncBench(b *testing.B, n int) *syncBench {
	procs := catalogue(b, n)
	fake := nationaldbtest.New(time.Now().Add(-48 * time.Hour))
	for i, p := range procs {
		fake.Put(upstream(i, p))
	}
	fake.Latency = 5 * time.Millisecond // every answer, as the target says
	srv := fake.Server()
	b.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	db := storetest.Postgres(b)
	tr, _ := i18n.New()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	sb := &syncBench{db: db, fake: fake, now: time.Now()}
	client := nationaldb.New(u, "1", nationaldb.WithConcurrency(4), nationaldb.WithLogger(quiet))
	sb.syncer = catalogsync.New(client, db.Catalog(), db.Sync(), catalogsync.NewDigestBuilder(tr, "vi", func(c string) string { return c }),
		catalogsync.WithLogger(quiet), catalogsync.WithClock(func() time.Time { return sb.now }),
		catalogsync.WithRecipients(catalogsync.Recipient{Kind: "email", Address: "ttdvc@danang.gov.vn"}))
	return sb
}

func (sb *syncBench) run(b *testing.B) catalogsync.Summary {
	sum, err := sb.syncer.RunOnce(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return sum
}

// BenchmarkSyncFull100k: the first sync of 100,000 procedures from an
// upstream answering every request in 5 ms, 4 at a time. The network bound
// is 100,000 × 5 ms / 4 = 125 s; the target is 1.3 × that.
func BenchmarkSyncFull100k(b *testing.B) {
	sb := newSyncBench(b, 100_000)
	for b.Loop() {
		sum := sb.run(b)
		if sum.Run.New != 100_000 {
			b.Fatalf("synced %+v", sum.Run)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/sync")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/125, "x-network-bound")
}

// BenchmarkSyncIncremental1000: 1,000 procedures changed since the last sync
// of a 10,000-procedure catalogue (target: 3 s).
func BenchmarkSyncIncremental1000(b *testing.B) {
	sb := newSyncBench(b, 10_000)
	sb.fake.Latency = 0
	sb.run(b)
	sb.fake.Latency = 5 * time.Millisecond
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		sb.now = sb.now.Add(2 * time.Hour)
		sb.fake.SetClock(sb.now.Add(-time.Hour))
		for i := range 1000 {
			sb.fake.Update(int64(100_000+i*7), map[string]any{"phi": "Phí lần " + string(rune('A'+round%26))})
		}
		b.StartTimer()
		sum := sb.run(b)
		if sum.Run.Modified != 1000 {
			b.Fatalf("incremental %+v", sum.Run)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/sync")
}
