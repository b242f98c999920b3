package spool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// logBuf collects log output for assertions.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func rec(i int) Record {
	return Record{Key: fmt.Sprintf("sms:gw%05d:+8490000%04d", i, i%10000), Data: []byte(fmt.Sprintf(`{"i":"%05d","text":"DVC %06d"}`, i, i))}
}

func withBeforeWrite(f func(n int)) Option { return func(c *config) { c.beforeWrite = f } }

func open(t testing.TB, dir string, max int64, opts ...Option) (*Spool, *logBuf) {
	t.Helper()
	lb := &logBuf{}
	s, err := Open(dir, max, append([]Option{WithLogger(lb.logger())}, opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, lb
}

// crash drops the spool the way a killed process does: the flusher is
// gone, files are closed, the lock is released; nothing is saved.
func (s *Spool) crash() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	<-s.flushed
	s.wmu.Lock()
	if s.active != nil {
		_ = s.active.f.Close()
	}
	s.wmu.Unlock()
	_ = unlockDir(s.lock)
}

func appendN(t testing.TB, s *Spool, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := s.Append(context.Background(), rec(i)); err != nil {
			t.Fatalf("Append(%d): %v", i, err)
		}
	}
}

func replayAll(t testing.TB, s *Spool) []Record {
	t.Helper()
	var got []Record
	n, err := s.Replay(context.Background(), func(_ context.Context, r Record) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatalf("Replay: %v", err)
	}
	if n != len(got) {
		t.Fatalf("Replay returned %d, handed over %d", n, len(got))
	}
	return got
}

func wantRange(t testing.TB, got []Record, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Fatalf("got %d records, want %d (%d..%d)", len(got), to-from, from, to-1)
	}
	for i, r := range got {
		w := rec(from + i)
		if r.Key != w.Key || !bytes.Equal(r.Data, w.Data) {
			t.Fatalf("record %d = %s %s, want %s %s", i, r.Key, r.Data, w.Key, w.Data)
		}
	}
}

func segFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+segSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func TestAppendReplayOrderAcrossSegments(t *testing.T) {
	one := Size(rec(0))
	for _, tc := range []struct {
		name     string
		segSize  int64
		n        int
		minFiles int
	}{
		{"one record per segment", 1, 20, 20},
		{"three records per segment", 3 * one, 50, 16},
		{"one segment", 1 << 20, 50, 1},
		{"empty", 1 << 20, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir, 1<<30, WithSegmentSize(tc.segSize))
			defer s.Close()
			appendN(t, s, 0, tc.n)
			if got := len(segFiles(t, dir)); got < tc.minFiles {
				t.Fatalf("%d segment files, want at least %d", got, tc.minFiles)
			}
			n, b := s.Len()
			if n != tc.n || b != int64(tc.n)*one {
				t.Fatalf("Len = %d, %d; want %d, %d", n, b, tc.n, int64(tc.n)*one)
			}
			wantRange(t, replayAll(t, s), 0, tc.n)
			if n, b := s.Len(); n != 0 || b != 0 {
				t.Fatalf("Len after replay = %d, %d", n, b)
			}
			if f := segFiles(t, dir); len(f) != 0 {
				t.Fatalf("segments left after replay: %v", f)
			}
			// Appending goes on after a full replay, in new segments.
			appendN(t, s, tc.n, tc.n+5)
			wantRange(t, replayAll(t, s), tc.n, tc.n+5)
		})
	}
}

// metric reads one sample from a registry.
func metric(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if !hasLabel(m, labels[i], labels[i+1]) {
					continue next
				}
			}
			switch {
			case m.GetGauge() != nil:
				return m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("metric %s%v not found", name, labels)
	return 0
}

func hasLabel(m *dto.Metric, k, v string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == k && l.GetValue() == v {
			return true
		}
	}
	return false
}

