package webchat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dvcbot/dvcbot/channels"
)

// Bus carries pushes between the replicas (store.WebChatBus on Postgres):
// the outbox worker that sends a message may run on a replica where the
// citizen's page is not connected.
type Bus = channels.Bus

// Defaults of the cross-replica push.
const (
	defaultBusWait = 2 * time.Second // how long Send waits for an acknowledgement
	busSeenFor     = time.Minute     // how long a request id is remembered (no second push)
	busBuffer      = 256             // payloads waiting for Run
)

// WithBus pushes, through b, a message for a session with no open page on
// this replica to the replicas that hold one; Run answers the other
// replicas' requests. Run must be running for either.
func WithBus(b Bus) Option {
	return func(c *Channel) { c.bus = b }
}

// WithBusWait sets how long Send waits for another replica's
// acknowledgement (2 s by default).
func WithBusWait(d time.Duration) Option { return func(c *Channel) { c.busWait = d } }

// busMsg is a request to push a frame to a session's pages, or the
// acknowledgement of a replica that pushed it to Delivered pages.
type busMsg struct {
	Type      string    `json:"type"` // busPush or busAck
	ID        string    `json:"id"`
	To        string    `json:"to,omitempty"`
	Frame     *outFrame `json:"frame,omitempty"`
	Delivered int       `json:"delivered,omitempty"`
}

const (
	busPush = "push"
	busAck  = "ack"
)

// busState is the channel's side of the bus: the subscription Run reads
// and the Sends waiting for an acknowledgement.
type busState struct {
	in      <-chan []byte
	stop    func()
	mu      sync.Mutex
	waiters map[string]chan int
}

func (c *Channel) startBus() {
	if c.bus == nil {
		return
	}
	if c.busWait <= 0 {
		c.busWait = defaultBusWait
	}
	in, stop := c.bus.Subscribe(busBuffer)
	c.bs = &busState{in: in, stop: stop, waiters: map[string]chan int{}}
}

// Run answers the other replicas' push requests for sessions with a page
// open here, and hands acknowledgements to the waiting Sends, until ctx
// ends. Without a bus it returns at once.
func (c *Channel) Run(ctx context.Context) error {
	if c.bs == nil {
		return nil
	}
	defer c.bs.stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	seen := map[string]time.Time{}
	prune := time.NewTicker(busSeenFor / 2)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-prune.C:
			for id, t := range seen {
				if now.Sub(t) > busSeenFor {
					delete(seen, id)
				}
			}
		case p := <-c.bs.in:
			var m busMsg
			if err := json.Unmarshal(p, &m); err != nil || m.ID == "" {
				c.log.Warn("web chat bus: unreadable message", "error", err)
				continue
			}
			switch m.Type {
			case busAck:
				c.bs.acked(m.ID, m.Delivered)
			case busPush:
				if _, dup := seen[m.ID]; dup || m.Frame == nil {
					continue
				}
				seen[m.ID] = time.Now()
				if len(c.hub.sessions(m.To)) == 0 {
					continue // not ours: another replica answers, or none
				}
				wg.Go(func() { c.answerPush(ctx, m) })
			}
		}
	}
}

// answerPush writes a requested frame to the pages open here and
// acknowledges it when at least one took it.
func (c *Channel) answerPush(ctx context.Context, m busMsg) {
	n := c.pushLocal(m.To, *m.Frame)
	if n == 0 {
		return
	}
	ack, _ := json.Marshal(busMsg{Type: busAck, ID: m.ID, Delivered: n})
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := c.bus.Publish(actx, ack); err != nil {
		c.log.Warn("web chat bus: acknowledging a push", "error", err)
	}
}

func (b *busState) acked(id string, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if w := b.waiters[id]; w != nil && n > 0 {
		select {
		case w <- n:
		default: // another replica acknowledged first
		}
	}
}

// pushRemote asks the other replicas to push f to user's pages and waits
// for the first acknowledgement: the number of pages that took it, 0 when
// none answered in time.
func (c *Channel) pushRemote(ctx context.Context, user string, f outFrame) (int, error) {
	if c.bs == nil {
		return 0, errors.New("no bus")
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	payload, err := json.Marshal(busMsg{Type: busPush, ID: id, To: user, Frame: &f})
	if err != nil {
		return 0, err
	}
	w := make(chan int, 1)
	c.bs.mu.Lock()
	c.bs.waiters[id] = w
	c.bs.mu.Unlock()
	defer func() {
		c.bs.mu.Lock()
		delete(c.bs.waiters, id)
		c.bs.mu.Unlock()
	}()
	wctx, cancel := context.WithTimeout(ctx, c.busWait)
	defer cancel()
	if err := c.bus.Publish(wctx, payload); err != nil {
		return 0, fmt.Errorf("publishing a push: %w", err)
	}
	select {
	case n := <-w:
		return n, nil
	case <-wctx.Done():
		return 0, nil
	}
}
