package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

func TestMigrateIsIdempotent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		n, err := db.Migrate(ctx)
		if err != nil || n != 0 {
			t.Fatalf("second Migrate = %d, %v; want 0, nil", n, err)
		}
		pending, err := db.PendingMigrations(ctx)
		if err != nil || pending != 0 {
			t.Fatalf("PendingMigrations = %d, %v", pending, err)
		}
	})
}

func TestPendingOnEmptyDatabase(t *testing.T) {
	db, err := store.Open(context.Background(), storetest.SQLiteURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.PendingMigrations(context.Background())
	if err != nil || n == 0 {
		t.Fatalf("PendingMigrations on empty db = %d, %v; want > 0", n, err)
	}
}

func TestConcurrentMigrate(t *testing.T) {
	url := storetest.PostgresSchemaURL(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	total := make([]int, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := store.Open(ctx, url)
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			total[i], errs[i] = db.Migrate(ctx)
		}()
	}
	wg.Wait()
	sum := 0
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		sum += total[i]
	}
	db, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if p, _ := db.PendingMigrations(ctx); p != 0 || sum == 0 {
		t.Fatalf("after concurrent migrate: pending %d, applied in total %d", p, sum)
	}
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func event(id, occurred string, st dossier.Status) dossier.Event {
	due := at("2024-03-08T17:00:00+07:00")
	return dossier.Event{
		ID: id, OccurredAt: at(occurred), Status: st, Note: "ghi chú " + id,
		Payload: []byte(fmt.Sprintf(`{"event_id":%q}`, id)),
		Dossier: dossier.Dossier{
			Code: "000.00.20.H17-240305-0001", ProcedureCode: "1.001193", ProcedureName: "Đăng ký khai sinh",
			Agency: "UBND phường Hải Châu I", ApplicantName: "Nguyễn Văn An", ApplicantPhone: "84905123456",
			DueAt: &due, Officer: "Trần Thị Bình",
		},
	}
}

func TestApplyEventsOrderingAndIdempotency(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ds := db.Dossiers()
		steps := []struct {
			name   string
			events []dossier.Event
			want   []dossier.Outcome
			status dossier.Status
		}{
			{"first", []dossier.Event{event("e2", "2024-03-05T10:00:00+07:00", dossier.DaTiepNhan)}, []dossier.Outcome{dossier.Accepted}, dossier.DaTiepNhan},
			{"replay", []dossier.Event{event("e2", "2024-03-05T10:00:00+07:00", dossier.DaTiepNhan)}, []dossier.Outcome{dossier.Duplicate}, dossier.DaTiepNhan},
			{"newer", []dossier.Event{event("e4", "2024-03-06T09:00:00+07:00", dossier.DangXuLy)}, []dossier.Outcome{dossier.Accepted}, dossier.DangXuLy},
			{"older arrives late", []dossier.Event{event("e1", "2024-03-05T08:01:00+07:00", dossier.MoiDangKy)}, []dossier.Outcome{dossier.Stale}, dossier.DangXuLy},
			{"batch with dup inside", []dossier.Event{
				event("e9", "2024-03-07T15:00:00+07:00", dossier.DaXuLyXong),
				event("e9", "2024-03-07T15:00:00+07:00", dossier.DaXuLyXong),
				event("e5", "2024-03-06T10:00:00+07:00", dossier.ChoBoSung),
			}, []dossier.Outcome{dossier.Accepted, dossier.Duplicate, dossier.Stale}, dossier.DaXuLyXong},
		}
		for _, s := range steps {
			res, err := ds.ApplyEvents(ctx, s.events)
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			for i, want := range s.want {
				if res[i].Result != want || res[i].EventID != s.events[i].ID {
					t.Fatalf("%s: result %d = %+v, want %s", s.name, i, res[i], want)
				}
			}
			d, err := ds.Dossier(ctx, "000.00.20.H17-240305-0001")
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			if d.Status != s.status {
				t.Fatalf("%s: status %v, want %v", s.name, d.Status, s.status)
			}
		}
		d, _ := ds.Dossier(ctx, "000.00.20.H17-240305-0001")
		if d.Note != "ghi chú e9" || d.LastEventID != "e9" || d.ApplicantPhone != "84905123456" ||
			d.DueAt == nil || !d.DueAt.Equal(at("2024-03-08T17:00:00+07:00")) || !d.StatusAt.Equal(at("2024-03-07T15:00:00+07:00")) {
			t.Fatalf("dossier fields wrong: %+v", d)
		}
		hist, err := ds.History(ctx, d.Code)
		if err != nil || len(hist) != 5 {
			t.Fatalf("history = %d events, %v; want 5", len(hist), err)
		}
		if string(hist[4].Payload) != `{"event_id":"e9"}` {
			t.Fatalf("payload not stored as received: %s", hist[4].Payload)
		}
		if hist[0].ID != "e1" || hist[4].ID != "e9" {
			t.Fatalf("history order: %s … %s", hist[0].ID, hist[4].ID)
		}
		if _, err := ds.Dossier(ctx, "H21-261008-0001"); !errors.Is(err, dossier.ErrNotFound) {
			t.Fatalf("unknown dossier: %v", err)
		}
	})
}

func TestApplyEventsConcurrentReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		// Ten writers deliver the same 20 events in different orders.
		var evs []dossier.Event
		base := at("2024-03-05T08:00:00+07:00")
		for i := range 20 {
			e := event(fmt.Sprintf("c%02d", i), base.Add(time.Duration(i)*time.Minute).Format(time.RFC3339), dossier.Status(i%10+1))
			evs = append(evs, e)
		}
		applyConcurrently(t, db, evs)
		d, err := db.Dossiers().Dossier(ctx, evs[0].Dossier.Code)
		if err != nil || d.LastEventID != "c19" {
			t.Fatalf("final state from %q (%v), want the newest event c19", d.LastEventID, err)
		}
	})
}

func proc(code, name, fee string) catalog.Procedure {
	return catalog.Procedure{Code: code, Name: name, Field: "Hộ tịch", Fee: fee, TimeLimit: "03 ngày làm việc",
		Documents: []catalog.Document{{Name: "Tờ khai", Originals: 1}}, LegalBases: []string{"Luật Hộ tịch"}}
}

func TestCatalogApplyVersions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		cs := db.Catalog()
		now := at("2026-11-22T08:00:00+07:00")
		apply := func(ps ...catalog.Procedure) []catalog.Change {
			var out []catalog.Change
			err := cs.CatalogTx(ctx, func(ctx context.Context, tx catalog.Tx) error {
				var err error
				out, err = catalog.Apply(ctx, tx, ps, "test", now)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		ch := apply(proc("1.001193", "Đăng ký khai sinh", "Miễn phí"), proc("1.000894", "Đăng ký kết hôn", "Miễn phí"))
		if len(ch) != 2 || ch[0].Kind != catalog.ChangeNew {
			t.Fatalf("first apply: %+v", ch)
		}
		if ch := apply(proc("1.001193", "Đăng ký khai sinh", "Miễn phí")); len(ch) != 0 {
			t.Fatalf("re-apply changed %+v", ch)
		}
		// Formatting noise is not a change.
		if ch := apply(proc("1.001193", "<p>Đăng ký  khai sinh</p>", "Miễn&nbsp;phí")); len(ch) != 0 {
			t.Fatalf("noise changed %+v", ch)
		}
		ch = apply(proc("1.001193", "Đăng ký khai sinh", "8.000 đồng"))
		if len(ch) != 1 || ch[0].Kind != catalog.ChangeModified || ch[0].Version != 2 ||
			len(ch[0].Fields) != 1 || ch[0].Fields[0].Field != "phi" || ch[0].Fields[0].New != "8.000 đồng" {
			t.Fatalf("modification: %+v", ch)
		}
		cancelled := proc("1.000894", "Đăng ký kết hôn", "Miễn phí")
		cancelled.Status = catalog.Cancelled
		if ch := apply(cancelled); len(ch) != 1 || ch[0].Kind != catalog.ChangeCancelled {
			t.Fatalf("cancel: %+v", ch)
		}
		pub, err := cs.PublishedProcedures(ctx)
		if err != nil || len(pub) != 1 || pub[0].Code != "1.001193" || pub[0].Fee != "8.000 đồng" || pub[0].Version != 2 {
			t.Fatalf("published = %+v, %v", pub, err)
		}
		if len(pub[0].Documents) != 1 || pub[0].Documents[0].Originals != 1 || pub[0].LegalBases[0] != "Luật Hộ tịch" {
			t.Fatalf("json fields did not round-trip: %+v", pub[0])
		}
		p, err := cs.Procedure(ctx, "1.000894")
		if err != nil || p.Status != catalog.Cancelled || p.CancelledAt == nil {
			t.Fatalf("cancelled procedure: %+v, %v", p, err)
		}
		vs, err := db.ProcedureVersions(ctx, "1.001193")
		if err != nil || len(vs) != 2 || vs[1].ChangeKind != "modified" || vs[1].ChangedFields[0].Field != "phi" {
			t.Fatalf("versions = %+v, %v", vs, err)
		}
		if n, _ := cs.CountProcedures(ctx); n != 2 {
			t.Fatalf("count = %d", n)
		}
		if _, err := cs.Procedure(ctx, "9.999999"); !errors.Is(err, catalog.ErrNotFound) {
			t.Fatalf("unknown procedure: %v", err)
		}
		// One batch: a new code listed twice (two upstream ids, one maso), a
		// modification and a new procedure, written together.
		ch = apply(proc("2.000001", "Cấp lại căn cước", "Miễn phí"), proc("1.001193", "Đăng ký khai sinh", "10.000 đồng"),
			proc("2.000001", "Cấp lại căn cước", "30.000 đồng"), proc("2.000002", "Cấp đổi căn cước", "Miễn phí"))
		kinds := make([]string, len(ch))
		for i, c := range ch {
			kinds[i] = fmt.Sprintf("%s %s v%d", c.Code, c.Kind, c.Version)
		}
		if want := []string{"2.000001 new v1", "1.001193 modified v3", "2.000001 modified v2", "2.000002 new v1"}; !slices.Equal(kinds, want) {
			t.Fatalf("mixed batch: %v, want %v", kinds, want)
		}
		if p, _ := cs.Procedure(ctx, "2.000001"); p.Version != 2 || p.Fee != "30.000 đồng" {
			t.Fatalf("code listed twice stored as %+v", p)
		}
		if vs, _ := db.ProcedureVersions(ctx, "2.000001"); len(vs) != 2 || vs[0].ChangeKind != "new" || vs[1].ChangeKind != "modified" {
			t.Fatalf("versions of the code listed twice: %+v", vs)
		}
		if p, _ := cs.Procedure(ctx, "1.001193"); p.Version != 3 || p.Fee != "10.000 đồng" {
			t.Fatalf("modified in a mixed batch: %+v", p)
		}
		if n, _ := cs.CountProcedures(ctx); n != 4 {
			t.Fatalf("count after the mixed batch = %d", n)
		}
	})
}