func TestErrFullAtBound(t *testing.T) {
	one := Size(rec(0)) // every rec(i) below 10,000 has the same size
	if one != Size(rec(9999)) {
		t.Fatal("test records must have equal sizes")
	}
	for _, tc := range []struct {
		name string
		max  int64
		fits int
	}{
		{"exactly three", 3 * one, 3},
		{"one byte short of four", 4*one - 1, 3},
		{"one byte short of one", one - 1, 0},
		{"exactly one", one, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			reg := prometheus.NewRegistry()
			s, lb := open(t, dir, tc.max, WithMetrics(reg), WithSegmentSize(2*one))
			defer s.Close()
			appendN(t, s, 0, tc.fits)
			for range 2 {
				err := s.Append(context.Background(), rec(tc.fits))
				if !errors.Is(err, ErrFull) {
					t.Fatalf("Append past the bound: %v, want ErrFull", err)
				}
				var fe *FullError
				if !errors.As(err, &fe) || fe.Max != tc.max || fe.Used != int64(tc.fits)*one || fe.Need != one {
					t.Fatalf("FullError = %+v, want max %d used %d need %d", fe, tc.max, int64(tc.fits)*one, one)
				}
			}
			if got := metric(t, reg, "dvcbot_spool_appends_total", "result", "full"); got != 2 {
				t.Fatalf("full appends = %v, want 2", got)
			}
			if got := metric(t, reg, "dvcbot_spool_appends_total", "result", "ok"); got != float64(tc.fits) {
				t.Fatalf("ok appends = %v, want %d", got, tc.fits)
			}
			if got := metric(t, reg, "dvcbot_spool_appends_total", "result", "error"); got != 0 {
				t.Fatalf("error appends = %v, want 0", got)
			}
			if got := metric(t, reg, "dvcbot_spool_bytes"); got != float64(int64(tc.fits)*one) {
				t.Fatalf("dvcbot_spool_bytes = %v, want %d", got, int64(tc.fits)*one)
			}
			if got := metric(t, reg, "dvcbot_spool_records"); got != float64(tc.fits) {
				t.Fatalf("dvcbot_spool_records = %v, want %d", got, tc.fits)
			}
			if c := strings.Count(lb.String(), "spool full"); c != 1 {
				t.Fatalf("%d 'spool full' log lines, want 1:\n%s", c, lb)
			}
			if _, b := s.Len(); b > tc.max {
				t.Fatalf("spool holds %d bytes, bound %d", b, tc.max)
			}
			// Replay makes room again.
			wantRange(t, replayAll(t, s), 0, tc.fits)
			if got := metric(t, reg, "dvcbot_spool_replayed_total"); got != float64(tc.fits) {
				t.Fatalf("replayed = %v, want %d", got, tc.fits)
			}
			if tc.fits > 0 {
				appendN(t, s, 0, tc.fits)
				if !strings.Contains(lb.String(), "spool accepts records again") {
					t.Fatalf("no log line when the spool accepted again:\n%s", lb)
				}
			}
		})
	}
}

func TestTornTail(t *testing.T) {
	const n = 10
	one := Size(rec(0))
	for _, tc := range []struct {
		name   string
		mangle func(t *testing.T, path string)
		keep   int // complete records left
	}{
		{"cut in the middle of the last record", func(t *testing.T, p string) { truncate(t, p, 9*one+one/2) }, 9},
		{"cut in the last record's header", func(t *testing.T, p string) { truncate(t, p, 9*one+3) }, 9},
		{"cut right after the last record's header", func(t *testing.T, p string) { truncate(t, p, 9*one+headerSize) }, 9},
		{"garbage after the last record", func(t *testing.T, p string) {
			appendBytes(t, p, []byte("\x13\x00\x00\x00garbage that is not a record"))
		}, 10},
		{"zeros after the last record", func(t *testing.T, p string) { appendBytes(t, p, make([]byte, 4096)) }, 10},
		{"huge length after the last record", func(t *testing.T, p string) { appendBytes(t, p, []byte{0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4, 5}) }, 10},
		{"flipped byte in the last record", func(t *testing.T, p string) { flip(t, p, 10*one-2) }, 9},
		{"flipped length of the last record", func(t *testing.T, p string) { flip(t, p, 9*one) }, 9},
		{"cut and garbage", func(t *testing.T, p string) {
			truncate(t, p, 8*one+5)
			appendBytes(t, p, bytes.Repeat([]byte{0xa5}, 100))
		}, 8},
		{"everything torn", func(t *testing.T, p string) { truncate(t, p, 5) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir, 1<<30)
			appendN(t, s, 0, n)
			s.crash()
			files := segFiles(t, dir)
			if len(files) != 1 {
				t.Fatalf("segments: %v", files)
			}
			tc.mangle(t, files[0])

			s, lb := open(t, dir, 1<<30)
			defer s.Close()
			if !strings.Contains(lb.String(), "torn record") {
				t.Fatalf("no log line for the torn tail:\n%s", lb)
			}
			if r, b := s.Len(); r != tc.keep || b != int64(tc.keep)*one {
				t.Fatalf("Len = %d, %d; want %d, %d", r, b, tc.keep, int64(tc.keep)*one)
			}
			// The spool goes on: new records follow the recovered ones.
			appendN(t, s, 100, 103)
			got := replayAll(t, s)
			wantRange(t, got[:tc.keep], 0, tc.keep)
			wantRange(t, got[tc.keep:], 100, 103)
		})
	}
}

