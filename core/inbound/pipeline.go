package inbound

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Bot is the default handler: the citizen bot.
type Bot interface {
	Handle(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply
	Welcome(ctx context.Context, channel, user string, caps message.Capabilities) message.Reply
}

// Route sends the messages it matches to another handler than the bot
// (the officer bot, a channel's keywords). The first match wins.
type Route struct {
	Name string
	// Match decides on the message; ctx carries what the store read with
	// the claim (see Claim.Attach), so a match needs no query of its own.
	Match  func(ctx context.Context, in message.Inbound) bool
	Handle func(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply
}

// Spool keeps messages on local disk while the database is away.
type Spool interface {
	Append(ctx context.Context, key string, data []byte) error
	Replay(ctx context.Context, fn func(ctx context.Context, key string, data []byte) error) (int, error)
	Len() (records int, bytes int64)
}

// Pinger tells whether the database answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Defaults.
const (
	DefaultClaimTimeout = time.Minute
	DefaultCallTimeout  = 3 * time.Second // one database call
	handleTimeout       = 20 * time.Second
	inFlightWait        = 2 * time.Second
)

// Pipeline is the shared inbound path. Channels call Receive; Run does the
// background work (async answers, the sweeper, spool replay).
type Pipeline struct {
	store        Store
	bot          Bot
	routes       []Route
	tr           *i18n.Catalog
	spool        Spool
	ping         Pinger
	log          *slog.Logger
	now          func() time.Time
	claimTimeout time.Duration
	callTimeout  time.Duration
	workers      int
	queue        chan job
	prefetch     func(text string) string

	mu       sync.RWMutex
	channels map[string]Channel

	down     atomic.Bool
	replayMu sync.Mutex
	wake     chan struct{}

	messages *prometheus.CounterVec
	reused   *prometheus.CounterVec
	panics   *prometheus.CounterVec
	duration *prometheus.HistogramVec
	spoolErr *prometheus.CounterVec
}

type job struct {
	ch    Channel
	in    message.Inbound
	claim Claim
}

// Option configures a Pipeline.
type Option func(*Pipeline)

// WithRoute adds a route before the bot.
func WithRoute(r Route) Option { return func(p *Pipeline) { p.routes = append(p.routes, r) } }

// WithSpool keeps messages on disk while the database is away; pinger
// tells when it is back.
func WithSpool(s Spool, pinger Pinger) Option {
	return func(p *Pipeline) { p.spool, p.ping = s, pinger }
}

// WithPrefetch names, for a message, the dossier it asks about, so the
// store can read it with the claim (one round trip less per look-up). A
// wrong guess costs nothing but that round trip.
func WithPrefetch(fn func(text string) string) Option { return func(p *Pipeline) { p.prefetch = fn } }

func (p *Pipeline) prefetchFor(in message.Inbound) string {
	if p.prefetch == nil || in.Event != "" {
		return ""
	}
	return p.prefetch(in.Text)
}

// WithClaimTimeout sets how long a claim may stay unanswered before the
// sweeper finishes it (DVCBOT_CLAIM_TIMEOUT).
func WithClaimTimeout(d time.Duration) Option { return func(p *Pipeline) { p.claimTimeout = d } }

// WithCallTimeout bounds each database call.
func WithCallTimeout(d time.Duration) Option { return func(p *Pipeline) { p.callTimeout = d } }

// WithWorkers sets how many goroutines answer async messages.
func WithWorkers(n int) Option { return func(p *Pipeline) { p.workers = max(1, n) } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(p *Pipeline) { p.log = l } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(p *Pipeline) { p.now = now } }

// WithMetrics registers the pipeline's metrics.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(p *Pipeline) { reg.MustRegister(p.messages, p.reused, p.panics, p.duration, p.spoolErr) }
}

// New returns a pipeline that answers with bot unless a route matches.
func New(store Store, bot Bot, tr *i18n.Catalog, opts ...Option) *Pipeline {
	p := &Pipeline{store: store, bot: bot, tr: tr, log: slog.Default(), now: time.Now,
		claimTimeout: DefaultClaimTimeout, callTimeout: DefaultCallTimeout, workers: 4,
		queue: make(chan job, 1024), channels: map[string]Channel{}, wake: make(chan struct{}, 1),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_inbound_messages_total", Help: "Inbound messages by channel and outcome.",
		}, []string{"channel", "outcome"}),
		reused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_inbound_reused_ids_total", Help: "Platform message ids seen again from another sender (handled as new messages).",
		}, []string{"channel"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_inbound_panics_total", Help: "Handler panics recovered, by channel.",
		}, []string{"channel"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "dvcbot_inbound_handle_seconds", Help: "Time to handle one message, by channel.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"channel"}),
		spoolErr: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_inbound_spool_total", Help: "Messages spooled during a database outage, and spool failures, by result.",
		}, []string{"result"}),
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Register makes a channel known; a channel calls it once, when built.
func (p *Pipeline) Register(ch Channel) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.channels[ch.Name] = ch
}

func (p *Pipeline) channel(name string) (Channel, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	ch, ok := p.channels[name]
	return ch, ok
}

