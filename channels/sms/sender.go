package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/signature"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Gateway kinds for outbound MT.
const (
	KindKannel  = "kannel"
	KindGeneric = "generic"
)

// SenderConfig configures outbound MT.
type SenderConfig struct {
	URL       *url.URL // DVCBOT_SMS_SEND_URL; for Kannel the user:pass become username/password
	Kind      string   // DVCBOT_SMS_SEND_KIND: kannel or generic
	Shortcode string   // DVCBOT_SMS_SHORTCODE: the sender address
	Secret    string   // DVCBOT_SMS_SECRET: signs generic requests
	// DLRURL is where delivery reports go: the public base URL plus
	// /channels/sms/dlr (with the key when one is set). Empty: no reports.
	DLRURL      string
	Accents     bool
	MaxSegments int
	// Timeout bounds one request to the gateway (default 15 s). A gateway
	// that answers later may still send the SMS: the send is Ambiguous.
	Timeout time.Duration
}

// Sender sends MT through Kannel's sendsms or the generic gateway. It is the
// outbox's "sms" sender.
type Sender struct {
	cfg     SenderConfig
	client  *http.Client
	optouts OptOuts
}

// NewSender returns the MT sender. With a nil client it makes its own:
// cfg.Timeout, and a new connection for each request, so the HTTP transport
// never silently repeats a request a gateway read on a reused connection
// and closed without answering (Go replays idempotent-looking requests).
func NewSender(cfg SenderConfig, oo OptOuts, client *http.Client) *Sender {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 15 * time.Second
	}
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.DisableKeepAlives = true
		client = &http.Client{Timeout: cfg.Timeout, Transport: tr}
	}
	if cfg.MaxSegments <= 0 {
		cfg.MaxSegments = 2
	}
	return &Sender{cfg: cfg, client: client, optouts: oo}
}

// Kind is notify.SMS.
func (s *Sender) Kind() string { return notify.SMS }

// Send delivers one message. A phone that opted out, a refused request or a
// bad number are permanent failures; 5xx and 429 (after its Retry-After)
// are retried; a failure after the request was written (the gateway answers
// after the client's timeout, the connection drops) is Ambiguous: the SMS
// may have left, and the outbox waits for its DLR before sending it again.
func (s *Sender) Send(ctx context.Context, m notify.Message) (string, error) {
	out, err := s.optouts.OptedOut(ctx, m.Recipient)
	if err != nil {
		return "", err
	}
	if out {
		return "", notify.Permanent(fmt.Errorf("%s opted out of proactive SMS", m.Recipient))
	}
	text := m.Payload.Text
	if !s.cfg.Accents {
		text = vntext.ToGSM(text)
	}
	text, _ = vntext.FitSMS(text, "", s.cfg.MaxSegments)
	if s.cfg.Kind == KindGeneric {
		return s.sendGeneric(ctx, m, text)
	}
	return s.sendKannel(ctx, m, text)
}

func (s *Sender) dlrURL(id int64) string {
	if s.cfg.DLRURL == "" {
		return ""
	}
	sep := "?"
	if strings.Contains(s.cfg.DLRURL, "?") {
		sep = "&"
	}
	return s.cfg.DLRURL + sep + "id=" + strconv.FormatInt(id, 10) + "&status=%d"
}

func (s *Sender) sendKannel(ctx context.Context, m notify.Message, text string) (string, error) {
	u := *s.cfg.URL
	q := u.Query()
	if u.User != nil {
		q.Set("username", u.User.Username())
		if p, ok := u.User.Password(); ok {
			q.Set("password", p)
		}
		u.User = nil
	}
	q.Set("from", s.cfg.Shortcode)
	q.Set("to", m.Recipient)
	q.Set("text", text)
	if !vntext.IsGSM7(text) {
		q.Set("coding", "2")
		q.Set("charset", "UTF-8")
	}
	if d := s.dlrURL(m.ID); d != "" {
		q.Set("dlr-mask", "27") // delivered, undelivered, accepted by and rejected by the SMSC
		q.Set("dlr-url", d)
	}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", notify.Permanent(err)
	}
	resp, wrote, err := s.do(req)
	if err != nil {
		return "", transportError("kannel sendsms", redactURLError(err), wrote)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return "", classify("kannel sendsms", resp, body)
}

// do sends req and reports whether the request reached the gateway in
// full: a failure after that may have sent the SMS.
func (s *Sender) do(req *http.Request) (*http.Response, bool, error) {
	var wrote atomic.Bool
	trace := &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			wrote.Store(true)
		}
	}}
	resp, err := s.client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	return resp, wrote.Load(), err
}

// transportError classifies a failed round trip: before the request was
// written nothing left (retry); after, the gateway may have queued it.
func transportError(what string, err error, wrote bool) error {
	if wrote {
		return notify.Ambiguous(fmt.Errorf("%s: no answer after the request was sent, the SMS may have left: %w", what, err))
	}
	return fmt.Errorf("%s: %w", what, err)
}

// classify turns a gateway answer into nil, a retryable or a permanent
// error; a 429 or 503 with Retry-After is not retried before it.
func classify(what string, resp *http.Response, body []byte) error {
	status := resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		return nil
	case status == http.StatusTooManyRequests || status >= 500:
		err := fmt.Errorf("%s: %d %s", what, status, strings.TrimSpace(string(body)))
		if d := retryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 {
			return notify.RetryAfter(err, d)
		}
		return err
	default:
		return notify.Permanent(fmt.Errorf("%s refused the message: %d %s", what, status, strings.TrimSpace(string(body))))
	}
}

// retryAfter reads a Retry-After header: seconds or an HTTP date; at most a
// day.
func retryAfter(v string, now time.Time) time.Duration {
	if v = strings.TrimSpace(v); v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), 24*time.Hour)
}

func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil {
			q := u.Query()
			q.Del("password")
			u.RawQuery = q.Encode()
			return &url.Error{Op: ue.Op, URL: u.Redacted(), Err: ue.Err}
		}
	}
	return err
}

// genericMT is the generic gateway's send request.
type genericMT struct {
	ID     string `json:"id"` // the outbox dedupe key: the gateway drops repeats
	From   string `json:"from"`
	To     string `json:"to"`
	Text   string `json:"text"`
	DLRURL string `json:"dlr_url,omitempty"`
}

func (s *Sender) sendGeneric(ctx context.Context, m notify.Message, text string) (string, error) {
	body, _ := json.Marshal(genericMT{ID: m.DedupeKey, From: s.cfg.Shortcode, To: m.Recipient, Text: text, DLRURL: s.dlrURL(m.ID)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL.String(), bytes.NewReader(body))
	if err != nil {
		return "", notify.Permanent(err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-DVC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-DVC-Signature", signature.Sign([]byte(s.cfg.Secret), ts, body))
	req.Header.Set("Idempotency-Key", m.DedupeKey)
	resp, wrote, err := s.do(req)
	if err != nil {
		return "", transportError("sms gateway", err, wrote)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err := classify("sms gateway", resp, rb); err != nil {
		return "", err
	}
	var ack struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(rb, &ack)
	return ack.ID, nil
}
