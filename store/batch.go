package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// A batcher runs the concurrent calls of one hot-path statement as one
// multi-row statement: while its workers wait on the database, the calls
// that arrive queue up, and the next free worker takes all of them at once
// (no timer: a lone call goes at once). On Postgres the cost of a
// statement is mostly per statement — the round trip, executor start-up,
// the commit and its WAL flush — so under load each message pays a share
// of one instead of a whole one.
//
// Calls with the same key never share a batch (a multi-row upsert may not
// touch one row twice); a failed batch is retried call by call, so one bad
// row costs only its own call.
type batcher[Q, R any] struct {
	batchConfig[Q, R]
	calls     chan *batchCall[Q, R]
	start     sync.Once // workers start with the first call
	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
}

type batchConfig[Q, R any] struct {
	run     func(ctx context.Context, qs []Q) ([]R, error) // results in the order of qs
	single  func(ctx context.Context, q Q) (R, error)      // one call on its own
	key     func(Q) string                                 // "" = shares a batch with anything
	max     int                                            // calls per batch
	workers int                                            // batches in flight
}

func newBatcher[Q, R any](c batchConfig[Q, R]) *batcher[Q, R] {
	return &batcher[Q, R]{batchConfig: c, calls: make(chan *batchCall[Q, R], batchQueue), done: make(chan struct{})}
}

type batchCall[Q, R any] struct {
	ctx context.Context
	q   Q
	res chan batchResult[R] // buffered: a worker never waits for its caller
}

type batchResult[R any] struct {
	r   R
	err error
}

var errClosed = errors.New("the database handle is closed")

// do runs q in a batch and returns its result.
func (b *batcher[Q, R]) do(ctx context.Context, q Q) (R, error) {
	b.start.Do(func() {
		for range b.workers {
			b.wg.Go(b.work)
		}
	})
	var zero R
	c := &batchCall[Q, R]{ctx: ctx, q: q, res: make(chan batchResult[R], 1)}
	select {
	case <-b.done:
		return zero, errClosed
	default:
	}
	select {
	case b.calls <- c:
	case <-ctx.Done():
		return zero, ctx.Err()
	case <-b.done:
		return zero, errClosed
	}
	select {
	case res := <-c.res:
		return res.r, res.err
	case <-ctx.Done():
		// The batch may still run it: as after a timeout on a single
		// statement, the caller cannot know.
		return zero, ctx.Err()
	case <-b.done:
		return zero, errClosed
	}
}

// close stops the workers once their batches are done; calls after it
// fail with errClosed.
func (b *batcher[Q, R]) close() {
	b.closeOnce.Do(func() { close(b.done) })
	b.wg.Wait()
}

func (b *batcher[Q, R]) work() {
	var held []*batchCall[Q, R] // calls whose key was taken in the last batch
	for {
		batch := make([]*batchCall[Q, R], 0, b.max)
		keys := make(map[string]bool, b.max)
		add := func(c *batchCall[Q, R]) bool {
			k := b.key(c.q)
			if k != "" && keys[k] {
				return false
			}
			if k != "" {
				keys[k] = true
			}
			batch = append(batch, c)
			return true
		}
		rest := held[:0:0]
		for _, c := range held {
			if len(batch) == b.max || !add(c) {
				rest = append(rest, c)
			}
		}
		held = rest
		if len(batch) == 0 {
			select {
			case c := <-b.calls:
				add(c)
			case <-b.done:
				return
			}
		}
	drain:
		for len(batch) < b.max {
			select {
			case c := <-b.calls:
				if !add(c) {
					held = append(held, c)
				}
			default:
				break drain
			}
		}
		b.runBatch(batch)
	}
}

func (b *batcher[Q, R]) runBatch(batch []*batchCall[Q, R]) {
	live := batch[:0]
	var deadline time.Time
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.res <- batchResult[R]{err: err} // gone before it ran: nothing written
			continue
		}
		d, ok := c.ctx.Deadline()
		if !ok {
			d = time.Now().Add(batchTimeout)
		}
		if d.After(deadline) {
			deadline = d
		}
		live = append(live, c)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		r, err := b.single(live[0].ctx, live[0].q)
		live[0].res <- batchResult[R]{r: r, err: err}
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	qs := make([]Q, len(live))
	for i, c := range live {
		qs[i] = c.q
	}
	rs, err := b.run(ctx, qs)
	if err == nil {
		for i, c := range live {
			c.res <- batchResult[R]{r: rs[i]}
		}
		return
	}
	// One call's row may be what failed: each on its own, with its own
	// deadline (a database that is down fails them fast).
	for _, c := range live {
		r, err := b.single(c.ctx, c.q)
		c.res <- batchResult[R]{r: r, err: err}
	}
}

// batchQueue is how many calls may wait for a worker before callers block.
const batchQueue = 1024

// batchTimeout bounds a batch whose callers set no deadline.
const batchTimeout = 5 * time.Second
