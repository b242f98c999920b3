// Package telegram is the Telegram channel (github.com/go-telegram/bot):
// webhook (POST /channels/telegram, secret-token header checked) or long
// polling, commands registered with setMyCommands, inline keyboards whose
// callback queries are answered, and the officers' commands for linked chats.
package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
)

// Modes of receiving updates.
const (
	ModeWebhook = "webhook"
	ModePoll    = "poll"
)

// Config is the channel's configuration.
type Config struct {
	Token     string // DVCBOT_TELEGRAM_TOKEN
	Secret    string // DVCBOT_TELEGRAM_SECRET: the webhook's secret token
	Mode      string // DVCBOT_TELEGRAM_MODE
	APIURL    string // DVCBOT_TELEGRAM_API_URL
	PublicURL string // DVCBOT_PUBLIC_URL: where Telegram posts updates
}

// Limits of the Bot API.
const (
	MaxText         = 4096
	MaxCallbackData = 64
	maxBody         = 1 << 20
)

// Channel is the Telegram channel: it checks and parses updates and hands
// them to the inbound pipeline; replies leave through the outbox (Sender),
// so a reply that fails to send (429, 5xx) is retried, not lost.
type Channel struct {
	cfg     Config
	pipe    *inbound.Pipeline
	tr      *i18n.Catalog
	log     *slog.Logger
	tg      *bot.Bot
	updates *prometheus.CounterVec
}

// Option configures a Channel.
type Option func(*Channel)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(c *Channel) { c.log = l } }

// WithMetrics registers the channel's metrics.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *Channel) { reg.MustRegister(c.updates) }
}

// Caps: buttons; Telegram keeps messages abroad, so no personal data.
func Caps() message.Capabilities {
	return message.Capabilities{Buttons: true, MaxChars: MaxText, NoPersonalData: true}
}

// New connects to the Bot API (getMe checks the token) and registers the
// channel with the pipeline.
func New(ctx context.Context, cfg Config, pipe *inbound.Pipeline, tr *i18n.Catalog, opts ...Option) (*Channel, error) {
	c := &Channel{cfg: cfg, pipe: pipe, tr: tr, log: slog.Default(),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_telegram_updates_total", Help: "Telegram updates by kind and outcome.",
		}, []string{"kind", "outcome"})}
	for _, o := range opts {
		o(c)
	}
	tg, err := bot.New(cfg.Token,
		bot.WithServerURL(strings.TrimRight(cfg.APIURL, "/")),
		bot.WithDefaultHandler(c.handle),
		bot.WithNotAsyncHandlers(), // the webhook answers after the update is recorded: a crash means a retry
		bot.WithErrorsHandler(func(err error) { c.log.Warn("telegram", "error", err) }),
		bot.WithAllowedUpdates(bot.AllowedUpdates{"message", "edited_message", "callback_query"}),
		bot.WithCheckInitTimeout(10*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	c.tg = tg
	pipe.Register(inbound.Channel{Name: message.Telegram, Mode: inbound.Async, Caps: Caps(), OutboxKind: notify.Telegram})
	return c, nil
}

// Name is the channel name.
func (c *Channel) Name() string { return message.Telegram }

// Register adds POST /channels/telegram.
func (c *Channel) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /channels/telegram", c.serveWebhook)
}

// commands registered with setMyCommands.
var commands = []struct{ cmd, id string }{
	{"start", "tg_cmd_start"}, {"dvc", "tg_cmd_dvc"}, {"tim", "tg_cmd_tim"},
	{"danhgia", "tg_cmd_danhgia"}, {"lang", "tg_cmd_lang"}, {"help", "tg_cmd_help"},
}

