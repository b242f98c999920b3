// Package email sends outbox messages by SMTP (wneessen/go-mail):
// smtp://user:pass@host:587 with mandatory STARTTLS, smtps://… with implicit
// TLS. Each message carries a Message-ID derived from its outbox row (its
// dedupe key), the same on every attempt, so a copy sent twice (a crash
// between sending and recording, a server that answered the end of DATA
// too late) is the same message to the receiving side and its mail client.
package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/dvcbot/dvcbot/core/notify"
)

// Sender is the outbox's "email" sender.
type Sender struct {
	host    string
	port    int
	ssl     bool
	user    string
	pass    string
	from    string
	domain  string
	tls     *tls.Config
	timeout time.Duration
}

// Option configures a Sender.
type Option func(*Sender)

// WithTLSConfig sets the TLS configuration (a private CA in tests).
func WithTLSConfig(c *tls.Config) Option { return func(s *Sender) { s.tls = c } }

// WithTimeout bounds one SMTP session (default 30 s).
func WithTimeout(d time.Duration) Option { return func(s *Sender) { s.timeout = d } }

// ParseURL reads DVCBOT_SMTP_URL.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("must be smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465 (implicit TLS)")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("the port must be a number from 1 to 65535")
		}
	}
	return u, nil
}

// New returns a sender for an smtp:// or smtps:// URL, sending as from.
func New(u *url.URL, from string, opts ...Option) *Sender {
	s := &Sender{host: u.Hostname(), ssl: u.Scheme == "smtps", from: from, timeout: 30 * time.Second}
	s.port = 587
	if s.ssl {
		s.port = 465
	}
	if p, err := strconv.Atoi(u.Port()); err == nil {
		s.port = p
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	if at := strings.LastIndex(from, "@"); at >= 0 {
		s.domain = strings.TrimRight(from[at+1:], ">")
	}
	s.tls = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Kind is notify.Email.
func (s *Sender) Kind() string { return notify.Email }

// MessageID derives a stable Message-ID from the outbox dedupe key.
func (s *Sender) MessageID(dedupeKey string) string {
	h := sha256.Sum256([]byte(dedupeKey))
	return hex.EncodeToString(h[:16]) + "@" + s.domain
}

// messageID is the Message-ID of an outbox row: from its dedupe key (unique
// and fixed for the row's life), else from its id.
func (s *Sender) messageID(m notify.Message) string {
	if m.DedupeKey != "" {
		return s.MessageID(m.DedupeKey)
	}
	return s.MessageID("outbox-" + strconv.FormatInt(m.ID, 10))
}

// Send delivers one message. A rejected recipient or sender is permanent;
// connection problems and temporary (4xx) SMTP answers are retried; no
// answer to the end of DATA is Ambiguous (the server may have taken it: the
// retry carries the same Message-ID). A message the server accepted is sent
// even if closing the session fails afterwards.
func (s *Sender) Send(ctx context.Context, m notify.Message) (string, error) {
	msg := mail.NewMsg()
	if err := msg.From(s.from); err != nil {
		return "", notify.Permanent(fmt.Errorf("DVCBOT_ALERT_FROM %q: %w", s.from, err))
	}
	if err := msg.To(m.Recipient); err != nil {
		return "", notify.Permanent(fmt.Errorf("recipient %q: %w", m.Recipient, err))
	}
	msg.Subject(m.Payload.Subject)
	id := s.messageID(m)
	msg.SetMessageIDWithValue(id)
	msg.SetDate()
	msg.SetBodyString(mail.TypeTextPlain, m.Payload.Text)
	if m.Payload.HTML != "" {
		msg.AddAlternativeString(mail.TypeTextHTML, m.Payload.HTML)
	}
	opts := []mail.Option{mail.WithPort(s.port), mail.WithTLSConfig(s.tls), mail.WithTimeout(s.timeout)}
	if s.ssl {
		opts = append(opts, mail.WithSSLPort(false))
	} else {
		opts = append(opts, mail.WithTLSPortPolicy(mail.TLSMandatory))
	}
	if s.user != "" {
		opts = append(opts, mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover), mail.WithUsername(s.user), mail.WithPassword(s.pass))
	}
	c, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return "", notify.Permanent(err)
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		if msg.IsDelivered() {
			return id, nil // accepted; only the reset or QUIT after it failed
		}
		return "", classify(err)
	}
	return id, nil
}

// classify: a 5xx SMTP reply is permanent, no reply to the end of DATA is
// ambiguous, anything else is retried.
func classify(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 {
		return notify.Permanent(err)
	}
	var se *mail.SendError
	if errors.As(err, &se) && se.Reason == mail.ErrSMTPDataClose && se.ErrorCode() == 0 {
		return notify.Ambiguous(err)
	}
	if errors.As(err, &se) && !se.IsTemp() && se.Reason != mail.ErrConnCheck && se.Reason != mail.ErrSMTPDataClose {
		if errcode := se.ErrorCode(); errcode >= 500 {
			return notify.Permanent(err)
		}
	}
	return err
}