// A SQLite path may hold characters a file: URI reads specially.
func TestSQLitePathWithURICharacters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a%20b?c#d", "dvcbot.db")
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
}

// Events with equal occurred_at are ordered by arrival: the later one rules
// the dossier and both are in the history, in arrival order.
func TestApplyEventsEqualOccurredAt(t *testing.T) {
	const occurred = "2024-03-06T09:00:00+07:00"
	a := event("a", occurred, dossier.ChoBoSung)
	b := event("b", occurred, dossier.DangXuLy)
	tests := []struct {
		name     string
		batches  [][]dossier.Event
		want     []dossier.Outcome
		status   dossier.Status
		last     string
		note     string
		histIDs  []string
		histNote []string
	}{
		{"a then b", [][]dossier.Event{{a}, {b}}, []dossier.Outcome{dossier.Accepted, dossier.Accepted},
			dossier.DangXuLy, "b", "ghi chú b", []string{"a", "b"}, []string{"ghi chú a", "ghi chú b"}},
		{"b then a", [][]dossier.Event{{b}, {a}}, []dossier.Outcome{dossier.Accepted, dossier.Accepted},
			dossier.ChoBoSung, "a", "ghi chú a", []string{"b", "a"}, []string{"ghi chú b", "ghi chú a"}},
		{"a, b in one batch", [][]dossier.Event{{a, b}}, []dossier.Outcome{dossier.Accepted, dossier.Accepted},
			dossier.DangXuLy, "b", "ghi chú b", []string{"a", "b"}, []string{"ghi chú a", "ghi chú b"}},
		{"b, a, replay of b", [][]dossier.Event{{b}, {a, b}}, []dossier.Outcome{dossier.Accepted, dossier.Accepted, dossier.Duplicate},
			dossier.ChoBoSung, "a", "ghi chú a", []string{"b", "a"}, []string{"ghi chú b", "ghi chú a"}},
		{"older after two equal", [][]dossier.Event{{a}, {b}, {event("c", "2024-03-06T08:59:59+07:00", dossier.DaTiepNhan)}},
			[]dossier.Outcome{dossier.Accepted, dossier.Accepted, dossier.Stale},
			dossier.DangXuLy, "b", "ghi chú b", []string{"c", "a", "b"}, []string{"ghi chú c", "ghi chú a", "ghi chú b"}},
	}
	for _, backend := range storetest.Backends() {
		for _, tc := range tests {
			t.Run(backend.Name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				ds := backend.Open(t).Dossiers()
				var got []dossier.Outcome
				for _, batch := range tc.batches {
					res, err := ds.ApplyEvents(ctx, batch)
					if err != nil {
						t.Fatal(err)
					}
					for _, r := range res {
						got = append(got, r.Result)
					}
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Fatalf("outcomes %v, want %v", got, tc.want)
				}
				d, err := ds.Dossier(ctx, "000.00.20.H17-240305-0001")
				if err != nil {
					t.Fatal(err)
				}
				if d.Status != tc.status || d.LastEventID != tc.last || d.Note != tc.note || !d.StatusAt.Equal(at(occurred)) {
					t.Fatalf("dossier %v %q from %s at %v; want %v %q from %s", d.Status, d.Note, d.LastEventID, d.StatusAt,
						tc.status, tc.note, tc.last)
				}
				hist, err := ds.History(ctx, d.Code)
				if err != nil || len(hist) != len(tc.histIDs) {
					t.Fatalf("history %d events, %v; want %d", len(hist), err, len(tc.histIDs))
				}
				for i := range hist {
					if hist[i].ID != tc.histIDs[i] || hist[i].Note != tc.histNote[i] {
						t.Fatalf("history[%d] = %s %q, want %s %q", i, hist[i].ID, hist[i].Note, tc.histIDs[i], tc.histNote[i])
					}
				}
			})
		}
	}
}

