// Package channels holds what every transport shares. Each channel is its
// own package (sms, zalo, telegram, webchat) that turns a wire format into
// core/message types and back; registering one is one line in cmd/dvcbot.
package channels

import (
	"context"
	"net/http"

	"github.com/dvcbot/dvcbot/core/message"
)

// Bot is what a channel talks to.
type Bot interface {
	Handle(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply
	Welcome(ctx context.Context, channel, user string, caps message.Capabilities) message.Reply
}

// Channel is a transport with HTTP routes.
type Channel interface {
	Name() string
	Register(mux *http.ServeMux)
}

// Runner is a channel with background work (long polling, outbound queues).
type Runner interface {
	Run(ctx context.Context) error
}
