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

	"github.com/dvcbot/dvcbot/bots/officer"
	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbox"
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

// Channel is the Telegram channel.
type Channel struct {
	cfg      Config
	bot      channels.Bot
	officers *officer.Bot
	inbox    inbox.Store
	tr       *i18n.Catalog
	log      *slog.Logger
	tg       *bot.Bot
	updates  *prometheus.CounterVec
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

// New connects to the Bot API (getMe checks the token).
func New(ctx context.Context, cfg Config, citizens channels.Bot, officers *officer.Bot, in inbox.Store, tr *i18n.Catalog, opts ...Option) (*Channel, error) {
	c := &Channel{cfg: cfg, bot: citizens, officers: officers, inbox: in, tr: tr, log: slog.Default(),
		updates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_telegram_updates_total", Help: "Telegram updates by kind and outcome.",
		}, []string{"kind", "outcome"})}
	for _, o := range opts {
		o(c)
	}
	tg, err := bot.New(cfg.Token,
		bot.WithServerURL(strings.TrimRight(cfg.APIURL, "/")),
		bot.WithDefaultHandler(c.handle),
		bot.WithNotAsyncHandlers(), // the webhook answers after the update is handled: a crash means a retry
		bot.WithErrorsHandler(func(err error) { c.log.Warn("telegram", "error", err) }),
		bot.WithAllowedUpdates(bot.AllowedUpdates{"message", "edited_message", "callback_query"}),
		bot.WithCheckInitTimeout(10*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram: %w", err)
	}
	c.tg = tg
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
		c.updates.WithLabelValues("other", "ignored").Inc()
	}
}

func (c *Channel) onMessage(ctx context.Context, u *models.Update, m *models.Message) {
	chatID := m.Chat.ID
	if m.Chat.Type != models.ChatTypePrivate {
		c.updates.WithLabelValues("message", "group_ignored").Inc()
		return
	}
	if m.Text == "" {
		c.updates.WithLabelValues("message", "not_text").Inc()
		c.send(ctx, chatID, message.Reply{Text: c.tr.T(i18n.Default, "only_text")})
		return
	}
	text, officerCmd := c.translateCommand(m.Text)
	in := message.Inbound{Channel: message.Telegram, UserID: strconv.FormatInt(m.From.ID, 10), Text: text,
		MessageID: strconv.FormatInt(u.ID, 10), Time: time.Unix(int64(m.Date), 0).UTC()}
	c.answerOnce(ctx, "message", chatID, in, func() message.Reply {
		if officerCmd != "" {
			if r, ok := c.officerCommand(ctx, chatID, officerCmd, text); ok {
				return r
			}
			in.Text = "HD" // not an officer: the citizen's help, nothing more
		}
		return c.bot.Handle(ctx, in, Caps())
	})
}

// answerOnce handles an update once per update_id and sends the reply; a
// redelivered update gets nothing.
func (c *Channel) answerOnce(ctx context.Context, kind string, chatID int64, in message.Inbound, handle func() message.Reply) {
	reply, how, err := inbox.Process(ctx, c.inbox, in, nil, handle)
	if err != nil {
		c.log.Error("telegram inbox", "error", err)
	}
	if how != inbox.Handled {
		c.updates.WithLabelValues(kind, "duplicate").Inc()
		return
	}
	c.updates.WithLabelValues(kind, "replied").Inc()
	c.send(ctx, chatID, reply)
}

// translateCommand turns /dvc X into "DVC X" and so on; officer commands
// come back separately.
func (c *Channel) translateCommand(text string) (string, string) {
	if !strings.HasPrefix(text, "/") {
		return text, ""
	}
	cmd, arg, _ := strings.Cut(strings.TrimSpace(text), " ")
	cmd, _, _ = strings.Cut(strings.ToLower(cmd), "@") // /dvc@dvcbot
	arg = strings.TrimSpace(arg)
	switch cmd {
	case "/start":
		if arg != "" {
			return arg, "link" // /start CODE: a deep link from an officer invite
		}
		return "HD", ""
	case "/link":
		return arg, "link"
	case "/sync":
		return "", "sync"
	case "/dvc":
		return "DVC " + arg, ""
	case "/tim":
		return "TIM " + arg, ""
	case "/danhgia":
		return "DG " + arg, ""
	case "/lang":
		if arg == "" {
			return "HD", ""
		}
		return strings.ToUpper(arg), ""
	case "/help":
		return "HD", ""
	}
	return "HD", ""
}

