package sms

import (
	"context"
	"net/url"
	"time"

	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/notify"
)

// Spec is the SMS channel in the binary: DVCBOT_SMS_* settings, the MO
// routes, the MT sender of the outbox.
type Spec struct {
	cfg     Config
	send    SenderConfig
	dlrWait time.Duration
}

var (
	_ channels.Spec       = (*Spec)(nil)
	_ channels.SenderSpec = (*Spec)(nil)
)

// NewSpec returns the SMS channel's spec with unset settings.
func NewSpec() *Spec { return &Spec{} }

// Name is the channel name.
func (s *Spec) Name() string { return "sms" }

// Settings are the DVCBOT_SMS_* variables.
func (s *Spec) Settings() []config.Setting {
	return []config.Setting{
		config.New("DVCBOT_SMS_KEY", "sms-key", "", "secret `key` parameter Kannel must send on /channels/sms/kannel and /channels/sms/dlr (compared in constant time)",
			config.Secret(&s.cfg.Key, 12)),
		config.New("DVCBOT_SMS_ALLOW_CIDRS", "sms-allow-cidrs", "127.0.0.1/32,::1/128",
			"comma-separated networks Kannel may call from; with DVCBOT_SMS_KEY both must hold; empty: the key alone decides",
			config.Prefixes(&s.cfg.AllowCIDRs)),
		config.New("DVCBOT_SMS_SECRET", "sms-secret", "", "HMAC key of the generic SMS gateway (POST /channels/sms/generic and outbound requests); empty disables it",
			config.Secret(&s.cfg.Secret, 16)),
		config.New("DVCBOT_SMS_ACCENTS", "sms-accents", "false", "keep Vietnamese diacritics in SMS (UCS-2, 67 characters a segment) instead of accent-free GSM-7",
			config.Bool(&s.cfg.Accents)),
		config.New("DVCBOT_SMS_MAX_SEGMENTS", "sms-max-segments", "2", "most segments one SMS reply may use; longer replies end with a pointer to the rest",
			config.Int(&s.cfg.MaxSegments, 1, 6)),
		config.New("DVCBOT_SMS_SHORTCODE", "sms-shortcode", "8188", "the shortcode: sender address of outbound SMS",
			config.NonEmpty(&s.send.Shortcode, 16)),
		config.New("DVCBOT_SMS_SEND_URL", "sms-send-url", "", "outbound SMS gateway: Kannel sendsms (http://user:pass@127.0.0.1:13013/cgi-bin/sendsms) or a generic JSON endpoint; empty: no outbound SMS (replies after an outage or a crash, alerts)",
			config.URL(&s.send.URL)),
		config.New("DVCBOT_SMS_SEND_KIND", "sms-send-kind", "kannel", "kannel or generic: how DVCBOT_SMS_SEND_URL is spoken to",
			config.OneOf(&s.send.Kind, KindKannel, KindGeneric)),
		config.New("DVCBOT_SMS_DLR_WAIT", "sms-dlr-wait", "10m",
			"after a crash or a gateway that answered too late, how long an SMS that may have left waits for its delivery report before it is sent again",
			config.Duration(&s.dlrWait, 30*time.Second, 24*time.Hour)),
	}
}

// Validate has nothing to cross-check.
func (s *Spec) Validate() error { return nil }

// Enabled: the MO routes are always served (they refuse callers without
// the key or from outside the allowed networks).
func (s *Spec) Enabled() bool { return true }

// CanSend reports whether outbound SMS is configured.
func (s *Spec) CanSend() bool { return s.send.URL != nil }

// Build registers the channel with the pipeline.
func (s *Spec) Build(ctx context.Context, d channels.Deps) (channels.Built, error) {
	ch := New(s.cfg, d.Pipe, WithLogger(d.Log), WithMetrics(d.Metrics), WithReceipts(d.Receipts))
	return channels.Built{Channel: ch, Senders: s.Senders(d)}, nil
}

// Senders is the MT sender, when DVCBOT_SMS_SEND_URL is set.
func (s *Spec) Senders(d channels.Deps) []notify.Sender {
	if s.send.URL == nil {
		return nil
	}
	cfg := s.send
	cfg.Secret, cfg.Accents, cfg.MaxSegments = s.cfg.Secret, s.cfg.Accents, s.cfg.MaxSegments
	cfg.DLRURL = d.PublicURL + "/channels/sms/dlr"
	if s.cfg.Key != "" {
		cfg.DLRURL += "?key=" + url.QueryEscape(s.cfg.Key)
	}
	return []notify.Sender{NewSender(cfg, d.OptOuts, nil)}
}

// WorkerOptions: an SMS that may have left waits for its DLR before a resend.
func (s *Spec) WorkerOptions() []notify.WorkerOption {
	return []notify.WorkerOption{notify.WithDLRWait(s.dlrWait)}
}
