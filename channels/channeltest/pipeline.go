package channeltest

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
)

// Quiet is a logger for tests.
var Quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Pipeline returns the inbound pipeline a channel under test registers
// with, on db, answering with bot. Start runs it.
func Pipeline(db *store.DB, bot inbound.Bot, tr *i18n.Catalog, opts ...inbound.Option) *inbound.Pipeline {
	return inbound.New(db.Inbound(), bot, tr, append([]inbound.Option{inbound.WithLogger(Quiet)}, opts...)...)
}

// Start runs the pipeline's background work and an outbox worker for
// senders (polling often, so tests wait little) until the test ends; the
// returned stop ends both earlier and waits for them.
func Start(t testing.TB, p *inbound.Pipeline, db *store.DB, senders ...notify.Sender) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = p.Run(ctx) })
	if len(senders) > 0 {
		w := notify.NewWorker(db.Outbox(), senders, notify.WithPoll(10*time.Millisecond),
			notify.WithBackoff(10*time.Millisecond, 50*time.Millisecond), notify.WithWorkerLogger(Quiet))
		wg.Go(func() { _ = w.Run(ctx) })
	}
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(stop)
	return stop
}

// Eventually waits up to 10 s for cond, checking every 10 ms: for state
// that lives in the database, where no fake can signal a change.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
