package notice

import (
	"context"
	"log/slog"
	"time"
)

// OverdueQueuer queues the overdue apologies due at now.
type OverdueQueuer interface {
	QueueOverdue(ctx context.Context, now time.Time, batch int) (int, error)
}

// DefaultOverdueEvery is how often the overdue job looks (DVCBOT_OVERDUE_EVERY).
// Each appointment date gets one apology whatever the frequency: the job
// skips dossiers apologised for since their last change, and the dedupe key
// holds the date.
const DefaultOverdueEvery = time.Hour

// RunOverdue runs the overdue job every interval until ctx ends. Replicas
// may all run it: the dedupe keys keep one apology per appointment date.
func RunOverdue(ctx context.Context, q OverdueQueuer, every time.Duration, now func() time.Time, log *slog.Logger) error {
	if now == nil {
		now = time.Now
	}
	for {
		n, err := q.QueueOverdue(ctx, now(), 500)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("the overdue job failed; it runs again later", "error", err)
		case n > 0:
			log.Info("overdue apologies queued", "notices", n)
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}
