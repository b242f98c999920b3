// Package zalo is the Zalo Official Account channel: the signed webhook
// (POST /channels/zalo), answered at once and handled asynchronously from a
// durable inbox, and replies through the OA Open API with quick-reply
// buttons, on a self-refreshing token pair (zalo-oa.md).
package zalo

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbox"
	"github.com/dvcbot/dvcbot/core/message"
)

// Config is the channel's configuration.
type Config struct {
	AppID    string // DVCBOT_ZALO_APP_ID
	OASecret string // DVCBOT_ZALO_OA_SECRET: the webhook MAC key
	OAID     string // optional: events for another OA are refused
}

// Freshness window of an event's timestamp: Zalo re-sends for about two
// hours, so the past bound is generous; msg_id dedupe covers replays inside.
const (
	maxFuture = 5 * time.Minute
	maxPast   = 3 * time.Hour
	maxBody   = 1 << 20
)

// Channel is the Zalo OA channel.
type Channel struct {
	cfg    Config
	bot    channels.Bot
	inbox  inbox.Store
	api    *API
	tr     *i18n.Catalog
	log    *slog.Logger
	now    func() time.Time
	queue  chan job
	events *prometheus.CounterVec
}

type job struct {
	in  message.Inbound
	raw []byte
}

// Option configures a Channel.
type Option func(*Channel)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Channel) { c.log = l } }

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(c *Channel) { c.now = now } }

// WithMetrics registers the channel's metrics.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *Channel) { reg.MustRegister(c.events) }
}

// New returns the channel; Run must run for events to be handled.
func New(cfg Config, bot channels.Bot, in inbox.Store, api *API, tr *i18n.Catalog, opts ...Option) *Channel {
	c := &Channel{cfg: cfg, bot: bot, inbox: in, api: api, tr: tr, log: slog.Default(), now: time.Now,
		queue: make(chan job, 1024),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_zalo_events_total", Help: "Zalo webhook events by event name and outcome.",
		}, []string{"event", "outcome"})}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Name is the channel name.
func (c *Channel) Name() string { return message.Zalo }

// Register adds GET|POST /channels/zalo (GET answers the console's checks).
func (c *Channel) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /channels/zalo", c.serveWebhook)
	mux.HandleFunc("GET /channels/zalo", func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
}

// Caps: Zalo shows buttons; texts are split by the API client.
func Caps() message.Capabilities { return message.Capabilities{Buttons: true, MaxChars: MaxText} }

// event is a webhook body; ids are strings (they exceed 2^53).
type event struct {
	AppID     string `json:"app_id"`
	EventName string `json:"event_name"`
	Timestamp string `json:"timestamp"`
	OAID      string `json:"oa_id"`
	UserID    string `json:"user_id"`
	Sender    struct {
		ID string `json:"id"`
	} `json:"sender"`
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	Follower struct {
		ID string `json:"id"`
	} `json:"follower"`
	Message struct {
		MsgID string `json:"msg_id"`
		Text  string `json:"text"`
	} `json:"message"`
}

// user is the citizen the event is about.
func (e event) user() string {
	switch {
	case e.EventName == "follow" || e.EventName == "unfollow":
		return e.Follower.ID
	case e.EventName == "user_click_chatnow":
		return e.UserID
	}
	return e.Sender.ID
}

// dedupeKey follows zalo-oa.md §2.4.
func (e event) dedupeKey() string {
	if e.Message.MsgID != "" {
		return e.Message.MsgID
	}
	return e.EventName + ":" + e.user() + ":" + e.Timestamp
}