// officerCommand answers /link and /sync; false when the chat may not use it.
func (c *Channel) officerCommand(ctx context.Context, chatID int64, cmd, arg string) (message.Reply, bool) {
	if c.officers == nil {
		return message.Reply{}, false
	}
	switch cmd {
	case "link":
		r, err := c.officers.Link(ctx, chatID, arg)
		if err != nil {
			c.log.Error("linking an officer", "error", err)
			return message.Reply{Text: c.tr.T(i18n.Default, "error_generic")}, true
		}
		return r, true
	case "sync":
		ok, err := c.officers.IsOfficer(ctx, chatID)
		if err != nil || !ok {
			return message.Reply{}, false
		}
		r, err := c.officers.SyncStatus(ctx)
		if err != nil {
			return message.Reply{Text: c.tr.T(i18n.Default, "error_generic")}, true
		}
		return r, true
	}
	return message.Reply{}, false
}

func (c *Channel) onCallback(ctx context.Context, u *models.Update, q *models.CallbackQuery) {
	// Stop the button's spinner whatever happens next.
	if _, err := c.tg.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: q.ID}); err != nil {
		c.log.Warn("telegram answerCallbackQuery", "error", err)
	}
	if q.Message.Message == nil {
		c.updates.WithLabelValues("callback_query", "no_message").Inc()
		return
	}
	chatID := q.Message.Message.Chat.ID
	in := message.Inbound{Channel: message.Telegram, UserID: strconv.FormatInt(q.From.ID, 10), Text: q.Data,
		MessageID: strconv.FormatInt(u.ID, 10), Time: time.Now().UTC(), Choice: true}
	c.answerOnce(ctx, "callback_query", chatID, in, func() message.Reply { return c.bot.Handle(ctx, in, Caps()) })
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

func (c *Channel) send(ctx context.Context, chatID int64, r message.Reply) {
	if r.Text == "" {
		return
	}
	parts := message.Split(r.Text, MaxText)
	for i, p := range parts {
		params := &bot.SendMessageParams{ChatID: chatID, Text: p}
		if i == len(parts)-1 {
			params.ReplyMarkup = keyboard(r.Choices)
		}
		if _, err := c.tg.SendMessage(ctx, params); err != nil {
			c.log.Error("telegram sendMessage", "chat", chatID, "error", err)
			return
		}
	}
}

// Sender delivers outbox messages (officers' change digests) to chats.
type Sender struct{ c *Channel }

// Sender returns the outbox sender of kind "telegram".
func (c *Channel) Sender() *Sender { return &Sender{c} }

// Kind is notify.Telegram.
func (s *Sender) Kind() string { return notify.Telegram }

// Send posts the message to the chat id in Recipient. A chat that blocked
// the bot or vanished (403, 400) is a permanent failure.
func (s *Sender) Send(ctx context.Context, m notify.Message) (string, error) {
	chatID, err := strconv.ParseInt(m.Recipient, 10, 64)
	if err != nil {
		return "", notify.Permanent(fmt.Errorf("telegram recipient %q is not a chat id", m.Recipient))
	}
	var ref string
	for _, p := range message.Split(m.Payload.Text, MaxText) {
		msg, err := s.c.tg.SendMessage(ctx, &bot.SendMessageParams{ChatID: chatID, Text: p})
		if err != nil {
			if errors.Is(err, bot.ErrorForbidden) || errors.Is(err, bot.ErrorBadRequest) {
				return "", notify.Permanent(err)
			}
			return "", err
		}
		ref = strconv.Itoa(msg.ID)
	}
	return ref, nil
}
