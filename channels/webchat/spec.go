package webchat

import (
	"context"
	"fmt"
	"strings"

	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/notify"
)

// Spec is the web chat in the binary: the page, the websocket, pushes of
// replies that are sent rather than returned.
type Spec struct{ origins []string }

var _ channels.Spec = (*Spec)(nil)

// NewSpec returns the web chat's spec with unset settings.
func NewSpec() *Spec { return &Spec{} }

// Name is the channel name.
func (s *Spec) Name() string { return "webchat" }

// Settings are the web chat's variables.
func (s *Spec) Settings() []config.Setting {
	return []config.Setting{
		config.New("DVCBOT_WEB_ORIGINS", "web-origins", "",
			"comma-separated origins allowed to open the web chat websocket (e.g. https://dvc.danang.gov.vn); empty allows same-origin only",
			config.List(&s.origins, func(o string) (string, error) {
				o = strings.TrimRight(o, "/")
				if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
					return "", fmt.Errorf("origin %q must start with http:// or https://", o)
				}
				return o, nil
			})),
	}
}

// Validate has nothing to cross-check.
func (s *Spec) Validate() error { return nil }

// Enabled: the web chat is always served.
func (s *Spec) Enabled() bool { return true }

// Build registers the channel; cookies are Secure behind https.
func (s *Spec) Build(ctx context.Context, d channels.Deps) (channels.Built, error) {
	opts := []Option{WithOrigins(s.origins), WithLogger(d.Log), WithMetrics(d.Metrics)}
	if d.Sessions != nil {
		opts = append(opts, WithSessions(d.Sessions))
		if d.Rotator != nil {
			opts = append(opts, WithRotator(d.Rotator))
		}
	}
	if d.WebChatBus != nil {
		opts = append(opts, WithBus(d.WebChatBus))
	}
	if strings.HasPrefix(d.PublicURL, "https://") {
		opts = append(opts, WithSecureCookie())
	}
	ch := New(d.Pipe, d.Tr, opts...)
	built := channels.Built{Channel: ch, Senders: []notify.Sender{ch.Sender()}}
	if d.WebChatBus != nil {
		built.Runners = append(built.Runners, ch.Run)
	}
	return built, nil
}