// Verify checks X-ZEvent-Signature: sha256(app id ‖ raw body ‖ timestamp ‖ OA
// secret) in hex, with or without the "mac=" prefix, in constant time.
func Verify(header, appID string, raw []byte, ts, oaSecret string) bool {
	got := strings.TrimSpace(header)
	if len(got) >= 3 && strings.EqualFold(got[:3], "mac") {
		if i := strings.IndexByte(got, '='); i >= 0 {
			got = strings.TrimSpace(got[i+1:])
		}
	}
	h := sha256.New()
	h.Write([]byte(appID))
	h.Write(raw)
	h.Write([]byte(ts))
	h.Write([]byte(oaSecret))
	want := hex.EncodeToString(h.Sum(nil))
	return subtle.ConstantTimeCompare([]byte(strings.ToLower(got)), []byte(want)) == 1
}

// Sign returns the header value Zalo would send (tests, tools).
func Sign(appID string, raw []byte, ts, oaSecret string) string {
	h := sha256.Sum256([]byte(appID + string(raw) + ts + oaSecret))
	return "mac=" + hex.EncodeToString(h[:])
}

// serveWebhook verifies, records and acknowledges an event; the reply is
// sent by Run. A forged or stale event is refused with 401 (Zalo then
// retries it, which a genuine event survives and a forgery does not).
func (c *Channel) serveWebhook(w http.ResponseWriter, r *http.Request) {
	raw, err := httpx.ReadBody(w, r, maxBody)
	if errors.Is(err, httpx.ErrTooLarge) {
		c.events.WithLabelValues("", "too_large").Inc()
		httpx.Error(w, http.StatusRequestEntityTooLarge, "body larger than 1 MiB")
		return
	}
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "could not read body")
		return
	}
	var mac struct {
		AppID     json.RawMessage `json:"app_id"`
		Timestamp json.RawMessage `json:"timestamp"`
	}
	if err := json.Unmarshal(raw, &mac); err != nil {
		c.events.WithLabelValues("", "invalid").Inc()
		httpx.Error(w, http.StatusBadRequest, "not a JSON event")
		return
	}
	ts := strings.Trim(string(mac.Timestamp), `"`)
	if c.cfg.OASecret == "" || !Verify(r.Header.Get("X-ZEvent-Signature"), c.cfg.AppID, raw, ts, c.cfg.OASecret) {
		c.events.WithLabelValues("", "bad_signature").Inc()
		c.log.Warn("zalo event with a bad signature refused", "remote", r.RemoteAddr)
		httpx.Error(w, http.StatusUnauthorized, "bad X-ZEvent-Signature")
		return
	}
	var e event
	if err := json.Unmarshal(raw, &e); err != nil {
		c.events.WithLabelValues("", "invalid").Inc()
		httpx.Error(w, http.StatusBadRequest, "event fields have unexpected types")
		return
	}
	if e.AppID != c.cfg.AppID || (c.cfg.OAID != "" && e.Recipient.ID != c.cfg.OAID && e.OAID != c.cfg.OAID && e.Sender.ID != c.cfg.OAID) {
		c.events.WithLabelValues(e.EventName, "other_app").Inc()
		httpx.Error(w, http.StatusUnauthorized, "event for another app or OA")
		return
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	when := time.UnixMilli(ms)
	if err != nil || when.After(c.now().Add(maxFuture)) || when.Before(c.now().Add(-maxPast)) {
		c.events.WithLabelValues(e.EventName, "stale").Inc()
		httpx.Error(w, http.StatusUnauthorized, "timestamp missing or outside the accepted window")
		return
	}
	switch {
	case strings.HasPrefix(e.EventName, "oa_send_"):
		c.events.WithLabelValues(e.EventName, "echo").Inc() // our own messages: never input
	case e.EventName == "user_send_text" || e.EventName == "follow" || e.EventName == "user_click_chatnow" ||
		(strings.HasPrefix(e.EventName, "user_send_") && e.Message.MsgID != ""):
		if e.user() == "" {
			httpx.Error(w, http.StatusBadRequest, "event without a user id")
			return
		}
		in := message.Inbound{Channel: message.Zalo, UserID: e.user(), Text: e.Message.Text, MessageID: e.dedupeKey(), Time: when.UTC()}
		// Recorded before the 200: a crash after answering loses nothing.
		claim, err := c.inbox.ClaimInbound(r.Context(), in, raw, inbox.StaleAfter)
		if err != nil {
			c.log.Error("recording a zalo event", "error", err)
			httpx.Error(w, http.StatusInternalServerError, "could not record the event; retry")
			return
		}
		if !claim.New {
			c.events.WithLabelValues(e.EventName, "duplicate").Inc()
			break
		}
		c.events.WithLabelValues(e.EventName, "queued").Inc()
		select {
		case c.queue <- job{in: in, raw: raw}:
		default:
			c.log.Warn("zalo queue full; the sweeper will handle the event", "id", in.MessageID)
		}
	default:
		c.events.WithLabelValues(e.EventName, "ignored").Inc() // unfollow, receipts, reactions, unknown
	}
	httpx.JSON(w, http.StatusOK, map[string]string{})
}