// A corrupt middle segment loses only its own tail; later segments are
// replayed.
func TestCorruptMiddleSegmentDoesNotBlockTheRest(t *testing.T) {
	dir := t.TempDir()
	one := Size(rec(0))
	s, _ := open(t, dir, 1<<30, WithSegmentSize(3*one))
	appendN(t, s, 0, 9) // three segments of three
	s.crash()
	files := segFiles(t, dir)
	if len(files) != 3 {
		t.Fatalf("segments: %v", files)
	}
	flip(t, files[1], one+headerSize+1) // second record of the second segment
	s, lb := open(t, dir, 1<<30, WithSegmentSize(3*one))
	defer s.Close()
	if !strings.Contains(lb.String(), "level=ERROR") || !strings.Contains(lb.String(), "corrupt") {
		t.Fatalf("no error log for the corrupt segment:\n%s", lb)
	}
	got := replayAll(t, s)
	want := []int{0, 1, 2, 3, 6, 7, 8}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Key != rec(w).Key {
			t.Fatalf("record %d = %s, want %s", i, got[i].Key, rec(w).Key)
		}
	}
}

// A segment that changes on disk after Open is moved aside by Replay, and
// the segments after it are still replayed.
func TestCorruptionDuringReplayIsQuarantined(t *testing.T) {
	dir := t.TempDir()
	one := Size(rec(0))
	s, lb := open(t, dir, 1<<30, WithSegmentSize(3*one))
	defer s.Close()
	appendN(t, s, 0, 9)
	flip(t, segFiles(t, dir)[0], 2*one+headerSize+1)
	got := replayAll(t, s)
	want := []int{0, 1, 3, 4, 5, 6, 7, 8}
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Key != rec(w).Key {
			t.Fatalf("record %d = %s, want %s", i, got[i].Key, rec(w).Key)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.corrupt")); len(m) != 1 {
		t.Fatalf("corrupt segment not kept: %v", m)
	}
	if !strings.Contains(lb.String(), "records_lost=1") {
		t.Fatalf("log does not count the lost record:\n%s", lb)
	}
	if r, b := s.Len(); r != 0 || b != 0 {
		t.Fatalf("Len = %d, %d", r, b)
	}
}

func truncate(t *testing.T, path string, size int64) {
	t.Helper()
	if err := os.Truncate(path, size); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x40
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

var errDB = errors.New("database unreachable")

func TestReplayStopsAtHandlerErrorAndResumesThere(t *testing.T) {
	one := Size(rec(0))
	for _, tc := range []struct {
		name   string
		reopen func(t *testing.T, s *Spool, dir string) *Spool
	}{
		{"same spool", func(t *testing.T, s *Spool, dir string) *Spool { return s }},
		{"after Close", func(t *testing.T, s *Spool, dir string) *Spool {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s, _ = open(t, dir, 1<<30, WithSegmentSize(4*one))
			return s
		}},
		{"after a crash", func(t *testing.T, s *Spool, dir string) *Spool {
			s.crash()
			s, _ = open(t, dir, 1<<30, WithSegmentSize(4*one))
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, failAt := range []int{0, 3, 4, 7, 19} { // first, mid-segment, segment start, last
				dir := t.TempDir()
				s, _ := open(t, dir, 1<<30, WithSegmentSize(4*one))
				appendN(t, s, 0, 20)
				var seen []Record
				n, err := s.Replay(context.Background(), func(_ context.Context, r Record) error {
					if r.Key == rec(failAt).Key {
						return errDB
					}
					seen = append(seen, r)
					return nil
				})
				if !errors.Is(err, errDB) || n != failAt {
					t.Fatalf("fail at %d: Replay = %d, %v; want %d, %v", failAt, n, err, failAt, errDB)
				}
				wantRange(t, seen, 0, failAt)
				if r, _ := s.Len(); r != 20-failAt {
					t.Fatalf("fail at %d: %d records left, want %d", failAt, r, 20-failAt)
				}
				s = tc.reopen(t, s, dir)
				wantRange(t, replayAll(t, s), failAt, 20)
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestReopenLosesNothing(t *testing.T) {
	one := Size(rec(0))
	for _, tc := range []struct {
		name string
		stop func(*Spool)
	}{
		{"Close", func(s *Spool) { _ = s.Close() }},
		{"crash", (*Spool).crash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, _ := open(t, dir, 1<<30, WithSegmentSize(5*one))
			appendN(t, s, 0, 12)
			tc.stop(s)
			s, _ = open(t, dir, 1<<30, WithSegmentSize(5*one))
			if r, b := s.Len(); r != 12 || b != 12*one {
				t.Fatalf("Len after reopen = %d, %d", r, b)
			}
			appendN(t, s, 12, 20) // goes to a new segment, after the old ones
			tc.stop(s)
			s, _ = open(t, dir, 1<<30, WithSegmentSize(5*one))
			defer s.Close()
			wantRange(t, replayAll(t, s), 0, 20)
		})
	}
}

// A crash in the middle of Replay (the handler panics, nothing is saved)
// hands over again at most the records since the last checkpoint, and
// never loses one.
func TestCrashDuringReplayIsAtLeastOnce(t *testing.T) {
	one := Size(rec(0))
	for _, tc := range []struct {
		name    string
		every   int
		crashAt int
		resume  int // first record handed over after the crash
	}{
		{"checkpoint every record", 1, 25, 25},
		{"checkpoint every 10 (segments of 7 are deleted first)", 10, 25, 21},
		{"checkpoint every 3", 3, 26, 24},
		{"before the first checkpoint", 10, 5, 0},
		{"at a segment boundary", 7, 21, 21},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := []Option{WithSegmentSize(7 * one), WithCheckpointEvery(tc.every)}
			s, _ := open(t, dir, 1<<30, opts...)
			appendN(t, s, 0, 40)
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("handler did not panic")
					}
				}()
				_, _ = s.Replay(context.Background(), func(_ context.Context, r Record) error {
					if r.Key == rec(tc.crashAt).Key {
						panic("crash")
					}
					return nil
				})
			}()
			s.crash()
			s, _ = open(t, dir, 1<<30, opts...)
			defer s.Close()
			wantRange(t, replayAll(t, s), tc.resume, 40)
		})
	}
}