// Ten writers store events that all share one occurred_at: whichever order
// the database serialises them in, the dossier shows the last of its history
// (the latest arrival), never an earlier one.
func TestApplyEventsEqualOccurredAtConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		var evs []dossier.Event
		for i := range 20 {
			evs = append(evs, event(fmt.Sprintf("s%02d", i), "2024-03-06T09:00:00+07:00", dossier.Status(i%10+1)))
		}
		applyConcurrently(t, db, evs)
		hist, err := db.Dossiers().History(ctx, evs[0].Dossier.Code)
		if err != nil || len(hist) != 20 {
			t.Fatalf("history %d events, %v", len(hist), err)
		}
		d, err := db.Dossiers().Dossier(ctx, evs[0].Dossier.Code)
		if err != nil {
			t.Fatal(err)
		}
		last := hist[len(hist)-1]
		if d.LastEventID != last.ID || d.Status != last.Status || d.Note != last.Note {
			t.Fatalf("dossier from %s (%v), but the last arrival in the history is %s (%v)", d.LastEventID, d.Status, last.ID, last.Status)
		}
	})
}

// Every call of the dossier store has a deadline: a database that does not
// answer gives dossier.ErrUnavailable instead of a request hanging for ever.
// Postgres is stalled with a table lock (readers wait too); SQLite with its
// write lock (WAL readers never wait, so only writes can stall there).
func TestDossierStoreDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	code := "000.00.20.H17-240305-0001"
	tests := []struct {
		backend storetest.Backend
		lock    string
		reads   bool
	}{
		{storetest.Backends()[0], "UPDATE dossiers SET note = note", false},
		{storetest.Backends()[1], "LOCK TABLE dossiers, dossier_events IN ACCESS EXCLUSIVE MODE", true},
	}
	for _, tc := range tests {
		t.Run(tc.backend.Name, func(t *testing.T) {
			ctx := context.Background()
			db := tc.backend.Open(t)
			ds := db.DossiersWithTimeout(timeout)
			if _, err := ds.ApplyEvents(ctx, []dossier.Event{event("e1", "2024-03-05T10:00:00+07:00", dossier.DaTiepNhan)}); err != nil {
				t.Fatal(err)
			}
			locker, err := db.Bun().BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer locker.Rollback()
			if _, err := locker.ExecContext(ctx, tc.lock); err != nil {
				t.Fatal(err)
			}
			calls := map[string]func() error{
				"ApplyEvents": func() error {
					_, err := ds.ApplyEvents(ctx, []dossier.Event{event("e2", "2024-03-06T10:00:00+07:00", dossier.DangXuLy)})
					return err
				},
			}
			if tc.reads {
				calls["Dossier"] = func() error { _, err := ds.Dossier(ctx, code); return err }
				calls["History"] = func() error { _, err := ds.History(ctx, code); return err }
			}
			for name, call := range calls {
				started := time.Now()
				err := call()
				if elapsed := time.Since(started); !errors.Is(err, dossier.ErrUnavailable) || elapsed > 5*time.Second {
					t.Fatalf("%s on a stalled database: %v after %v, want dossier.ErrUnavailable at the %v deadline", name, err, elapsed, timeout)
				}
			}
			if err := locker.Rollback(); err != nil {
				t.Fatal(err)
			}
			res, err := ds.ApplyEvents(ctx, []dossier.Event{event("e2", "2024-03-06T10:00:00+07:00", dossier.DangXuLy)})
			if err != nil || res[0].Result != dossier.Accepted {
				t.Fatalf("after the stall: %v, %v; want accepted", res, err)
			}
			if d, err := ds.Dossier(ctx, code); err != nil || d.LastEventID != "e2" {
				t.Fatalf("after the stall: dossier from %q, %v", d.LastEventID, err)
			}
		})
	}
}

