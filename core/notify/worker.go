package notify

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Worker drains the outbox.
type Worker struct {
	outbox      Outbox
	senders     map[string]Sender
	log         *slog.Logger
	maxAttempts int
	baseDelay   time.Duration
	maxDelay    time.Duration
	lease       time.Duration
	batch       int
	poll        time.Duration
	now         func() time.Time
	results     *prometheus.CounterVec
}

// WorkerOption configures a Worker.
type WorkerOption func(*Worker)

// WithMaxAttempts sets how many attempts a message gets before it fails.
func WithMaxAttempts(n int) WorkerOption { return func(w *Worker) { w.maxAttempts = n } }

// WithBackoff sets the first retry delay and its cap (doubling, with jitter).
func WithBackoff(base, max time.Duration) WorkerOption {
	return func(w *Worker) { w.baseDelay, w.maxDelay = base, max }
}

// WithPoll sets how often an idle worker looks for work.
func WithPoll(d time.Duration) WorkerOption { return func(w *Worker) { w.poll = d } }

// WithLease sets how long a claimed message is the worker's.
func WithLease(d time.Duration) WorkerOption { return func(w *Worker) { w.lease = d } }

// WithWorkerLogger sets the logger.
func WithWorkerLogger(l *slog.Logger) WorkerOption { return func(w *Worker) { w.log = l } }

// WithWorkerMetrics registers the worker's counters.
func WithWorkerMetrics(reg prometheus.Registerer) WorkerOption {
	return func(w *Worker) { reg.MustRegister(w.results) }
}

// NewWorker returns a worker for the given senders (one per kind).
func NewWorker(o Outbox, senders []Sender, opts ...WorkerOption) *Worker {
	w := &Worker{outbox: o, senders: map[string]Sender{}, log: slog.Default(), maxAttempts: 8,
		baseDelay: 30 * time.Second, maxDelay: time.Hour, lease: 2 * time.Minute, batch: 20, poll: 2 * time.Second, now: time.Now,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_outbox_messages_total", Help: "Outbox delivery attempts by kind and result (sent, retry, failed).",
		}, []string{"kind", "result"})}
	for _, s := range senders {
		w.senders[s.Kind()] = s
	}
	for _, o := range opts {
		o(w)
	}
	return w
}

func (w *Worker) kinds() []string {
	out := make([]string, 0, len(w.senders))
	for k := range w.senders {
		out = append(out, k)
	}
	return out
}

// delay is the back-off before attempt n+1: doubling from the base, capped,
// with ±20 % jitter so replicas do not retry in step.
func (w *Worker) delay(attempts int) time.Duration {
	d := w.baseDelay
	for i := 1; i < attempts && d < w.maxDelay; i++ {
		d *= 2
	}
	d = min(d, w.maxDelay)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// RunOnce claims and sends one batch; it returns how many it handled.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	if len(w.senders) == 0 {
		return 0, nil
	}
	msgs, err := w.outbox.Claim(ctx, w.kinds(), w.batch, w.lease)
	if err != nil {
		return 0, err
	}
	for _, m := range msgs {
		w.deliver(ctx, m)
	}
	return len(msgs), nil
}

func (w *Worker) deliver(ctx context.Context, m Message) {
	s := w.senders[m.Kind]
	ref, err := s.Send(ctx, m)
	if err == nil {
		if err := w.outbox.MarkSent(ctx, m.ID, ref); err != nil {
			// Sent but not recorded: the lease expires and the message is sent
			// again. The dedupe key travels with it so a gateway can drop it.
			w.log.Error("recording a sent message failed", "id", m.ID, "kind", m.Kind, "error", err)
		}
		w.results.WithLabelValues(m.Kind, "sent").Inc()
		return
	}
	if IsPermanent(err) || m.Attempts >= w.maxAttempts {
		w.results.WithLabelValues(m.Kind, "failed").Inc()
		w.log.Error("outbox message failed for good", "id", m.ID, "kind", m.Kind, "recipient", m.Recipient,
			"attempts", m.Attempts, "error", err)
		if ferr := w.outbox.Fail(ctx, m.ID, err.Error()); ferr != nil {
			w.log.Error("recording a failed message", "id", m.ID, "error", ferr)
		}
		return
	}
	next := w.now().Add(w.delay(m.Attempts))
	w.results.WithLabelValues(m.Kind, "retry").Inc()
	w.log.Warn("outbox message will be retried", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts, "next", next, "error", err)
	if rerr := w.outbox.Retry(ctx, m.ID, err.Error(), next); rerr != nil {
		w.log.Error("rescheduling a message", "id", m.ID, "error", rerr)
	}
}

// Run drains the outbox until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	for {
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Error("claiming outbox messages", "error", err)
		}
		if n > 0 && err == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.poll):
		}
	}
}