// Outcomes of Receive, also the metric's label values.
const (
	Handled  = "handled"   // answered now (sync) or after (async worker)
	Queued   = "queued"    // async: recorded, answered by a worker
	Repeat   = "repeat"    // a retry: the stored reply, no second handling
	InFlight = "in_flight" // a retry while the first is being handled
	Spooled  = "spooled"   // database away: on disk, answered later
	Deferred = "deferred"  // the bot failed: the sweeper answers later
	Failed   = "failed"    // neither recorded nor spooled: the platform must retry
)

// Result is what a channel answers the platform with.
type Result struct {
	Outcome string
	// Reply is the answer to return now (sync channels); it may be empty.
	Reply message.Reply
}

// Degraded reports whether the pipeline is answering from the spool (the
// database is away or the spool is not yet replayed).
func (p *Pipeline) Degraded() bool {
	if p.down.Load() {
		return true
	}
	if p.spool != nil {
		n, _ := p.spool.Len()
		return n > 0
	}
	return false
}

// Receive takes one message from a channel. in must have passed Validate.
func (p *Pipeline) Receive(ctx context.Context, in message.Inbound, raw []byte) Result {
	ch, ok := p.channel(in.Channel)
	if !ok {
		panic(fmt.Sprintf("inbound: channel %q was never registered", in.Channel))
	}
	if in.MessageID == "" {
		in.MessageID = "gen-" + randomID() // no platform id: nothing to dedupe, but spool and sweeper need a key
	}
	if in.Time.IsZero() {
		in.Time = p.now().UTC()
	}
	res := p.receive(ctx, ch, in, raw)
	p.messages.WithLabelValues(ch.Name, res.Outcome).Inc()
	return res
}

func (p *Pipeline) receive(ctx context.Context, ch Channel, in message.Inbound, raw []byte) Result {
	if p.down.Load() && p.spool != nil {
		return p.toSpool(ctx, ch, in, raw)
	}
	cctx, cancel := context.WithTimeout(ctx, p.callTimeout)
	c, err := p.store.Claim(cctx, in, raw, p.claimTimeout, p.prefetchFor(in))
	cancel()
	if err != nil {
		p.log.Error("recording an inbound message failed", "channel", ch.Name, "id", in.MessageID, "error", err)
		if p.spool == nil {
			return Result{Outcome: Failed}
		}
		p.markDown()
		return p.toSpool(ctx, ch, in, raw)
	}
	if c.Reused {
		p.reused.WithLabelValues(ch.Name).Inc()
		p.log.Warn("platform message id reused by another sender: handled as a new message",
			"channel", ch.Name, "id", in.MessageID)
	}
	switch {
	case c.Reply != nil:
		if ch.Mode == Async || c.Sent {
			return Result{Outcome: Repeat} // already answered through the outbox
		}
		return Result{Outcome: Repeat, Reply: *c.Reply}
	case c.InFlight:
		if ch.Mode == Sync {
			if r, ok := p.awaitReply(ctx, in, raw); ok {
				return Result{Outcome: Repeat, Reply: r}
			}
		}
		return Result{Outcome: InFlight}
	}
	if ch.Mode == Async {
		select {
		case p.queue <- job{ch: ch, in: in, claim: c}:
		default:
			// Recorded: the sweeper answers it after the claim timeout.
			p.log.Warn("inbound queue full; the sweeper will answer", "channel", ch.Name, "id", in.MessageID)
		}
		return Result{Outcome: Queued}
	}
	reply, err := p.handleAndComplete(ctx, ch, in, c, false)
	if errors.Is(err, errDeferred) {
		// Not an answer: the claim stays for the sweeper, which answers by
		// an outbound message once the bot can; the citizen is told so.
		return Result{Outcome: Deferred, Reply: p.busy(ch)}
	}
	if err != nil {
		// The database went away after the claim: the citizen gets the
		// reply now; its record waits in the spool so the sweeper does not
		// answer a second time.
		p.log.Error("recording a reply failed", "channel", ch.Name, "id", in.MessageID, "error", err)
		p.spoolCompletion(ctx, in, reply, nil)
	}
	return Result{Outcome: Handled, Reply: reply}
}

// awaitReply waits briefly for the first attempt of a retried message, so
// an identical retry gets the identical reply.
func (p *Pipeline) awaitReply(ctx context.Context, in message.Inbound, raw []byte) (message.Reply, bool) {
	deadline := time.NewTimer(inFlightWait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return message.Reply{}, false
		case <-deadline.C:
			return message.Reply{}, false
		case <-tick.C:
			cctx, cancel := context.WithTimeout(ctx, p.callTimeout)
			c, err := p.store.Claim(cctx, in, raw, p.claimTimeout, "")
			cancel()
			if err != nil {
				return message.Reply{}, false
			}
			if c.Reply != nil {
				return *c.Reply, true
			}
		}
	}
}