// Run registers the commands and the webhook (or removes it and polls) and
// serves until ctx ends.
func (c *Channel) Run(ctx context.Context) error {
	var cmds []models.BotCommand
	for _, k := range commands {
		cmds = append(cmds, models.BotCommand{Command: k.cmd, Description: c.tr.T(i18n.Default, k.id)})
	}
	if _, err := c.tg.SetMyCommands(ctx, &bot.SetMyCommandsParams{Commands: cmds}); err != nil {
		c.log.Error("telegram setMyCommands", "error", err)
	}
	if c.cfg.Mode == ModePoll {
		if _, err := c.tg.DeleteWebhook(ctx, &bot.DeleteWebhookParams{}); err != nil {
			return fmt.Errorf("telegram deleteWebhook: %w", err)
		}
		c.log.Info("telegram long polling")
		c.tg.Start(ctx)
		return nil
	}
	_, err := c.tg.SetWebhook(ctx, &bot.SetWebhookParams{URL: strings.TrimRight(c.cfg.PublicURL, "/") + "/channels/telegram",
		SecretToken: c.cfg.Secret, AllowedUpdates: []string{"message", "edited_message", "callback_query"}})
	if err != nil {
		return fmt.Errorf("telegram setWebhook: %w", err)
	}
	c.log.Info("telegram webhook registered", "url", strings.TrimRight(c.cfg.PublicURL, "/")+"/channels/telegram")
	<-ctx.Done()
	return nil
}

// serveWebhook checks the secret token (constant time), then handles the
// update before answering, so Telegram redelivers what a crash interrupted.
func (c *Channel) serveWebhook(w http.ResponseWriter, r *http.Request) {
	got := r.Header.Get("X-Telegram-Bot-Api-Secret-Token")
	if c.cfg.Secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.cfg.Secret)) != 1 {
		c.updates.WithLabelValues("", "bad_secret").Inc()
		c.log.Warn("telegram update with a wrong secret token refused", "remote", r.RemoteAddr)
		httpx.Error(w, http.StatusUnauthorized, "wrong X-Telegram-Bot-Api-Secret-Token")
		return
	}
	body, err := httpx.ReadBody(w, r, maxBody)
	if errors.Is(err, httpx.ErrTooLarge) {
		httpx.Error(w, http.StatusRequestEntityTooLarge, "body larger than 1 MiB")
		return
	}
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "could not read body")
		return
	}
	var u models.Update
	if err := json.Unmarshal(body, &u); err != nil || u.ID == 0 {
		c.updates.WithLabelValues("", "invalid").Inc()
		httpx.Error(w, http.StatusBadRequest, "not a Telegram update")
		return
	}
	c.tg.ProcessUpdate(r.Context(), &u)
	httpx.JSON(w, http.StatusOK, map[string]bool{"ok": true})
}

// handle is the library's default handler, for both modes.
func (c *Channel) handle(ctx context.Context, b *bot.Bot, u *models.Update) {
	switch {
	case u.Message != nil:
		c.onMessage(ctx, u, u.Message)
	case u.CallbackQuery != nil:
		c.onCallback(ctx, u, u.CallbackQuery)
	case u.EditedMessage != nil:
		c.updates.WithLabelValues("edited_message", "ignored").Inc() // a correction of something already answered
	default:
		c.updates.WithLabelValues("other", "ignored").Inc() // channel posts and the rest
	}
}

// sender is who wrote m: the user, or in a private chat the chat itself
// (Telegram may omit from, e.g. for messages sent on behalf of a chat).
func sender(m *models.Message) (int64, bool) {
	if m.From != nil {
		return m.From.ID, true
	}
	if m.Chat.Type == models.ChatTypePrivate && m.Chat.ID != 0 {
		return m.Chat.ID, true
	}
	return 0, false
}

func (c *Channel) onMessage(ctx context.Context, u *models.Update, m *models.Message) {
	if m.Chat.Type != models.ChatTypePrivate {
		c.updates.WithLabelValues("message", "group_ignored").Inc()
		return
	}
	from, ok := sender(m)
	if !ok {
		c.updates.WithLabelValues("message", "no_sender").Inc()
		return
	}
	in := message.Inbound{Channel: message.Telegram, UserID: strconv.FormatInt(from, 10),
		ReplyTo: strconv.FormatInt(m.Chat.ID, 10), MessageID: strconv.FormatInt(u.ID, 10), Time: time.Unix(int64(m.Date), 0).UTC()}
	if m.Text == "" {
		in.Event = message.EventMedia
	} else {
		in.Text = translateCommand(m.Text)
	}
	c.receive(ctx, "message", in, u)
}