func TestConcurrentAppendsReplayedExactlyOnce(t *testing.T) {
	const workers, per = 32, 100
	dir := t.TempDir()
	// Hold the first write until every worker has queued its first
	// record: the rest of the 32 go out together in the second fsync.
	release := make(chan struct{})
	var first sync.Once
	var firstBatch atomic.Int64
	hook := func(n int) {
		first.Do(func() {
			firstBatch.Store(int64(n))
			<-release
		})
	}
	s, _ := open(t, dir, 1<<30, WithSegmentSize(64<<10), withBeforeWrite(hook))
	defer s.Close()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range per {
				r := Record{Key: fmt.Sprintf("w%02d-%03d", w, i), Data: []byte(fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}
				if err := s.Append(context.Background(), r); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
			}
		})
	}
	close(start)
	for {
		s.mu.Lock()
		q := len(s.queue)
		s.mu.Unlock()
		if f := firstBatch.Load(); f > 0 && q+int(f) == workers {
			break
		}
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	s.mu.Lock()
	batches := s.batches
	s.mu.Unlock()
	if batches >= workers*per {
		t.Fatalf("%d fsync batches for %d appends: no group commit", batches, workers*per)
	}
	t.Logf("%d appends in %d fsync batches", workers*per, batches)

	// A replay that crashes halfway, then a full one: the handler dedupes
	// by key, and every record is handled exactly once, each worker's in
	// its order.
	handled := map[string]int{}
	next := make([]int, workers)
	handle := func(_ context.Context, r Record) error {
		if handled[r.Key]++; handled[r.Key] > 1 {
			return nil // a duplicate: already done
		}
		var w, i int
		if _, err := fmt.Sscanf(r.Key, "w%02d-%03d", &w, &i); err != nil {
			t.Fatalf("key %q: %v", r.Key, err)
		}
		if i != next[w] {
			t.Fatalf("worker %d: record %d handed over before %d", w, i, next[w])
		}
		next[w]++
		return nil
	}
	s2 := s
	func() {
		defer func() { _ = recover() }()
		k := 0
		_, _ = s2.Replay(context.Background(), func(ctx context.Context, r Record) error {
			if k++; k == workers*per/2 {
				panic("crash")
			}
			return handle(ctx, r)
		})
	}()
	s2.crash()
	s, _ = open(t, dir, 1<<30)
	defer s.Close()
	if _, err := s.Replay(context.Background(), handle); err != nil {
		t.Fatal(err)
	}
	if len(handled) != workers*per {
		t.Fatalf("%d distinct records handled, want %d", len(handled), workers*per)
	}
	for w, n := range next {
		if n != per {
			t.Fatalf("worker %d: %d records handled, want %d", w, n, per)
		}
	}
}