// handle routes and answers one message; a panic becomes the generic
// error reply, logged with its stack and counted.
func (p *Pipeline) handle(ctx context.Context, ch Channel, in message.Inbound) (reply message.Reply) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), handleTimeout)
	defer cancel()
	defer func() {
		if v := recover(); v != nil {
			p.panics.WithLabelValues(ch.Name).Inc()
			p.log.Error("handler panic recovered", "channel", ch.Name, "id", in.MessageID, "panic", fmt.Sprint(v),
				"stack", string(debug.Stack()))
			reply = Render(message.Reply{Text: p.tr.T(i18n.Default, "error_generic")}, ch.Caps)
		}
		p.duration.WithLabelValues(ch.Name).Observe(time.Since(start).Seconds())
	}()
	for _, r := range p.routes {
		if r.Match(ctx, in) {
			return Render(r.Handle(ctx, in, ch.Caps), ch.Caps)
		}
	}
	switch in.Event {
	case message.EventWelcome:
		return Render(p.bot.Welcome(ctx, ch.Name, in.UserID, ch.Caps), ch.Caps)
	case message.EventMedia:
		return Render(message.Reply{Text: p.tr.T(i18n.Default, "only_text")}, ch.Caps)
	case message.EventAdminReply:
		return message.Reply{} // a person wrote on the platform: never bot input
	}
	return Render(p.bot.Handle(ctx, in, ch.Caps), ch.Caps)
}

// outbound is the outbox message that sends reply to in's sender.
func outbound(ch Channel, in message.Inbound, reply message.Reply) []notify.Message {
	if ch.OutboxKind == "" || (reply.Text == "" && len(reply.Choices) == 0) {
		return nil
	}
	return []notify.Message{{Kind: ch.OutboxKind, Recipient: in.Address(),
		Payload:   notify.Payload{Text: reply.Text, Choices: reply.Choices},
		DedupeKey: "reply:" + KeyOf(in).String()}}
}

func (p *Pipeline) complete(ctx context.Context, in message.Inbound, reply message.Reply, out []notify.Message, turn *session.Turn) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.callTimeout)
	defer cancel()
	return p.store.Complete(cctx, KeyOf(in), reply, reply.Secret, out, turn)
}

// handleAndComplete answers in and records the reply (sent through the
// outbox when send is set). With a session read at the claim, the bot
// works on it through a session.Turn and it is saved with the reply; if
// another message of the same user changed it meanwhile, the message is
// answered again from the stored state. A failed reply is not recorded
// (errDeferred) while tries are left.
func (p *Pipeline) handleAndComplete(ctx context.Context, ch Channel, in message.Inbound, c Claim, send bool, attempts ...int) (message.Reply, error) {
	hctx := ctx
	if c.Attach != nil {
		hctx = c.Attach(ctx)
	}
	try := func(hctx context.Context, turn *session.Turn) (message.Reply, error) {
		reply := p.handle(hctx, ch, in)
		if reply.Failed && (len(attempts) == 0 || attempts[0] < maxFailedAttempts) {
			p.log.Warn("the bot could not answer; the sweeper will retry", "channel", ch.Name, "id", in.MessageID)
			return reply, errDeferred
		}
		var out []notify.Message
		if send {
			out = outbound(ch, in, reply)
		}
		err := p.complete(ctx, in, reply, out, turn)
		if err != nil {
			return reply, err
		}
		if send && len(out) == 0 && reply.Text != "" {
			p.log.Warn("reply stored but not sent: the channel has no outbox sender", "channel", ch.Name, "id", in.MessageID)
		}
		return reply, nil
	}
	if c.Session != nil {
		turn := &session.Turn{Loaded: *c.Session}
		reply, err := try(session.WithTurn(hctx, turn), turn)
		if !errors.Is(err, session.ErrConflict) {
			return reply, err
		}
		p.log.Debug("session changed by another message: answering again", "channel", ch.Name, "id", in.MessageID)
	}
	return try(session.WithoutTurn(hctx), nil)
}

// maxFailedAttempts bounds how often the sweeper retries a message the bot
// keeps failing on; then the apology is the answer.
const maxFailedAttempts = 5

// errDeferred: the bot failed; the claim is left for the sweeper.
var errDeferred = errors.New("the bot could not answer now")

// answer handles a claimed message whose reply is sent, not returned:
// async channels, the sweeper, spool replay. attempts counts handlings.
func (p *Pipeline) answer(ctx context.Context, ch Channel, in message.Inbound, c Claim, attempts int) error {
	reply, err := p.handleAndComplete(ctx, ch, in, c, true, attempts)
	if err != nil && !errors.Is(err, errDeferred) {
		p.log.Error("recording a reply failed", "channel", ch.Name, "id", in.MessageID, "error", err)
		p.spoolCompletion(ctx, in, reply, outbound(ch, in, reply))
	}
	return err
}

// Render fits a reply to a channel: plain channels get text within their
// SMS budget (accent-free unless accents are on) and no buttons.
func Render(r message.Reply, caps message.Capabilities) message.Reply {
	if !caps.Plain {
		return r
	}
	r.Choices, r.Hint = nil, ""
	if !caps.Accents {
		r.Text = vntext.ToGSM(r.Text)
	}
	if caps.MaxSegments > 0 && r.Text != "" {
		r.Text, _ = vntext.FitSMS(r.Text, "", caps.MaxSegments)
	}
	return r
}

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
