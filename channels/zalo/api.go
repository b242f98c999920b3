package zalo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Limits of a consultation message.
const (
	MaxText        = 1900 // runes per message; Zalo allows 2,000
	MaxButtons     = 5
	MaxButtonTitle = 100
)

// ErrUnreachable: the user cannot receive messages now (outside the 7-day
// window, unfollowed, blocked). Recorded, never retried.
var ErrUnreachable = errors.New("zalo user cannot be reached")

// apiError is Zalo's {"error": n, "message": "…"}.
type apiError struct {
	Code    int
	Message string
}

func (e *apiError) Error() string { return fmt.Sprintf("zalo error %d: %s", e.Code, e.Message) }

// API sends consultation messages through the OA Open API.
type API struct {
	base   string
	tokens *Tokens
	http   *http.Client
}

// NewAPI returns the client; base is e.g. https://openapi.zalo.me.
func NewAPI(base string, tokens *Tokens) *API {
	return &API{base: strings.TrimRight(base, "/"), tokens: tokens, http: &http.Client{Timeout: 10 * time.Second}}
}

type button struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Payload string `json:"payload"`
}

type outMessage struct {
	Text       string          `json:"text"`
	Attachment *map[string]any `json:"attachment,omitempty"`
}

// Send delivers a reply: long text split at paragraph, sentence or word
// boundaries, in order; the buttons ride on the last part. A template the
// OA may not send is resent as plain text.
func (a *API) Send(ctx context.Context, userID string, r message.Reply) error {
	parts := message.Split(vntext.NFC(r.Text), MaxText)
	for i, part := range parts {
		msg := outMessage{Text: part}
		if i == len(parts)-1 && len(r.Choices) > 0 {
			var buttons []button
			for _, c := range r.Choices {
				if len(buttons) == MaxButtons {
					break
				}
				title := c.Label
				if utf8.RuneCountInString(title) > MaxButtonTitle {
					title = string([]rune(title)[:MaxButtonTitle-1]) + "…"
				}
				buttons = append(buttons, button{Title: title, Type: "oa.query.show", Payload: c.Value})
			}
			att := map[string]any{"type": "template", "payload": map[string]any{"buttons": buttons}}
			msg.Attachment = &att
		}
		err := a.send(ctx, userID, msg)
		var ae *apiError
		if errors.As(err, &ae) && ae.Code == -233 && msg.Attachment != nil {
			msg.Attachment = nil // template refused: the text already numbers the choices
			err = a.send(ctx, userID, msg)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (a *API) send(ctx context.Context, userID string, msg outMessage) error {
	body, _ := json.Marshal(map[string]any{"recipient": map[string]string{"user_id": userID}, "message": msg})
	token, err := a.tokens.Access(ctx)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		err := a.post(ctx, "/v3.0/oa/message/cs", token, body)
		var ae *apiError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &ae) && (ae.Code == -216 || ae.Code == -220 || ae.Code == -124 || ae.Code == 401) && attempt == 0:
			// Expired or revoked: refresh once and retry once.
			if token, err = a.tokens.Refresh(ctx, token); err != nil {
				return err
			}
		case errors.As(err, &ae) && isUnreachable(ae.Code):
			return fmt.Errorf("%w: %v", ErrUnreachable, err)
		case errors.As(err, &ae) && ae.Code == -32 && attempt == 0:
			select { // app rate limit: back off once
			case <-time.After(2 * time.Second):
			case <-ctx.Done():
				return ctx.Err()
			}
		default:
			return err
		}
	}
}

func isUnreachable(code int) bool {
	switch code {
	case -230, -232, -227, -217, -244, -213, -305:
		return true
	}
	return false
}

func (a *API) post(ctx context.Context, path, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("access_token", token)
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("zalo %s: %w", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusUnauthorized {
		return &apiError{Code: 401, Message: "HTTP 401"}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("zalo %s: HTTP %d", path, resp.StatusCode)
	}
	var env struct {
		Error   json.Number `json:"error"`
		Message string      `json:"message"`
	}
	if err := json.Unmarshal(b, &env); err != nil {
		return fmt.Errorf("zalo %s: answer is not JSON", path)
	}
	code, _ := env.Error.Int64()
	if code != 0 {
		return &apiError{Code: int(code), Message: env.Message}
	}
	return nil
}