// Records appended while Replay runs, from the handler and from other
// goroutines, are handed over in the same Replay, after the older ones
// and in their own order.
func TestAppendDuringReplay(t *testing.T) {
	one := Size(rec(0))
	dir := t.TempDir()
	s, _ := open(t, dir, 1<<30, WithSegmentSize(4*one))
	defer s.Close()
	appendN(t, s, 0, 10)

	side := make(chan int) // the other goroutine appends when told
	sideDone := make(chan struct{})
	go func() {
		defer close(sideDone)
		for i := range side {
			if err := s.Append(context.Background(), rec(i)); err != nil {
				t.Errorf("Append: %v", err)
			}
			side <- i
		}
	}()
	var got []Record
	next := 100
	n, err := s.Replay(context.Background(), func(_ context.Context, r Record) error {
		got = append(got, r)
		if len(got) <= 10 { // while the old records are handled
			if err := s.Append(context.Background(), rec(next)); err != nil {
				return err
			}
			next++
			side <- next
			<-side
			next++
		}
		return nil
	})
	close(side)
	<-sideDone
	if err != nil {
		t.Fatal(err)
	}
	if n != 30 || len(got) != 30 {
		t.Fatalf("Replay handed over %d (%d), want 30", n, len(got))
	}
	wantRange(t, got[:10], 0, 10)
	wantRange(t, got[10:], 100, 120)
	if r, b := s.Len(); r != 0 || b != 0 {
		t.Fatalf("Len = %d, %d", r, b)
	}
	if f := segFiles(t, dir); len(f) != 0 {
		t.Fatalf("segments left: %v", f)
	}
}

func TestReplayContextCancelled(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir, 1<<30)
	defer s.Close()
	appendN(t, s, 0, 10)
	ctx, cancel := context.WithCancel(context.Background())
	n, err := s.Replay(ctx, func(_ context.Context, r Record) error {
		if r.Key == rec(3).Key {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 4 {
		t.Fatalf("Replay = %d, %v; want 4, context.Canceled", n, err)
	}
	wantRange(t, replayAll(t, s), 4, 10)
}

func TestErrors(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "spool")
	reg := prometheus.NewRegistry()
	s, _ := open(t, dir, 1<<30, WithMetrics(reg))
	if _, err := Open(dir, 1<<30); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if _, err := Open(t.TempDir(), 0); err == nil {
		t.Fatal("Open with a zero bound succeeded")
	}
	if err := s.Append(context.Background(), Record{Key: "k", Data: make([]byte, MaxRecordSize)}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("huge record: %v, want ErrTooLarge", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Append(ctx, rec(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Append: %v", err)
	}
	if err := s.Append(context.Background(), Record{}); err != nil {
		t.Fatalf("empty record: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Append(context.Background(), rec(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if _, err := s.Replay(context.Background(), func(context.Context, Record) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Replay after Close: %v", err)
	}
	if got := metric(t, reg, "dvcbot_spool_appends_total", "result", "error"); got != 3 {
		t.Fatalf("error appends = %v, want 3", got)
	}
	// Registering twice in one registry fails cleanly.
	s2, err := Open(dir, 1<<30, WithMetrics(reg))
	if err == nil {
		s2.Close()
		t.Fatal("second registration succeeded")
	}
	// The lock was released: the directory opens again, with the empty
	// record in it.
	s, _ = open(t, dir, 1<<30)
	defer s.Close()
	got := replayAll(t, s)
	if len(got) != 1 || got[0].Key != "" || len(got[0].Data) != 0 {
		t.Fatalf("got %+v, want one empty record", got)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, %v", fi.Mode(), err)
	}
}

// A segment deleted behind the spool's back does not block the others.
func TestVanishedSegmentDoesNotBlockTheRest(t *testing.T) {
	dir := t.TempDir()
	one := Size(rec(0))
	s, lb := open(t, dir, 1<<30, WithSegmentSize(3*one))
	defer s.Close()
	appendN(t, s, 0, 9)
	if err := os.Remove(segFiles(t, dir)[1]); err != nil {
		t.Fatal(err)
	}
	got := replayAll(t, s)
	wantRange(t, got[:3], 0, 3)
	wantRange(t, got[3:], 6, 9)
	if !strings.Contains(lb.String(), "records_lost=3") {
		t.Fatalf("no error log for the vanished segment:\n%s", lb)
	}
	if r, b := s.Len(); r != 0 || b != 0 {
		t.Fatalf("Len = %d, %d", r, b)
	}
}
