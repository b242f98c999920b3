package notice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/dvcbot/dvcbot/core/notify"
)

// Record is a queued notice as the store keeps it.
type Record struct {
	ID          int64
	OutboxID    int64
	DossierCode string
	Kind        string
	Status      int
	DueDate     string
	OutboxKind  string
	Recipient   string
	// Identity is "channel:user" of the citizen's identity the notice was
	// addressed to (a ZNS notice goes to a phone but belongs to a Zalo
	// user): its opt-out is checked at send time.
	Identity                    string
	State                       string // queued, superseded, fallback
	EventAt                     time.Time
	QueuedAt                    time.Time
	HeldUntil                   *time.Time
	FallbackPhone, FallbackText string
}

// Notice record states (beside what the outbox row says).
const (
	StateQueued     = "queued"
	StateSuperseded = "superseded" // a newer notice of the dossier went instead
	StateFallback   = "fallback"   // failed on its rich channel; an SMS went instead
)

// Store is what the guard reads and writes at send time.
type Store interface {
	// NoticeByOutbox returns the notice an outbox message carries.
	NoticeByOutbox(ctx context.Context, outboxID int64) (Record, bool, error)
	// Newer reports whether another notice of the same dossier and lane
	// (chat or e-mail) stems from a later event, or ranks above a
	// "received" one, and still waits or already left: r is then stale.
	Newer(ctx context.Context, r Record) (bool, error)
	// SetState records a notice's state.
	SetState(ctx context.Context, id int64, state string) error
	// OptedOut reports whether an identity ("channel:user") refused notices.
	OptedOut(ctx context.Context, identity string) (bool, error)
	// Rated reports whether the dossier was rated already.
	Rated(ctx context.Context, code string) (bool, error)
	// QueueFallback queues the SMS that replaces a failed rich notice,
	// not before notBefore; false when it was queued before.
	QueueFallback(ctx context.Context, r Record, notBefore time.Time) (bool, error)
	// ReserveSlot books the next send slot of a pace shared by every
	// replica (one send per interval) and returns when it is.
	ReserveSlot(ctx context.Context, name string, interval time.Duration, now time.Time) (time.Time, error)
}

// Results of dvcbot_notices_total.
const (
	ResultQueued     = "queued"
	ResultHeld       = "held"
	ResultSent       = "sent"
	ResultFailed     = "failed"
	ResultRetry      = "retry"
	ResultSuperseded = "superseded"
	ResultOptedOut   = "opted_out"
	ResultFallback   = "fallback"
)

// Metrics counts notices by kind, channel and result.
type Metrics struct{ c *prometheus.CounterVec }

// NewMetrics returns the counters (registered on reg when it is not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{c: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvcbot_notices_total",
		Help: "Proactive notices by kind (received, ready, rating…), channel (sms, zalo, zns, telegram, web, email) and result (queued, held, sent, failed, retry, superseded, opted_out, fallback).",
	}, []string{"kind", "channel", "result"})}
	if reg != nil {
		reg.MustRegister(m.c)
	}
	return m
}

// Count adds one.
func (m *Metrics) Count(kind, outboxKind, result string) {
	if m != nil {
		m.c.WithLabelValues(kind, Channel(outboxKind), result).Inc()
	}
}

// Counter exposes the counter (tests).
func (m *Metrics) Counter() *prometheus.CounterVec { return m.c }

// Guard wraps the outbox senders: SMS are paced (DVCBOT_SMS_SEND_RATE,
// across replicas), and a notice is checked once more right before it
// leaves — quiet hours, a newer notice of the same dossier (coalescing),
// the identity's opt-out, a rating already given — and falls back to SMS
// once when its rich channel fails for good.
type Guard struct {
	store   Store
	policy  *Policy
	pace    *Pacer
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time
	// WebChatTries: a web chat notice whose page stays closed this many
	// tries falls back to SMS.
	webTries int
}

// GuardOption configures a Guard.
type GuardOption func(*Guard)

// WithGuardClock replaces time.Now for quiet hours (tests).
func WithGuardClock(now func() time.Time) GuardOption { return func(g *Guard) { g.now = now } }

// WithGuardLogger sets the logger.
func WithGuardLogger(l *slog.Logger) GuardOption { return func(g *Guard) { g.log = l } }

// WithPacer paces SMS sends.
func WithPacer(p *Pacer) GuardOption { return func(g *Guard) { g.pace = p } }

// WithGuardMetrics counts send results.
func WithGuardMetrics(m *Metrics) GuardOption { return func(g *Guard) { g.metrics = m } }

// NewGuard returns the guard.
func NewGuard(s Store, p *Policy, opts ...GuardOption) *Guard {
	g := &Guard{store: s, policy: p, log: slog.Default(), now: time.Now, webTries: 3}
	for _, o := range opts {
		o(g)
	}
	return g
}

// Wrap returns the guarded sender of kind inner.Kind().
func (g *Guard) Wrap(inner notify.Sender) notify.Sender { return &guarded{g: g, inner: inner} }

// WrapAll wraps every sender.
func (g *Guard) WrapAll(in []notify.Sender) []notify.Sender {
	out := make([]notify.Sender, len(in))
	for i, s := range in {
		out[i] = g.Wrap(s)
	}
	return out
}

type guarded struct {
	g     *Guard
	inner notify.Sender
}

func (w *guarded) Kind() string { return w.inner.Kind() }

// Errors a guarded notice ends with instead of being sent.
var (
	ErrSuperseded = errors.New("notice superseded by a newer notice of the same dossier")
	ErrOptedOut   = errors.New("the recipient refused notices on this channel")
	ErrQuiet      = errors.New("quiet hours: the notice waits for their end")
)

