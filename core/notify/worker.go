package notify

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultSMSDLRWait is how long an SMS that may have left (its worker died
// during the send, or the gateway answered too late) waits for a delivery
// report before it is sent again (DVCBOT_SMS_DLR_WAIT).
const DefaultSMSDLRWait = 10 * time.Minute

// Results counted by dvcbot_outbox_messages_total.
const (
	ResultSent      = "sent"
	ResultRetry     = "retry"
	ResultAmbiguous = "ambiguous" // may have left: retried after the in-flight wait unless a report arrives
	ResultFailed    = "failed"
	ResultLeaseLost = "lease_lost" // the row changed under the worker; nothing was overwritten
	ResultResent    = "resent"     // an in-flight message whose wait passed without a report is sent again
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
	heartbeat   time.Duration
	sendTimeout time.Duration
	waits       map[string]time.Duration
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

// WithLease sets how long a claimed message is the worker's without a
// heartbeat. A crashed worker's messages are taken up again after it.
func WithLease(d time.Duration) WorkerOption { return func(w *Worker) { w.lease = d } }

// WithHeartbeat sets how often a worker renews the lease of a message it is
// still sending (default: a third of the lease).
func WithHeartbeat(d time.Duration) WorkerOption { return func(w *Worker) { w.heartbeat = d } }

// WithSendTimeout bounds one send (default 2 min); shutdown does not cut a
// send short, this does.
func WithSendTimeout(d time.Duration) WorkerOption { return func(w *Worker) { w.sendTimeout = d } }

// WithInFlightWait sets, for one kind, how long a message that may have
// left (its worker died during the send, or the sender returned an
// Ambiguous error) waits before it is sent again; a delivery report that
// arrives meanwhile completes it. 0 (the default of every kind but SMS):
// retried as soon as the lease ends or the back-off passes.
func WithInFlightWait(kind string, d time.Duration) WorkerOption {
	return func(w *Worker) { w.waits[kind] = d }
}

// WithDLRWait is WithInFlightWait for SMS (DVCBOT_SMS_DLR_WAIT, default 10 min).
func WithDLRWait(d time.Duration) WorkerOption { return WithInFlightWait(SMS, d) }

// WithClock replaces time.Now for retry times (tests).
func WithClock(now func() time.Time) WorkerOption { return func(w *Worker) { w.now = now } }

// WithWorkerLogger sets the logger.
func WithWorkerLogger(l *slog.Logger) WorkerOption { return func(w *Worker) { w.log = l } }

// WithWorkerMetrics registers the worker's counters.
func WithWorkerMetrics(reg prometheus.Registerer) WorkerOption {
	return func(w *Worker) { reg.MustRegister(w.results) }
}

// NewWorker returns a worker for the given senders (one per kind).
func NewWorker(o Outbox, senders []Sender, opts ...WorkerOption) *Worker {
	w := &Worker{outbox: o, senders: map[string]Sender{}, log: slog.Default(), maxAttempts: 8,
		baseDelay: 30 * time.Second, maxDelay: time.Hour, lease: time.Minute, sendTimeout: 2 * time.Minute,
		waits: map[string]time.Duration{SMS: DefaultSMSDLRWait}, batch: 20, poll: 2 * time.Second, now: time.Now,
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_outbox_messages_total",
			Help: "Outbox delivery attempts by kind and result (sent, retry, ambiguous, failed, lease_lost, resent).",
		}, []string{"kind", "result"})}
	for _, s := range senders {
		w.senders[s.Kind()] = s
	}
	for _, o := range opts {
		o(w)
	}
	if w.heartbeat <= 0 {
		w.heartbeat = w.lease / 3
	}
	return w
}

// Results is the worker's counter of outcomes (tests, dashboards).
func (w *Worker) Results() *prometheus.CounterVec { return w.results }

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

func (w *Worker) count(kind, result string) { w.results.WithLabelValues(kind, result).Inc() }

// RunOnce claims and sends one batch; it returns how many it handled. When
// ctx ends, the message being sent is finished and recorded; the rest of
// the batch is handed back.
func (w *Worker) RunOnce(ctx context.Context) (int, error) {
	if len(w.senders) == 0 {
		return 0, nil
	}
	msgs, err := w.outbox.Claim(ctx, w.kinds(), w.batch, w.lease)
	if err != nil {
		return 0, err
	}
	for i, m := range msgs {
		if ctx.Err() != nil {
			w.release(msgs[i:])
			return i, nil
		}
		w.deliver(ctx, m)
	}
	return len(msgs), nil
}