// Run handles queued events and, every sweep, events a crash left behind.
// When ctx ends it answers what is already queued before returning.
func (c *Channel) Run(ctx context.Context) error {
	sweep := time.NewTicker(30 * time.Second)
	defer sweep.Stop()
	for {
		select {
		case <-ctx.Done():
			c.drain(ctx)
			return nil
		case j := <-c.queue:
			c.answer(ctx, j)
		case <-sweep.C:
			pending, err := c.inbox.PendingInbound(ctx, message.Zalo, c.now().Add(-2*inbox.StaleAfter), 50)
			if err != nil {
				c.log.Error("listing unanswered zalo events", "error", err)
				continue
			}
			for _, p := range pending {
				claim, err := c.inbox.ClaimInbound(ctx, p.Inbound, p.Payload, inbox.StaleAfter)
				if err == nil && claim.New {
					c.answer(ctx, job{in: p.Inbound, raw: p.Payload})
				}
			}
		}
	}
}

// answerTimeout bounds one answer. A shutdown does not cut an answer short:
// the reply would go out and stay unrecorded, and be sent again.
const answerTimeout = 30 * time.Second

// drainTimeout bounds the answers given on shutdown; what it leaves stays
// recorded for the sweeper of the next start.
const drainTimeout = 10 * time.Second

func (c *Channel) answer(ctx context.Context, j job) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), answerTimeout)
	defer cancel()
	c.handle(ctx, j)
}

func (c *Channel) drain(ctx context.Context) {
	for deadline := time.Now().Add(drainTimeout); time.Now().Before(deadline); {
		select {
		case j := <-c.queue:
			c.answer(ctx, j)
		default:
			return
		}
	}
}

// handle turns one recorded event into a reply and sends it.
func (c *Channel) handle(ctx context.Context, j job) {
	var e event
	_ = json.Unmarshal(j.raw, &e)
	var reply message.Reply
	switch e.EventName {
	case "user_send_text":
		reply = c.bot.Handle(ctx, j.in, Caps())
	case "follow", "user_click_chatnow":
		reply = c.bot.Welcome(ctx, message.Zalo, j.in.UserID, Caps())
	default: // media: say what we can read
		reply = message.Reply{Text: c.tr.T(i18n.Default, "only_text")}
	}
	if reply.Text != "" {
		if err := c.api.Send(ctx, j.in.UserID, reply); err != nil {
			outcome := "send_failed"
			if errors.Is(err, ErrUnreachable) {
				outcome = "unreachable" // recorded, not retried
			} else {
				c.log.Error("sending a zalo reply", "user", j.in.UserID, "error", err)
			}
			c.events.WithLabelValues(e.EventName, outcome).Inc()
			if outcome == "send_failed" {
				return // stays pending: the sweeper tries again
			}
		}
	}
	if err := c.inbox.CompleteInbound(ctx, message.Zalo, j.in.MessageID, reply); err != nil {
		c.log.Error("completing a zalo event", "error", err)
	}
	c.events.WithLabelValues(e.EventName, "replied").Inc()
}
