// Package webchat is the web chat channel: a small accessible page (GET /)
// and a gorilla/websocket endpoint (GET /ws) speaking JSON frames
// {"text": …} in and {"text": …, "choices": […]} out, with the session bound
// to a cookie.
package webchat

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
)

//go:embed page.html
var pageHTML string

// Defaults for the websocket.
const (
	CookieName = "dvc_sid"
	ReadLimit  = 8 << 10 // bytes per frame: 1000 Vietnamese characters fit
	writeWait  = 10 * time.Second
)

// Channel is the web chat.
type Channel struct {
	pipe     *inbound.Pipeline
	hub      *hub
	sessions SessionKeeper
	rotator  Rotator // rotates instead of sessions when set
	tr       *i18n.Catalog
	origins  map[string]bool
	log      *slog.Logger
	page     *template.Template
	upgrader websocket.Upgrader
	conns    prometheus.Gauge
	frames   *prometheus.CounterVec
	secure   bool
	ping     time.Duration // how often the server pings
	pongWait time.Duration // how long it waits for any frame or pong
	bus      Bus           // cross-replica pushes (bus.go); nil on one process
	busWait  time.Duration
	bs       *busState
}

// Option configures the channel.
type Option func(*Channel)

// WithOrigins allows cross-origin pages (e.g. a portal embedding the chat).
func WithOrigins(origins []string) Option {
	return func(c *Channel) {
		for _, o := range origins {
			c.origins[strings.ToLower(strings.TrimRight(o, "/"))] = true
		}
	}
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Channel) { c.log = l } }

// WithMetrics registers the channel's metrics.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *Channel) { reg.MustRegister(c.conns, c.frames) }
}

// WithKeepAlive sets the ping interval and how long a silent client is kept.
func WithKeepAlive(ping, pongWait time.Duration) Option {
	return func(c *Channel) { c.ping, c.pongWait = ping, pongWait }
}

// WithSecureCookie marks the session cookie Secure (behind HTTPS).
func WithSecureCookie() Option { return func(c *Channel) { c.secure = true } }

// New returns the web chat channel and registers it with the pipeline.
func New(pipe *inbound.Pipeline, tr *i18n.Catalog, opts ...Option) *Channel {
	c := &Channel{
		pipe: pipe, hub: newHub(), tr: tr, origins: map[string]bool{}, log: slog.Default(), ping: 30 * time.Second, pongWait: 75 * time.Second,
		page: template.Must(template.New("page").Parse(pageHTML)),
		conns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "dvcbot_webchat_connections", Help: "Open web chat websockets.",
		}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_webchat_frames_total", Help: "Web chat frames by direction and result.",
		}, []string{"kind"}),
	}
	for _, o := range opts {
		o(c)
	}
	c.startBus()
	c.upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, CheckOrigin: c.checkOrigin}
	pipe.Register(inbound.Channel{Name: message.WebChat, Mode: inbound.Sync, Caps: message.RichCaps(), OutboxKind: notify.WebChat})
	return c
}

// Name is the channel name.
func (c *Channel) Name() string { return message.WebChat }

// Register adds GET / and GET /ws.
func (c *Channel) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", c.servePage)
	mux.HandleFunc("GET /ws", c.serveWS)
}

// checkOrigin allows same-origin pages and the configured origins.
func (c *Channel) checkOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true // not a browser: nothing to protect against
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	return c.origins[strings.ToLower(strings.TrimRight(origin, "/"))]
}

// inFrame is what the browser sends. ID, when the page sets one, makes a
// frame sent again after a reconnect a repeat, not a second message.
type inFrame struct {
	Text   string `json:"text"`
	Choice bool   `json:"choice,omitempty"`
	ID     string `json:"id,omitempty"`
}