// release hands back claimed messages whose send never began.
func (w *Worker) release(msgs []Message) {
	for _, m := range msgs {
		if _, err := w.outbox.Release(context.Background(), m); err != nil {
			w.log.Warn("handing back an outbox message", "id", m.ID, "error", err)
		}
	}
}

// deliver sends one leased message and records the result only while the
// lease is still the worker's. Database calls use a context that shutdown
// does not cancel (each has the store's own deadline): a message that left
// is always recorded.
func (w *Worker) deliver(ctx context.Context, m Message) {
	dbctx := context.WithoutCancel(ctx)
	wait := w.waits[m.Kind]
	if m.InFlightAt != nil {
		w.count(m.Kind, ResultResent)
		w.log.Warn("sending again a message that may have left (its worker stopped during the send, or the gateway answered too late): no delivery report within the wait",
			"id", m.ID, "kind", m.Kind, "in_flight_at", m.InFlightAt, "wait", wait, "attempts", m.Attempts)
	}
	ok, err := w.outbox.Begin(dbctx, m, w.lease, wait)
	if err != nil {
		// Not sent; the lease ends and the message is claimed again.
		w.log.Error("starting an outbox send", "id", m.ID, "kind", m.Kind, "error", err)
		return
	}
	if !ok {
		w.leaseLost(m, "before the send")
		return
	}
	ref, err := w.send(ctx, m, wait)
	switch {
	case err == nil:
		w.record(m, ResultSent, func() (bool, error) { return w.outbox.MarkSent(dbctx, m, ref) })
	case IsPermanent(err) || m.Attempts >= w.maxAttempts:
		w.log.Error("outbox message failed for good", "id", m.ID, "kind", m.Kind, "recipient", m.Recipient,
			"attempts", m.Attempts, "error", err)
		w.record(m, ResultFailed, func() (bool, error) { return w.outbox.Fail(dbctx, m, err.Error(), IsAmbiguous(err)) })
	default:
		d := max(w.delay(m.Attempts), RetryAfterOf(err))
		result, ambiguous := ResultRetry, IsAmbiguous(err)
		if ambiguous {
			// It may have left: no resend before a report had its chance.
			d, result = max(d, wait), ResultAmbiguous
		}
		next := w.now().Add(d)
		w.log.Warn("outbox message will be retried", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts,
			"next", next, "may_have_left", ambiguous, "error", err)
		w.record(m, result, func() (bool, error) { return w.outbox.Retry(dbctx, m, err.Error(), next, ambiguous) })
	}
}

// send runs the sender while a heartbeat renews the lease. Shutdown does
// not cancel a send in progress (cancelling it would leave it ambiguous);
// losing the lease does, since another worker now owns the message.
func (w *Worker) send(ctx context.Context, m Message, wait time.Duration) (ref string, err error) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.sendTimeout)
	defer cancel()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(w.heartbeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			ok, err := w.outbox.Extend(sctx, m, w.lease, wait)
			if err != nil {
				if sctx.Err() == nil {
					w.log.Warn("renewing the lease of a slow send", "id", m.ID, "kind", m.Kind, "error", err)
				}
				continue
			}
			if !ok {
				w.log.Warn("lost the lease during a slow send: cancelling it", "id", m.ID, "kind", m.Kind)
				cancel()
				return
			}
		}
	})
	defer func() {
		close(stop)
		wg.Wait() // no heartbeat after the result is recorded
		if p := recover(); p != nil {
			w.log.Error("outbox sender panicked", "id", m.ID, "kind", m.Kind, "panic", p, "stack", string(debug.Stack()))
			ref, err = "", fmt.Errorf("sender panicked: %v", p)
		}
	}()
	return w.senders[m.Kind].Send(sctx, m)
}

// record runs a lease-conditional update and counts its result.
func (w *Worker) record(m Message, result string, update func() (bool, error)) {
	ok, err := update()
	if err != nil {
		// The lease ends and the row is claimed again (after the in-flight
		// wait: it was begun).
		w.log.Error("recording an outbox result", "id", m.ID, "kind", m.Kind, "result", result, "error", err)
		return
	}
	if !ok {
		w.leaseLost(m, "after the send ("+result+")")
		return
	}
	w.count(m.Kind, result)
}

func (w *Worker) leaseLost(m Message, when string) {
	w.count(m.Kind, ResultLeaseLost)
	w.log.Warn("outbox row changed under this worker (its lease ended and another worker took it, or a delivery report completed it): not overwritten",
		"id", m.ID, "kind", m.Kind, "when", when, "attempts", m.Attempts)
}

// Run drains the outbox until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	for {
		n, err := w.RunOnce(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Error("claiming outbox messages", "error", err)
		}
		if n > 0 && err == nil && ctx.Err() == nil {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(w.poll):
		}
	}
}
