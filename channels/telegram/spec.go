package telegram

import (
	"context"
	"errors"
	"strings"

	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/notify"
)

// Spec is the Telegram channel in the binary: DVCBOT_TELEGRAM_* settings,
// the webhook or long polling, the outbox sender.
type Spec struct{ cfg Config }

var _ channels.Spec = (*Spec)(nil)

// NewSpec returns the Telegram channel's spec with unset settings.
func NewSpec() *Spec { return &Spec{} }

// Name is the channel name.
func (s *Spec) Name() string { return "telegram" }

// Settings are the DVCBOT_TELEGRAM_* variables.
func (s *Spec) Settings() []config.Setting {
	return []config.Setting{
		config.New("DVCBOT_TELEGRAM_TOKEN", "telegram-token", "", "Telegram bot token (enables the Telegram channel)",
			func(v string) error {
				if v != "" && !strings.Contains(v, ":") {
					return errors.New("must look like 123456:ABC… (from @BotFather)")
				}
				s.cfg.Token = v
				return nil
			}),
		config.New("DVCBOT_TELEGRAM_SECRET", "telegram-secret", "", "webhook secret token Telegram sends in X-Telegram-Bot-Api-Secret-Token (webhook mode)",
			func(v string) error {
				for _, r := range v {
					if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
						return errors.New("may only hold A-Z, a-z, 0-9, _ and - (Telegram's rule)")
					}
				}
				if len(v) > 256 {
					return errors.New("must be at most 256 characters")
				}
				s.cfg.Secret = v
				return nil
			}),
		config.New("DVCBOT_TELEGRAM_MODE", "telegram-mode", ModeWebhook, "webhook or poll", config.OneOf(&s.cfg.Mode, ModeWebhook, ModePoll)),
		config.New("DVCBOT_TELEGRAM_API_URL", "telegram-api-url", "https://api.telegram.org",
			"Telegram Bot API server (a local bot API server, or a fake in tests)", config.HTTPURL(&s.cfg.APIURL, false)),
	}
}

// Errors of Validate name the variable.
var (
	ErrNoSecret    = errors.New("DVCBOT_TELEGRAM_SECRET (flag --telegram-secret): is required in webhook mode")
	ErrNotHTTPSURL = errors.New("DVCBOT_PUBLIC_URL (flag --public-url): must be an https:// URL for the Telegram webhook (or use DVCBOT_TELEGRAM_MODE=poll)")
)

// Validate: the webhook needs its secret; the public URL is checked at
// Build, where it is known.
func (s *Spec) Validate() error {
	if s.cfg.Token != "" && s.cfg.Mode == ModeWebhook && s.cfg.Secret == "" {
		return ErrNoSecret
	}
	return nil
}

// Enabled when a token is set.
func (s *Spec) Enabled() bool { return s.cfg.Token != "" }

// CheckPublicURL is the webhook's need for https.
func (s *Spec) CheckPublicURL(public string) error {
	if s.Enabled() && s.cfg.Mode == ModeWebhook && !strings.HasPrefix(public, "https://") {
		return ErrNotHTTPSURL
	}
	return nil
}

// Build connects to the Bot API (getMe) and registers the channel.
func (s *Spec) Build(ctx context.Context, d channels.Deps) (channels.Built, error) {
	cfg := s.cfg
	cfg.PublicURL = d.PublicURL
	ch, err := New(ctx, cfg, d.Pipe, d.Tr, WithLogger(d.Log), WithMetrics(d.Metrics))
	if err != nil {
		return channels.Built{}, err
	}
	return channels.Built{Channel: ch, Senders: []notify.Sender{ch.Sender()}, Runners: []func(context.Context) error{ch.Run}}, nil
}
