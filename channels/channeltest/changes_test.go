package channeltest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestAwait(t *testing.T) {
	var c Changes
	var n atomic.Int64
	go func() {
		for range 5 {
			n.Add(1)
			c.Notify()
		}
	}()
	if !c.Await(context.Background(), 10*time.Second, func() bool { return n.Load() == 5 }) {
		t.Fatalf("Await gave up at %d of 5 changes", n.Load())
	}
	if c.Await(context.Background(), 20*time.Millisecond, func() bool { return n.Load() == 6 }) {
		t.Fatal("Await reported a condition that never held")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if c.Await(ctx, time.Hour, func() bool { return false }) {
		t.Fatal("Await held on after its context ended")
	}
}
