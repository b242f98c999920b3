// Package webchat is the web chat channel: a small accessible page (GET /)
// and a gorilla/websocket endpoint (GET /ws) speaking JSON frames
// {"text": …} in and {"text": …, "choices": […]} out, with the session bound
// to a cookie.
package webchat

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
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
	bot      channels.Bot
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

// New returns the web chat channel.
func New(bot channels.Bot, tr *i18n.Catalog, opts ...Option) *Channel {
	c := &Channel{
		bot: bot, tr: tr, origins: map[string]bool{}, log: slog.Default(), ping: 30 * time.Second, pongWait: 75 * time.Second,
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
	c.upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, CheckOrigin: c.checkOrigin}
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

// sessionID returns the cookie's id, or a new one (set on the response).
func (c *Channel) sessionID(w http.ResponseWriter, r *http.Request) (string, http.Header) {
	if ck, err := r.Cookie(CookieName); err == nil && validID(ck.Value) {
		return ck.Value, nil
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	ck := &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: 30 * 24 * 3600}
	h := http.Header{}
	h.Add("Set-Cookie", ck.String())
	return id, h
}

func validID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

type pageData struct {
	Lang                                           string
	Title, Intro, Label, Placeholder, Send, Status string
	Connecting, Reconnecting, Offline              string
}

func (c *Channel) servePage(w http.ResponseWriter, r *http.Request) {
	_, h := c.sessionID(w, r)
	for _, v := range h.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", v)
	}
	lang := r.URL.Query().Get("lang")
	if !i18n.Supported(lang) {
		lang = i18n.Default
	}
	t := func(id string) string { return c.tr.T(lang, id) }
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self' ws: wss:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	err := c.page.Execute(w, pageData{Lang: lang, Title: t("web_title"), Intro: t("web_intro"), Label: t("web_input_label"),
		Placeholder: t("hint_start"), Send: t("web_send"), Connecting: t("web_connecting"),
		Reconnecting: t("web_reconnecting"), Offline: t("web_offline")})
	if err != nil {
		c.log.Error("rendering the web chat page", "error", err)
	}
}

// inFrame is what the browser sends.
type inFrame struct {
	Text   string `json:"text"`
	Choice bool   `json:"choice,omitempty"`
}

// outFrame is what the bot sends.
type outFrame struct {
	Text    string           `json:"text,omitempty"`
	Choices []message.Choice `json:"choices,omitempty"`
	Hint    string           `json:"hint,omitempty"`
	Error   string           `json:"error,omitempty"`
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

	caps := message.RichCaps()
	if r.URL.Query().Get("resume") == "" {
		s.write(replyFrame(c.bot.Welcome(ctx, message.WebChat, user, caps)))
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
		reply := c.bot.Handle(ctx, message.Inbound{Channel: message.WebChat, UserID: user, Text: in.Text,
			Time: time.Now().UTC(), Choice: in.Choice}, caps)
		if reply.Text == "" && len(reply.Choices) == 0 {
			continue // rate-limited into silence
		}
		if err := s.write(replyFrame(reply)); err != nil {
			return
		}
		c.frames.WithLabelValues("out").Inc()
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
