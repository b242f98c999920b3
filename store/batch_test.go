package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
)

// recorder is a batch runner that remembers every batch it ran.
type recorder struct {
	mu      sync.Mutex
	batches [][]string
	singles []string
	gate    chan struct{} // runs wait until it is closed (nil: no wait)
	failOn  string        // a batch holding this call fails
}

func (r *recorder) run(ctx context.Context, qs []string) ([]string, error) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	r.batches = append(r.batches, slices.Clone(qs))
	r.mu.Unlock()
	if slices.Contains(qs, r.failOn) {
		return nil, errors.New("one bad row")
	}
	out := make([]string, len(qs))
	for i, q := range qs {
		out[i] = "r:" + q
	}
	return out, nil
}

func (r *recorder) single(ctx context.Context, q string) (string, error) {
	r.mu.Lock()
	r.singles = append(r.singles, q)
	r.mu.Unlock()
	if r.gate != nil {
		<-r.gate
	}
	if q == r.failOn {
		return "", errors.New("bad row " + q)
	}
	return "r:" + q, nil
}

func TestBatcher(t *testing.T) {
	keyOf := func(q string) string { return q[:1] } // calls sharing a first letter never share a batch
	tests := []struct {
		name   string
		calls  []string
		failOn string
		// want: each call's result or error text
		want map[string]string
		// wantSingles: calls that ran on their own
		wantSingles []string
	}{
		{name: "distinct keys share batches", calls: []string{"a1", "b1", "c1", "d1", "e1", "f1"},
			want: map[string]string{"a1": "r:a1", "b1": "r:b1", "c1": "r:c1", "d1": "r:d1", "e1": "r:e1", "f1": "r:f1"}},
		{name: "one key, several calls", calls: []string{"a1", "a2", "a3", "b1"},
			want: map[string]string{"a1": "r:a1", "a2": "r:a2", "a3": "r:a3", "b1": "r:b1"}},
		{name: "a bad row fails only its own call", calls: []string{"a1", "b1", "c1", "d1"}, failOn: "c1",
			want:        map[string]string{"a1": "r:a1", "b1": "r:b1", "c1": "error: bad row c1", "d1": "r:d1"},
			wantSingles: []string{"a1", "b1", "c1", "d1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := &recorder{gate: make(chan struct{}), failOn: tt.failOn}
				b := newBatcher(batchConfig[string, string]{run: rec.run, single: rec.single, key: keyOf, max: 64, workers: 1})
				defer b.close()
				// The first call occupies the only worker; the rest queue
				// behind it and go together.
				var mu sync.Mutex
				got := map[string]string{}
				var wg sync.WaitGroup
				call := func(q string) {
					r, err := b.do(context.Background(), q)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						got[q] = "error: " + err.Error()
					} else {
						got[q] = r
					}
				}
				blocker := "z0"
				wg.Go(func() { call(blocker) })
				// The worker runs z0 alone (a batch of one goes through
				// single) and waits at the gate while the rest queue up.
				synctest.Wait()
				for _, q := range tt.calls {
					wg.Go(func() { call(q) })
				}
				synctest.Wait() // every call queued behind the gate
				if len(b.calls) != len(tt.calls) {
					t.Fatalf("%d calls queued, want %d", len(b.calls), len(tt.calls))
				}
				close(rec.gate)
				wg.Wait()
				delete(got, blocker)
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Errorf("results %v, want %v", got, tt.want)
				}
				rec.mu.Lock()
				defer rec.mu.Unlock()
				for _, batch := range rec.batches {
					keys := map[string]bool{}
					for _, q := range batch {
						if keys[keyOf(q)] {
							t.Errorf("batch %v holds key %q twice", batch, keyOf(q))
						}
						keys[keyOf(q)] = true
					}
				}
				singles := slices.DeleteFunc(slices.Clone(rec.singles), func(q string) bool { return q == blocker })
				slices.Sort(singles)
				if len(tt.wantSingles) > 0 && !slices.Equal(singles, tt.wantSingles) {
					t.Errorf("singles %v, want %v", singles, tt.wantSingles)
				}
				if tt.failOn == "" {
					// As few runs (batches, or singles for a batch of one) as
					// the most frequent key allows.
					wantRuns := 0
					count := map[string]int{}
					for _, q := range tt.calls {
						count[keyOf(q)]++
						wantRuns = max(wantRuns, count[keyOf(q)])
					}
					if runs := len(rec.batches) + len(singles); runs != wantRuns {
						t.Errorf("%d runs (batches %v, singles %v), want %d", runs, rec.batches, singles, wantRuns)
					}
				}
			})
		})
	}
}

// Inside a synctest bubble: synctest.Wait returns once every goroutine is
// blocked, so the tests know the calls are queued without polling.
func TestBatcherCancelledCallIsNotRun(t *testing.T) { synctest.Test(t, testCancelledCallIsNotRun) }

func testCancelledCallIsNotRun(t *testing.T) {
	rec := &recorder{gate: make(chan struct{})}
	b := newBatcher(batchConfig[string, string]{run: rec.run, single: rec.single, key: func(string) string { return "" }, max: 8, workers: 1})
	defer b.close()
	done := make(chan struct{})
	go func() { defer close(done); _, _ = b.do(context.Background(), "first") }()
	synctest.Wait() // the worker holds "first" at the gate
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := b.do(ctx, "gone"); errc <- err }()
	synctest.Wait()
	if len(b.calls) != 1 {
		t.Fatalf("%d calls queued, want 1", len(b.calls))
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v, want context.Canceled", err)
	}
	close(rec.gate)
	<-done
	r, err := b.do(context.Background(), "after")
	if err != nil || r != "r:after" {
		t.Fatalf("after: %q %v", r, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if slices.Contains(rec.singles, "gone") || len(rec.batches) != 0 {
		t.Errorf("a cancelled call ran: singles %v batches %v", rec.singles, rec.batches)
	}
}

func TestBatcherClosed(t *testing.T) {
	rec := &recorder{}
	b := newBatcher(batchConfig[string, string]{run: rec.run, single: rec.single, key: func(string) string { return "" }, max: 8, workers: 2})
	if r, err := b.do(context.Background(), "x"); err != nil || r != "r:x" {
		t.Fatalf("before close: %q %v", r, err)
	}
	b.close()
	b.close() // twice is harmless
	if _, err := b.do(context.Background(), "y"); !errors.Is(err, errClosed) {
		t.Fatalf("after close: %v, want errClosed", err)
	}
}
