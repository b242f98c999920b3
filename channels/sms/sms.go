// Package sms is the shortcode channel (8188): MO messages from Kannel's
// smsbox (GET or POST, answered with the reply as the HTTP body) or from a
// generic HMAC-signed JSON gateway, delivery reports, and the outbound MT
// sender (Kannel sendsms or the generic gateway) the outbox uses.
package sms

import (
	"context"
	"crypto/subtle"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/phone"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// OptOuts remembers the phones that refused proactive messages.
type OptOuts interface {
	OptedOut(ctx context.Context, phone string) (bool, error)
}

// Config is the channel's configuration.
type Config struct {
	Key         string         // DVCBOT_SMS_KEY: the secret "key" parameter Kannel sends
	AllowCIDRs  []netip.Prefix // DVCBOT_SMS_ALLOW_CIDRS: where Kannel may call from
	Secret      string         // DVCBOT_SMS_SECRET: HMAC key of the generic gateway
	Accents     bool           // DVCBOT_SMS_ACCENTS
	MaxSegments int            // DVCBOT_SMS_MAX_SEGMENTS
}

// Channel serves the SMS routes: it verifies and parses gateway calls and
// hands each MO to the inbound pipeline.
type Channel struct {
	cfg      Config
	pipe     *inbound.Pipeline
	receipts Receipts
	log      *slog.Logger
	mo       *prometheus.CounterVec
	now      func() time.Time
	segments prometheus.Histogram
}

// Option configures a Channel.
type Option func(*Channel)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Channel) { c.log = l } }

// WithMetrics registers the channel's metrics.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *Channel) { reg.MustRegister(c.mo, c.segments) }
}

// Receipts records delivery reports of outbox messages.
type Receipts interface {
	RecordDelivery(ctx context.Context, id int64, status string) (bool, error)
}

// WithReceipts serves GET /channels/sms/dlr into r.
func WithReceipts(r Receipts) Option { return func(c *Channel) { c.receipts = r } }

// WithClock replaces time.Now (signature windows in tests).
func WithClock(now func() time.Time) Option { return func(c *Channel) { c.now = now } }

// New returns the SMS channel and registers it with the pipeline. Replies
// it cannot return in the HTTP body (after a crash or an outage) leave
// through the outbox's "sms" sender.
func New(cfg Config, pipe *inbound.Pipeline, opts ...Option) *Channel {
	c := &Channel{cfg: cfg, pipe: pipe, log: slog.Default(), now: time.Now,
		mo: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_sms_mo_total", Help: "SMS MO messages by gateway and outcome.",
		}, []string{"gateway", "outcome"}),
		segments: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "dvcbot_sms_reply_segments", Help: "Segments per SMS reply.", Buckets: []float64{1, 2, 3, 4},
		}),
	}
	if c.cfg.MaxSegments <= 0 {
		c.cfg.MaxSegments = 2
	}
	for _, o := range opts {
		o(c)
	}
	pipe.Register(inbound.Channel{Name: message.SMS, Mode: inbound.Sync, Caps: c.Caps(), OutboxKind: notify.SMS})
	return c
}

// Name is the channel name.
func (c *Channel) Name() string { return message.SMS }

// Register adds the routes.
func (c *Channel) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /channels/sms/kannel", c.serveKannel)
	mux.HandleFunc("POST /channels/sms/kannel", c.serveKannel)
	mux.HandleFunc("POST /channels/sms/generic", c.serveGeneric)
	mux.HandleFunc("GET /channels/sms/dlr", c.serveDLR)
}

// Caps is what an SMS can show.
func (c *Channel) Caps() message.Capabilities {
	return message.SMSCaps(c.cfg.MaxSegments, c.cfg.Accents)
}

// allowed checks the caller's address and the key: Kannel cannot sign, so
// it must call from an allowed network and/or with the secret key (both
// when both are configured).
func (c *Channel) allowed(r *http.Request, key string) bool {
	if len(c.cfg.AllowCIDRs) > 0 {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return false
		}
		ip, err := netip.ParseAddr(host)
		if err != nil {
			return false
		}
		ip = ip.Unmap()
		in := false
		for _, p := range c.cfg.AllowCIDRs {
			in = in || p.Contains(ip)
		}
		if !in {
			return false
		}
	}
	if c.cfg.Key != "" {
		return subtle.ConstantTimeCompare([]byte(key), []byte(c.cfg.Key)) == 1
	}
	return len(c.cfg.AllowCIDRs) > 0
}

// mo is one mobile-originated message, whatever the gateway.
type mo struct {
	ID, From, To, Text string
	Time               time.Time
}

// outBadPhone: the sender is not a Vietnamese number.
const outBadPhone = "bad_phone"

// receive hands one MO to the pipeline and returns the text to send back
// ("" for none) and the outcome.
func (c *Channel) receive(ctx context.Context, gateway string, m mo) (string, string, error) {
	from, err := phone.Normalize(m.From)
	if err != nil {
		c.log.Warn("sms from a number that is not Vietnamese", "gateway", gateway, "id", m.ID)
		return "", outBadPhone, nil
	}
	in := message.Inbound{Channel: message.SMS, UserID: from, Phone: from, Text: vntext.NFC(m.Text), MessageID: m.ID, Time: m.Time.UTC()}
	if err := inbound.Validate(&in); err != nil {
		return "", "invalid", err
	}
	res := c.pipe.Receive(ctx, in, nil)
	if res.Reply.Text != "" {
		c.segments.Observe(float64(vntext.CountSMS(res.Reply.Text).Segments))
	}
	return res.Reply.Text, res.Outcome, nil
}
