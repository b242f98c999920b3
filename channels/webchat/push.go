package webchat

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/dvcbot/dvcbot/core/notify"
)

// hub knows the open websockets of each session in this process, for
// replies that are sent rather than returned (a message answered after a
// database outage or a crash).
type hub struct {
	mu    sync.Mutex
	conns map[string]map[*wsSession]bool
}

func newHub() *hub { return &hub{conns: map[string]map[*wsSession]bool{}} }

func (h *hub) add(user string, s *wsSession) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[user] == nil {
		h.conns[user] = map[*wsSession]bool{}
	}
	h.conns[user][s] = true
}

func (h *hub) remove(user string, s *wsSession) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.conns[user], s)
	if len(h.conns[user]) == 0 {
		delete(h.conns, user)
	}
}

func (h *hub) sessions(user string) []*wsSession {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*wsSession, 0, len(h.conns[user]))
	for s := range h.conns[user] {
		out = append(out, s)
	}
	return out
}

// errNotConnected: the session has no open page here now (nor, with a
// bus, on a replica that answered in time); the outbox retries with
// back-off (the citizen may reconnect).
var errNotConnected = errors.New("web chat session not connected")

// Sender pushes outbox messages of kind "webchat" to the open pages of a
// session.
type Sender struct{ c *Channel }

// Sender returns the outbox sender of kind "webchat".
func (c *Channel) Sender() *Sender { return &Sender{c} }

// Kind is notify.WebChat.
func (s *Sender) Kind() string { return notify.WebChat }

// Send writes the message to every open page of the session in Recipient.
// When this replica holds none and a bus is set, the replicas that hold
// some push it and acknowledge; the first acknowledgement within the bus
// wait is a success.
func (s *Sender) Send(ctx context.Context, m notify.Message) (string, error) {
	f := outFrame{Text: m.Payload.Text, Choices: m.Payload.Choices}
	if s.c.pushLocal(m.Recipient, f) > 0 {
		return "", nil
	}
	if s.c.bs == nil {
		return "", errNotConnected
	}
	n, err := s.c.pushRemote(ctx, m.Recipient, f)
	if err != nil {
		// Not deliverable this way (too large for the bus, the database
		// away): as without a bus, the outbox retries.
		return "", fmt.Errorf("%w: %v", errNotConnected, err)
	}
	if n == 0 {
		return "", errNotConnected
	}
	return "", nil
}

// pushLocal writes f to user's pages open on this replica and returns how
// many took it.
func (c *Channel) pushLocal(user string, f outFrame) int {
	sent := 0
	for _, ws := range c.hub.sessions(user) {
		if ws.write(f) == nil {
			sent++
		}
	}
	return sent
}
