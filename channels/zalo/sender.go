package zalo

import (
	"context"
	"errors"
	"time"

	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
)

// Sender delivers outbox messages of kind "zalo" (replies, notices inside
// the interaction window) with the OA Open API.
type Sender struct{ api *API }

// NewSender returns the outbox sender of kind "zalo".
func NewSender(api *API) *Sender { return &Sender{api: api} }

// Kind is notify.Zalo.
func (s *Sender) Kind() string { return notify.Zalo }

// rateLimitWait is how long a -32 (the app's per-minute limit) holds the
// next attempt back: the limit is counted per minute.
const rateLimitWait = time.Minute

// Send posts the message to the Zalo user id in Recipient. A user who
// cannot be reached (outside the 7-day window, blocked the OA) is a
// permanent failure; a rate limit waits for the next minute.
func (s *Sender) Send(ctx context.Context, m notify.Message) (string, error) {
	err := s.api.Send(ctx, m.Recipient, message.Reply{Text: m.Payload.Text, Choices: m.Payload.Choices})
	var ae *apiError
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, ErrUnreachable):
		return "", notify.Permanent(err)
	case errors.As(err, &ae) && ae.Code == -32:
		return "", notify.RetryAfter(err, rateLimitWait)
	case errors.As(err, &ae) && (ae.Code == -210 || ae.Code == -201 || ae.Code == -211):
		return "", notify.Permanent(err) // the same request would fail the same way
	}
	return "", err
}
