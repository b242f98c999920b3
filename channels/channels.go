// Package channels holds what every transport shares. Each channel is its
// own package (sms, zalo, telegram, webchat) that turns a wire format into
// core/message types and back, declares its settings, and builds itself from
// Deps; adding one to the binary is one line in cmd/dvcbot.
package channels

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/credential"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/notify"
)

// Channel is a transport with HTTP routes.
type Channel interface {
	Name() string
	Register(mux *http.ServeMux)
}

// OptOuts tells whether a phone refused proactive messages.
type OptOuts interface {
	OptedOut(ctx context.Context, phone string) (bool, error)
}

// SessionKeeper issues, checks and rotates the ids of cookie sessions (the
// web chat): only an id the server issued is accepted, and it changes when
// the user proves who they are.
type SessionKeeper interface {
	IssueSession(ctx context.Context, channel string) (string, error)
	KnownSession(ctx context.Context, channel, id string) (bool, error)
	RotateSession(ctx context.Context, channel, id string) (newID, ticket string, err error)
	RedeemSessionTicket(ctx context.Context, channel, ticket string) (string, error)
	SessionLang(ctx context.Context, channel, user string) string
	SetSessionLang(ctx context.Context, channel, user, lang string) error
}

// Deps is what the binary hands a channel when it builds it.
type Deps struct {
	Pipe        *inbound.Pipeline
	Log         *slog.Logger
	Metrics     prometheus.Registerer
	Tr          *i18n.Catalog
	PublicURL   string           // how gateways and platforms reach the service
	Credentials credential.Store // rotating platform tokens (Zalo)
	OptOuts     OptOuts          // SMS opt-outs
	Receipts    Receipts         // delivery reports of outbox messages
	Sessions    SessionKeeper    // server-issued cookie sessions (web chat)
	// Rotator, when set, rotates a session id together with what a person
	// is waiting on under it (the hand-off desk: its ticket, pause and
	// undelivered answers move to the new id); else Sessions rotates.
	Rotator SessionRotator
	// WebChatBus, when set, carries web chat pushes to the replica that
	// holds the citizen's page (Postgres LISTEN/NOTIFY); nil on one process.
	WebChatBus Bus
}

// Bus carries small payloads to every replica of the service, this one
// included (store.WebChatBus).
type Bus interface {
	// Publish fails on a payload the bus cannot carry (too large).
	Publish(ctx context.Context, payload []byte) error
	// Subscribe returns the payloads received from now on (at most buf
	// waiting) and the function that ends the subscription.
	Subscribe(buf int) (<-chan []byte, func())
}

// SessionRotator rotates a cookie session's id (see SessionKeeper).
type SessionRotator interface {
	RotateSession(ctx context.Context, channel, id string) (newID, ticket string, err error)
}

// Receipts records a delivery report of an outbox message.
type Receipts interface {
	RecordDelivery(ctx context.Context, id int64, status string) (bool, error)
}

// Built is what a channel adds to the running service.
type Built struct {
	Channel Channel
	Senders []notify.Sender               // outbox senders it provides
	Runners []func(context.Context) error // background work (polling, token refresh)
}

// Spec is one channel of the binary: its settings (bound to its own
// configuration), whether they enable it, and how to build it.
type Spec interface {
	Name() string
	Settings() []config.Setting
	// Validate checks settings that depend on each other.
	Validate() error
	// Enabled reports whether the settings turn the channel on.
	Enabled() bool
	Build(ctx context.Context, d Deps) (Built, error)
}

// SenderSpec is a Spec whose outbox sender also works outside serve (the
// change alerts of `dvcbot sync` go out by SMS).
type SenderSpec interface {
	Senders(d Deps) []notify.Sender
}
