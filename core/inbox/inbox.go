// Package inbox makes inbound messages idempotent: gateways and platforms
// retry, and a repeated message id must get the same reply (or none), never a
// second action. Every message is recorded by (channel, platform id) before
// it is handled; asynchronous channels also find there what a crash left
// unanswered.
package inbox

import (
	"context"
	"encoding/json"
	"time"

	"github.com/dvcbot/dvcbot/core/message"
)

// Claim is what recording an inbound message found.
type Claim struct {
	// New: first sight (or a takeover of a stale attempt): handle it.
	New bool
	// Reply is the stored reply of a message already handled.
	Reply *message.Reply
	// InFlight: another worker is handling it right now.
	InFlight bool
}

// Store records inbound messages.
type Store interface {
	// ClaimInbound records in (with the raw payload) or reports what is known
	// of it. A "processing" record older than staleAfter is taken over.
	ClaimInbound(ctx context.Context, in message.Inbound, payload []byte, staleAfter time.Duration) (Claim, error)
	// CompleteInbound stores the reply of a handled message.
	CompleteInbound(ctx context.Context, channel, messageID string, reply message.Reply) error
	// PendingInbound lists messages of a channel still unanswered since
	// before olderThan (a crash between recording and replying).
	PendingInbound(ctx context.Context, channel string, olderThan time.Time, limit int) ([]Pending, error)
}

// Pending is an inbound message left unanswered.
type Pending struct {
	Inbound message.Inbound
	Payload json.RawMessage
}

// StaleAfter is how long a message may stay "processing" before another
// attempt takes it over.
const StaleAfter = 2 * time.Minute

// Outcome says how Process answered.
type Outcome int

const (
	Handled  Outcome = iota // handled now
	Replayed                // a repeat: the stored reply
	InFlight                // a repeat while the first is still being handled: no reply
)

// Process handles in exactly once per (channel, message id): the first time
// it calls handle and stores the reply; a repeat gets that reply back.
// Messages without an id are handled every time.
func Process(ctx context.Context, s Store, in message.Inbound, payload []byte, handle func() message.Reply) (message.Reply, Outcome, error) {
	if in.MessageID == "" {
		return handle(), Handled, nil
	}
	c, err := s.ClaimInbound(ctx, in, payload, StaleAfter)
	if err != nil {
		return message.Reply{}, Handled, err
	}
	switch {
	case c.Reply != nil:
		return *c.Reply, Replayed, nil
	case c.InFlight:
		return message.Reply{}, InFlight, nil
	}
	reply := handle()
	if err := s.CompleteInbound(ctx, in.Channel, in.MessageID, reply); err != nil {
		return reply, Handled, err
	}
	return reply, Handled, nil
}