// applyConcurrently has 10 writers apply every event, each in another
// order, and checks that each event was stored exactly once.
func applyConcurrently(t *testing.T, db *store.DB, evs []dossier.Event) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	stored := make(chan string, 10*len(evs))
	for w := range 10 {
		wg.Go(func() {
			for k := range evs {
				e := evs[(k*7+w*3)%len(evs)]
				res, err := db.Dossiers().ApplyEvents(ctx, []dossier.Event{e})
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				if res[0].Result != dossier.Duplicate {
					stored <- e.ID
				}
			}
		})
	}
	wg.Wait()
	close(stored)
	seen := map[string]int{}
	for id := range stored {
		seen[id]++
	}
	for _, e := range evs {
		if seen[e.ID] != 1 {
			t.Fatalf("event %s stored %d times, want exactly once", e.ID, seen[e.ID])
		}
	}
}

// The audit log is append-only in the database itself: an UPDATE or a
// DELETE (or a TRUNCATE on Postgres) of an entry is refused, whoever asks,
// and the entry stays as written.
func TestAuditLogAppendOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if _, err := db.Bun().NewRaw(`INSERT INTO audit_log (at, actor, action, target) VALUES (?, 'admin@demo', 'account.create', 'lan')`,
			time.Now().UTC()).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		refused := []string{"UPDATE audit_log SET target = 'someone else'", "DELETE FROM audit_log"}
		if db.Dialect() == store.Postgres {
			refused = append(refused, "TRUNCATE audit_log")
		}
		for _, q := range refused {
			_, err := db.Bun().ExecContext(ctx, q)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: %v, want refused as append-only", q, err)
			}
		}
		var target string
		if err := db.Bun().NewRaw("SELECT target FROM audit_log WHERE action = 'account.create'").Scan(ctx, &target); err != nil || target != "lan" {
			t.Fatalf("entry after the refused changes: %q, %v", target, err)
		}
	})
}