func (c *Channel) receive(ctx context.Context, kind string, in message.Inbound, u *models.Update) {
	if err := inbound.Validate(&in); err != nil {
		c.updates.WithLabelValues(kind, "invalid").Inc()
		c.log.Warn("telegram update refused", "error", err)
		return
	}
	raw, _ := json.Marshal(u)
	res := c.pipe.Receive(ctx, in, raw)
	c.updates.WithLabelValues(kind, res.Outcome).Inc()
}

// translateCommand turns /dvc X into "DVC X" and so on. The officers'
// commands stay commands (/link CODE, /sync): the pipeline routes them.
func translateCommand(text string) string {
	if !strings.HasPrefix(text, "/") {
		return text
	}
	cmd, arg, _ := strings.Cut(strings.TrimSpace(text), " ")
	cmd, _, _ = strings.Cut(strings.ToLower(cmd), "@") // /dvc@dvcbot
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "/start":
		if arg != "" {
			return "/link " + arg // a deep link from an officer invite
		}
		return "HD"
	case "/link":
		return "/link " + arg
	case "/sync":
		return "/sync"
	case "/dvc":
		return "DVC " + arg
	case "/tim":
		return "TIM " + arg
	case "/danhgia":
		return "DG " + arg
	case "/lang":
		if arg == "" {
			return "HD"
		}
		return strings.ToUpper(arg)
	}
	return "HD"
}

func (c *Channel) onCallback(ctx context.Context, u *models.Update, q *models.CallbackQuery) {
	// Stop the button's spinner whatever happens next.
	if _, err := c.tg.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: q.ID}); err != nil {
		c.log.Warn("telegram answerCallbackQuery", "error", err)
	}
	if q.Message.Message == nil || q.From.ID == 0 {
		c.updates.WithLabelValues("callback_query", "no_message").Inc()
		return
	}
	in := message.Inbound{Channel: message.Telegram, UserID: strconv.FormatInt(q.From.ID, 10), Text: q.Data,
		ReplyTo: strconv.FormatInt(q.Message.Message.Chat.ID, 10), MessageID: strconv.FormatInt(u.ID, 10), Choice: true}
	c.receive(ctx, "callback_query", in, u)
}

// keyboard turns choices into an inline keyboard, one button a row;
// choices whose value does not fit callback_data are left to the text.
func keyboard(choices []message.Choice) models.ReplyMarkup {
	var rows [][]models.InlineKeyboardButton
	for _, ch := range choices {
		if len(ch.Value) > MaxCallbackData {
			continue
		}
		rows = append(rows, []models.InlineKeyboardButton{{Text: ch.Label, CallbackData: ch.Value}})
	}
	if len(rows) == 0 {
		return nil
	}
	return &models.InlineKeyboardMarkup{InlineKeyboard: rows}
}

// Sender delivers outbox messages to chats: replies with their inline
// keyboards, officers' change digests, notices.
type Sender struct{ c *Channel }

// Sender returns the outbox sender of kind "telegram".
func (c *Channel) Sender() *Sender { return &Sender{c} }

// Kind is notify.Telegram.
func (s *Sender) Kind() string { return notify.Telegram }

// Send posts the message to the chat id in Recipient, the keyboard on the
// last part. A chat that blocked the bot or vanished (403, 400) is a
// permanent failure; flood control (429) waits its retry_after.
func (s *Sender) Send(ctx context.Context, m notify.Message) (string, error) {
	chatID, err := strconv.ParseInt(m.Recipient, 10, 64)
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("telegram recipient %q is not a chat id", m.Recipient))
	}
	var ref string
	parts := message.Split(m.Payload.Text, MaxText)
	for i, p := range parts {
		params := &bot.SendMessageParams{ChatID: chatID, Text: p}
		if i == len(parts)-1 {
			params.ReplyMarkup = keyboard(m.Payload.Choices)
		}
		msg, err := s.c.tg.SendMessage(ctx, params)
		var flood *bot.TooManyRequestsError
		switch {
		case err == nil:
			ref = strconv.Itoa(msg.ID)
		case errors.As(err, &flood):
			return "", notify.RetryAfter(err, time.Duration(flood.RetryAfter)*time.Second)
		case errors.Is(err, bot.ErrorForbidden) || errors.Is(err, bot.ErrorBadRequest):
			return "", notify.Permanent(err)
		default:
			return "", err
		}
	}
	return ref, nil
}
