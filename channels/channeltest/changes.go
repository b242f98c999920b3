// Package channeltest holds what the fakes of messaging platforms share.
package channeltest

import (
	"context"
	"sync"
	"time"
)

// Changes lets a test wait for a fake's state instead of polling it: the
// fake calls Notify after each change, and Await re-checks its condition then.
// The zero value is ready to use.
type Changes struct {
	mu sync.Mutex
	ch chan struct{}
}

// Notify wakes every Await to re-check its condition.
func (c *Changes) Notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}

func (c *Changes) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// Await returns true as soon as cond holds, false when timeout passes or ctx
// ends first. cond must not call Notify.
func (c *Changes) Await(ctx context.Context, timeout time.Duration, cond func() bool) bool {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		// Taken before cond runs: a change while cond runs is not missed.
		next := c.next()
		if cond() {
			return true
		}
		select {
		case <-next:
		case <-timer.C:
			return cond()
		case <-ctx.Done():
			return false
		}
	}
}
