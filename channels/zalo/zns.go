package zalo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/core/notice"
	"github.com/dvcbot/dvcbot/core/notify"
)

// ZNS sends Zalo Notification Service template messages to a phone
// (zns.md): POST <base>/message/template with the OA's access token. It is
// the outbox sender of kind "zns": the message's Recipient is the phone
// (84…), Payload.Subject the template id and Payload.Text the template's
// parameters as a JSON object of strings (notice.ZNSPayload). The
// tracking_id is "notice-<outbox id>", which comes back in the delivery
// event (Channel records it as the message's delivery report).
type ZNS struct {
	base   string
	tokens *Tokens
	http   *http.Client
	dev    bool
	log    *slog.Logger
}

// DefaultZNSURL is the default of DVCBOT_ZNS_API_URL.
const DefaultZNSURL = "https://business.openapi.zalo.me"

// NewZNS returns the ZNS client and sender; dev sends in development mode
// (to the OA's admins only, for templates not yet approved).
func NewZNS(base string, tokens *Tokens, dev bool, log *slog.Logger) *ZNS {
	if log == nil {
		log = slog.Default()
	}
	return &ZNS{base: strings.TrimRight(base, "/"), tokens: tokens, http: &http.Client{Timeout: 15 * time.Second}, dev: dev, log: log}
}

// Kind is "zns".
func (z *ZNS) Kind() string { return notice.ZNS }

// TrackingID is the tracking_id of an outbox message.
func TrackingID(outboxID int64) string { return "notice-" + strconv.FormatInt(outboxID, 10) }

// OutboxIDOf reads a tracking_id back (0 when it is not ours).
func OutboxIDOf(tracking string) int64 {
	id, err := strconv.ParseInt(strings.TrimPrefix(tracking, "notice-"), 10, 64)
	if err != nil || !strings.HasPrefix(tracking, "notice-") {
		return 0
	}
	return id
}

// ZNS error groups (zns.md "Errors: what to do").
const (
	znsToken     = "token"
	znsRecipient = "recipient"
	znsTemplate  = "template"
	znsQuota     = "quota"
	znsUnknown   = "unknown"
)

// znsGroup sorts an error code; codes are [verify] in zns.md, so unknown
// negative codes are permanent for the message.
func znsGroup(code int) string {
	switch code {
	case -124, -216, -220, -201124:
		return znsToken
	case -108, -118, -119, -139, -141, -147, -211, -213, -217, -227, -230:
		return znsRecipient
	case -112, -114, -115, -131, -132, -133, -134, -135:
		return znsTemplate
	case -144, -145, -146, -148:
		return znsQuota
	}
	return znsUnknown
}

// ZNSError is a refusal by the ZNS API.
type ZNSError struct {
	Code    int
	Message string
	Group   string
}

func (e *ZNSError) Error() string {
	return fmt.Sprintf("zns error %d (%s): %s", e.Code, e.Group, e.Message)
}

// Send posts one template message. A token error refreshes the pair once
// and retries once; 5xx, timeouts and resets are retried by the outbox;
// every other refusal (recipient, template, quota, unknown) is permanent
// for the message, so the notice falls back to SMS.
func (z *ZNS) Send(ctx context.Context, m notify.Message) (string, error) {
	data := json.RawMessage(m.Payload.Text)
	if !json.Valid(data) {
		return "", notify.Permanent(errors.New("zns: the template data is not JSON"))
	}
	body := map[string]any{"phone": m.Recipient, "template_id": m.Payload.Subject, "template_data": data,
		"tracking_id": TrackingID(m.ID)}
	if z.dev {
		body["mode"] = "development"
	}
	raw, _ := json.Marshal(body)
	token, err := z.tokens.Access(ctx)
	if err != nil {
		return "", err
	}
	for attempt := 0; ; attempt++ {
		ref, err := z.post(ctx, token, raw)
		var ze *ZNSError
		switch {
		case err == nil:
			return ref, nil
		case errors.As(err, &ze) && ze.Group == znsToken && attempt == 0:
			if token, err = z.tokens.Refresh(ctx, token); err != nil {
				return "", err
			}
			continue
		case errors.As(err, &ze):
			if ze.Group == znsTemplate {
				z.log.Error("ZNS refused a template: check DVCBOT_ZNS_TEMPLATES and the template's approval", "template", m.Payload.Subject,
					"code", ze.Code, "message", ze.Message)
			}
			return "", notify.Permanent(err)
		}
		return "", err
	}
}

func (z *ZNS) post(ctx context.Context, token string, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, z.base+"/message/template", bytes.NewReader(body))
	if err != nil {
		return "", notify.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("access_token", token)
	resp, err := z.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("zns: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return "", fmt.Errorf("zns: HTTP %d", resp.StatusCode)
	}
	var env struct {
		Error   json.Number `json:"error"`
		Message string      `json:"message"`
		Data    struct {
			MsgID string `json:"msg_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return "", fmt.Errorf("zns: HTTP %d, answer is not JSON", resp.StatusCode)
	}
	code, _ := env.Error.Int64()
	if code != 0 {
		return "", &ZNSError{Code: int(code), Message: env.Message, Group: znsGroup(int(code))}
	}
	return env.Data.MsgID, nil
}

// WithReceipts records ZNS delivery events (user_received_message with our
// tracking_id) as delivery reports of their outbox messages.
func WithReceipts(r channels.Receipts) Option { return func(c *Channel) { c.receipts = r } }

// znsDelivered records a ZNS delivery event.
func (c *Channel) znsDelivered(r *http.Request, e event) string {
	id := OutboxIDOf(e.Message.TrackingID)
	if id == 0 || c.receipts == nil {
		return "ignored"
	}
	found, err := c.receipts.RecordDelivery(r.Context(), id, notify.Delivered)
	switch {
	case err != nil:
		c.log.Error("recording a ZNS delivery event", "id", id, "error", err)
		return "failed"
	case !found:
		return "unknown"
	}
	return "delivered"
}