// outFrame is what the bot sends.
type outFrame struct {
	Text    string           `json:"text,omitempty"`
	Choices []message.Choice `json:"choices,omitempty"`
	Hint    string           `json:"hint,omitempty"`
	Error   string           `json:"error,omitempty"`
	// Session is a one-time ticket after the user verified: the page
	// reconnects with ?ticket=… and gets the cookie of a new session id.
	Session string `json:"session,omitempty"`
}

// clientIP is the caller's address, for per-source limits.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (c *Channel) serveWS(w http.ResponseWriter, r *http.Request) {
	user, h := c.sessionID(w, r)
	conn, err := c.upgrader.Upgrade(w, r, h)
	if err != nil {
		c.frames.WithLabelValues("upgrade_refused").Inc()
		c.log.Warn("web chat upgrade refused", "origin", r.Header.Get("Origin"), "error", err)
		return // the upgrader has answered
	}
	c.conns.Inc()
	defer c.conns.Dec()
	s := &wsSession{conn: conn}
	defer conn.Close()
	conn.SetReadLimit(ReadLimit)
	_ = conn.SetReadDeadline(time.Now().Add(c.pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(c.pongWait)) })

	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	defer cancel()
	go s.keepAlive(ctx, c.ping)
	c.hub.add(user, s)
	defer func() { c.hub.remove(user, s) }() // user may change: the closure reads it at the end

	source := clientIP(r)
	receive := func(in message.Inbound) error {
		in.Channel, in.UserID, in.Source, in.Time = message.WebChat, user, source, time.Now().UTC()
		if err := inbound.Validate(&in); err != nil {
			c.frames.WithLabelValues("invalid").Inc()
			return s.write(outFrame{Error: err.Error()})
		}
		res := c.pipe.Receive(ctx, in, nil)
		if res.Outcome == inbound.Failed {
			return s.write(outFrame{Error: c.tr.T(i18n.Default, "error_generic")})
		}
		if res.Reply.Text == "" && len(res.Reply.Choices) == 0 {
			return nil // rate-limited into silence, or a repeat still in flight
		}
		c.frames.WithLabelValues("out").Inc()
		f := replyFrame(res.Reply)
		if res.Reply.RotateSession {
			// The reply is recorded under the old id; from now on the
			// session answers to a new one (no fixation).
			if newID, ticket := c.rotateSession(ctx, user); ticket != "" {
				c.hub.remove(user, s)
				user = newID
				c.hub.add(user, s)
				f.Session = ticket
			}
		}
		return s.write(f)
	}
	if r.URL.Query().Get("resume") == "" {
		if err := receive(message.Inbound{Event: message.EventWelcome}); err != nil {
			return
		}
	}
	for {
		kind, data, err := conn.ReadMessage()
		_ = conn.SetReadDeadline(time.Now().Add(c.pongWait))
		if err != nil {
			if !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway, websocket.CloseNoStatusReceived) &&
				!errors.Is(err, websocket.ErrReadLimit) {
				c.log.Debug("web chat read ended", "error", err)
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				c.frames.WithLabelValues("too_large").Inc()
			}
			return
		}
		var in inFrame
		if kind != websocket.TextMessage || json.Unmarshal(data, &in) != nil {
			c.frames.WithLabelValues("invalid").Inc()
			s.write(outFrame{Error: `expected a JSON text frame {"text": "…"}`})
			continue
		}
		c.frames.WithLabelValues("in").Inc()
		if err := receive(message.Inbound{Text: in.Text, Choice: in.Choice, MessageID: in.ID}); err != nil {
			return
		}
	}
}

func replyFrame(r message.Reply) outFrame {
	return outFrame{Text: r.Text, Choices: r.Choices, Hint: r.Hint}
}

// wsSession serialises writes: the reader loop and the pinger share the conn.
type wsSession struct {
	mu   sync.Mutex
	conn *websocket.Conn
}

func (s *wsSession) write(f outFrame) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.conn.SetWriteDeadline(time.Now().Add(writeWait))
	return s.conn.WriteJSON(f)
}

func (s *wsSession) keepAlive(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait))
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}
}