func (w *guarded) Send(ctx context.Context, m notify.Message) (string, error) {
	g := w.g
	if !strings.HasPrefix(m.DedupeKey, DedupePrefix) {
		if err := w.paced(ctx, m); err != nil {
			return "", err
		}
		return w.inner.Send(ctx, m)
	}
	rec, ok, err := g.store.NoticeByOutbox(ctx, m.ID)
	if err != nil {
		return "", err
	}
	if !ok { // queued by hand or by an older version: send as is
		return w.inner.Send(ctx, m)
	}
	now := g.now()
	if Quiet(m.Kind) && g.policy.cfg.Quiet.Contains(now) {
		g.metrics.Count(rec.Kind, m.Kind, ResultHeld)
		return "", notify.RetryAfter(ErrQuiet, g.policy.cfg.Quiet.Release(now).Sub(now))
	}
	if stop, err := w.stale(ctx, rec); err != nil || stop != nil {
		if err != nil {
			return "", err
		}
		return "", notify.Permanent(stop)
	}
	if err := w.paced(ctx, m); err != nil {
		return "", err
	}
	ref, err := w.inner.Send(ctx, m)
	switch {
	case err == nil:
		g.metrics.Count(rec.Kind, m.Kind, ResultSent)
		return ref, nil
	case m.Kind == notify.WebChat && !notify.IsPermanent(err) && m.Attempts >= g.webTries:
		err = notify.Permanent(fmt.Errorf("no web chat page open after %d tries: %w", m.Attempts, err))
	case !notify.IsPermanent(err):
		g.metrics.Count(rec.Kind, m.Kind, ResultRetry)
		return "", err
	}
	g.metrics.Count(rec.Kind, m.Kind, ResultFailed)
	w.fallback(ctx, rec, err)
	return "", err
}

// stale returns why a notice must not leave (nil: it may).
func (w *guarded) stale(ctx context.Context, rec Record) (error, error) {
	g := w.g
	newer, err := g.store.Newer(ctx, rec)
	if err != nil {
		return nil, err
	}
	if !newer && rec.Kind == Rating {
		if newer, err = g.store.Rated(ctx, rec.DossierCode); err != nil {
			return nil, err
		}
	}
	if newer {
		if err := g.store.SetState(ctx, rec.ID, StateSuperseded); err != nil {
			return nil, err
		}
		g.metrics.Count(rec.Kind, rec.OutboxKind, ResultSuperseded)
		return ErrSuperseded, nil
	}
	if rec.Identity != "" && !strings.HasPrefix(rec.Identity, "sms:") { // the SMS sender checks its own opt-outs
		out, err := g.store.OptedOut(ctx, rec.Identity)
		if err != nil {
			return nil, err
		}
		if out {
			g.metrics.Count(rec.Kind, rec.OutboxKind, ResultOptedOut)
			return ErrOptedOut, nil
		}
	}
	return nil, nil
}

// fallback queues the SMS of a rich notice that failed for good, once.
func (w *guarded) fallback(ctx context.Context, rec Record, cause error) {
	g := w.g
	if rec.OutboxKind == notify.SMS || rec.OutboxKind == notify.Email || rec.FallbackPhone == "" || rec.FallbackText == "" ||
		errors.Is(cause, ErrSuperseded) || errors.Is(cause, ErrOptedOut) {
		return
	}
	queued, err := g.store.QueueFallback(ctx, rec, g.policy.cfg.Quiet.Release(g.now()))
	if err != nil {
		g.log.Error("queuing the SMS fallback of a notice", "dossier", rec.DossierCode, "kind", rec.Kind, "channel", rec.OutboxKind, "error", err)
		return
	}
	if queued {
		g.metrics.Count(rec.Kind, rec.OutboxKind, ResultFallback)
		g.log.Warn("notice failed on its channel: falling back to SMS", "dossier", rec.DossierCode, "kind", rec.Kind,
			"channel", rec.OutboxKind, "error", cause)
	}
}

func (w *guarded) paced(ctx context.Context, m notify.Message) error {
	if m.Kind != notify.SMS || w.g.pace == nil {
		return nil
	}
	return w.g.pace.Wait(ctx)
}

// DefaultSMSRate is the default of DVCBOT_SMS_SEND_RATE (SMS a second).
const DefaultSMSRate = 30

// Pacer holds a send rate across replicas: every send books the next slot
// of a schedule kept in the database (one slot per 1/rate seconds, shared
// by all replicas) and waits for it. A local golang.org/x/time/rate limiter
// at the same rate goes first, so one process never asks for slots faster
// than the rate, and keeps the pace alone when the database cannot be asked.
type Pacer struct {
	store    Store
	name     string
	interval time.Duration
	local    *rate.Limiter
	log      *slog.Logger
}

// NewPacer paces sends named name to perSecond a second.
func NewPacer(s Store, name string, perSecond int, log *slog.Logger) *Pacer {
	if log == nil {
		log = slog.Default()
	}
	return &Pacer{store: s, name: name, interval: time.Second / time.Duration(max(1, perSecond)),
		local: rate.NewLimiter(rate.Limit(max(1, perSecond)), 1), log: log}
}

// Wait blocks until the caller may send.
func (p *Pacer) Wait(ctx context.Context) error {
	if err := p.local.Wait(ctx); err != nil {
		return err
	}
	now := time.Now()
	slot, err := p.store.ReserveSlot(ctx, p.name, p.interval, now)
	if err != nil {
		p.log.Warn("the shared send pace is unavailable; pacing this replica alone", "name", p.name, "error", err)
		return nil
	}
	if d := time.Until(slot); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
