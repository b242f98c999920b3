// Package zalo is the Zalo Official Account channel: the signed webhook
// (POST /channels/zalo), recorded by the inbound pipeline and answered at
// once, and replies sent by the outbox through the OA Open API with quick-reply
// buttons, on a self-refreshing token pair (zalo-oa.md).
package zalo

import (
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
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/phone"
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

// Channel is the Zalo OA channel: it verifies webhook events and hands
// them to the inbound pipeline, which records them before the 200 and
// answers through the outbox (Sender).
type Channel struct {
	cfg    Config
	pipe   *inbound.Pipeline
	log    *slog.Logger
	now    func() time.Time
	events *prometheus.CounterVec
	// receipts records ZNS delivery events (zns.go).
	receipts channels.Receipts
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

// New returns the channel and registers it with the pipeline; replies
// leave through the outbox's "zalo" sender (NewSender).
func New(cfg Config, pipe *inbound.Pipeline, opts ...Option) *Channel {
	c := &Channel{cfg: cfg, pipe: pipe, log: slog.Default(), now: time.Now,
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_zalo_events_total", Help: "Zalo webhook events by event name and outcome.",
		}, []string{"event", "outcome"})}
	for _, o := range opts {
		o(c)
	}
	pipe.Register(inbound.Channel{Name: message.Zalo, Mode: inbound.Async, Caps: Caps(), OutboxKind: notify.Zalo})
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
	AppID     string     `json:"app_id"`
	EventName string     `json:"event_name"`
	Timestamp flexString `json:"timestamp"`
	OAID      string     `json:"oa_id"`
	UserID    string     `json:"user_id"`
	Sender    struct {
		ID      string `json:"id"`
		AdminID string `json:"admin_id"` // oa_send_*: a person wrote from the OA console
	} `json:"sender"`
	Recipient struct {
		ID string `json:"id"`
	} `json:"recipient"`
	Follower struct {
		ID string `json:"id"`
	} `json:"follower"`
	Message struct {
		MsgID      string `json:"msg_id"`
		Text       string `json:"text"`
		TrackingID string `json:"tracking_id"` // ZNS delivery events
	} `json:"message"`
	Info struct { // user_submit_info
		Phone string `json:"phone"`
	} `json:"info"`
}

// flexString reads a JSON string or number as its text: Zalo sends the
// timestamp as a string, some of its tools as a number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("must be a string or a number")
	}
	*f = flexString(n.String())
	return nil
}

// user is the citizen the event is about.
func (e event) user() string {
	switch {
	case e.EventName == "follow" || e.EventName == "unfollow":
		return e.Follower.ID
	case e.EventName == "user_click_chatnow":
		return e.UserID
	case strings.HasPrefix(e.EventName, "oa_send_"):
		return e.Recipient.ID // the OA's own message: the user is the recipient
	}
	return e.Sender.ID
}

// dedupeKey follows zalo-oa.md §2.4.
func (e event) dedupeKey() string {
	if e.Message.MsgID != "" {
		return e.Message.MsgID
	}
	return e.EventName + ":" + e.user() + ":" + string(e.Timestamp)
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
	var in message.Inbound
	switch {
	case strings.HasPrefix(e.EventName, "oa_send_") && e.Sender.AdminID != "" && e.Message.MsgID != "":
		// An OA admin wrote from the OA console: the hand-off route pauses
		// the bot for this user (never bot input).
		in = message.Inbound{Event: message.EventAdminReply, Text: e.Message.Text}
	case strings.HasPrefix(e.EventName, "oa_send_"):
		c.events.WithLabelValues(e.EventName, "echo").Inc() // our own messages: never input
	case e.EventName == "user_send_text":
		in = message.Inbound{Text: e.Message.Text}
	case e.EventName == "follow" || e.EventName == "user_click_chatnow":
		in = message.Inbound{Event: message.EventWelcome}
	case e.EventName == "user_received_message" && e.Message.TrackingID != "":
		c.events.WithLabelValues(e.EventName, c.znsDelivered(r, e)).Inc() // a ZNS delivery event
	case e.EventName == "user_submit_info":
		if p, err := phone.Normalize(e.Info.Phone); err == nil { // shared phone: subscribes (bots/notices)
			in = message.Inbound{Event: message.EventContact, Phone: p}
		}
	case strings.HasPrefix(e.EventName, "user_send_") && e.Message.MsgID != "":
		in = message.Inbound{Event: message.EventMedia}
	default:
		c.events.WithLabelValues(e.EventName, "ignored").Inc() // unfollow, receipts, reactions, unknown
	}
	if in.Text != "" || in.Event != "" {
		in.Channel, in.UserID, in.MessageID, in.Time = message.Zalo, e.user(), e.dedupeKey(), when.UTC()
		if err := inbound.Validate(&in); err != nil {
			c.events.WithLabelValues(e.EventName, "invalid").Inc()
			httpx.JSON(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "field": err.(*inbound.FieldError).Field})
			return
		}
		// Recorded (or spooled) before the 200: a crash after answering
		// loses nothing.
		res := c.pipe.Receive(r.Context(), in, raw)
		c.events.WithLabelValues(e.EventName, res.Outcome).Inc()
		if res.Outcome == inbound.Failed {
			httpx.Error(w, http.StatusInternalServerError, "could not record the event; retry")
			return
		}
	}
	httpx.JSON(w, http.StatusOK, map[string]string{})
}
