package zalo

import (
	"context"
	"errors"

	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/notify"
)

// Spec is the Zalo OA channel in the binary: DVCBOT_ZALO_* settings, the
// webhook, the self-refreshing token pair and the outbox sender.
type Spec struct {
	cfg                   Config
	appSecret, api, oauth string
	zns                   string // DVCBOT_ZNS_API_URL
	znsDev                bool   // DVCBOT_ZNS_DEV_MODE
}

var _ channels.Spec = (*Spec)(nil)

// NewSpec returns the Zalo channel's spec with unset settings.
func NewSpec() *Spec { return &Spec{} }

// Name is the channel name.
func (s *Spec) Name() string { return "zalo" }

// Settings are the DVCBOT_ZALO_* variables.
func (s *Spec) Settings() []config.Setting {
	return []config.Setting{
		config.New("DVCBOT_ZALO_APP_ID", "zalo-app-id", "", "Zalo app id (enables the Zalo OA channel)", config.String(&s.cfg.AppID)),
		config.New("DVCBOT_ZALO_APP_SECRET", "zalo-app-secret", "", "Zalo app secret key (OAuth token refresh)", config.String(&s.appSecret)),
		config.New("DVCBOT_ZALO_OA_SECRET", "zalo-oa-secret", "", "Zalo OA secret key from the Webhook settings (the webhook signature key)",
			config.String(&s.cfg.OASecret)),
		config.New("DVCBOT_ZALO_OA_ID", "zalo-oa-id", "", "the OA id; when set, events for another OA are refused", config.String(&s.cfg.OAID)),
		config.New("DVCBOT_ZALO_API_URL", "zalo-api-url", "https://openapi.zalo.me", "base URL of the Zalo OA Open API",
			config.HTTPURL(&s.api, false)),
		config.New("DVCBOT_ZALO_OAUTH_URL", "zalo-oauth-url", "https://oauth.zaloapp.com", "base URL of Zalo's OAuth (path /v4/oa/access_token)",
			config.HTTPURL(&s.oauth, false)),
		config.New("DVCBOT_ZNS_API_URL", "zns-api-url", DefaultZNSURL, "base URL of Zalo Notification Service (template messages to a phone: POST <base>/message/template), for notices outside the OA's interaction window",
			config.HTTPURL(&s.zns, false)),
		config.New("DVCBOT_ZNS_DEV_MODE", "zns-dev-mode", "false", "send ZNS in development mode (only to the OA admins' phones; templates not yet approved)",
			config.Bool(&s.znsDev)),
	}
}

// Errors of Validate name the missing variable.
var (
	ErrNoAppSecret = errors.New("DVCBOT_ZALO_APP_SECRET (flag --zalo-app-secret): is required when DVCBOT_ZALO_APP_ID is set")
	ErrNoOASecret  = errors.New("DVCBOT_ZALO_OA_SECRET (flag --zalo-oa-secret): is required when DVCBOT_ZALO_APP_ID is set")
)

// Validate: an app id needs both secrets.
func (s *Spec) Validate() error {
	switch {
	case s.cfg.AppID == "":
		return nil
	case s.appSecret == "":
		return ErrNoAppSecret
	case s.cfg.OASecret == "":
		return ErrNoOASecret
	}
	return nil
}

// Enabled when an app id is set.
func (s *Spec) Enabled() bool { return s.cfg.AppID != "" }

// Build wires the webhook, the token pair (kept fresh in the background)
// and the sender.
func (s *Spec) Build(ctx context.Context, d channels.Deps) (channels.Built, error) {
	tokens := NewTokens(d.Credentials, s.oauth, s.cfg.AppID, s.appSecret, d.Log)
	tokens.Register(d.Metrics)
	ch := New(s.cfg, d.Pipe, WithLogger(d.Log), WithMetrics(d.Metrics), WithReceipts(d.Receipts))
	return channels.Built{Channel: ch, Senders: []notify.Sender{NewSender(NewAPI(s.api, tokens)), NewZNS(s.zns, tokens, s.znsDev, d.Log)},
		Runners: []func(context.Context) error{tokens.KeepFresh}}, nil
}
