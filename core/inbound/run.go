package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
)

// Run answers async messages, sweeps claims a crash left behind, watches
// the database while it is away and replays the spool when it is back. It
// returns when ctx ends, after answering what is already queued (a bounded
// drain: what it leaves stays claimed for the sweeper of the next start).
func (p *Pipeline) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range p.workers {
		wg.Go(func() { p.work(ctx) })
	}
	wg.Go(func() { p.sweepLoop(ctx) })
	if p.spool != nil {
		wg.Go(func() { p.spoolLoop(ctx) })
	}
	wg.Wait()
	return nil
}

const drainTimeout = 10 * time.Second

func (p *Pipeline) work(ctx context.Context) {
	for {
		select {
		case j := <-p.queue:
			_ = p.answer(ctx, j.ch, j.in, j.claim, 1)
		case <-ctx.Done():
			deadline := time.Now().Add(drainTimeout)
			for time.Now().Before(deadline) {
				select {
				case j := <-p.queue:
					_ = p.answer(ctx, j.ch, j.in, j.claim, 1)
				default:
					return
				}
			}
			return
		}
	}
}

func (p *Pipeline) sweepLoop(ctx context.Context) {
	t := time.NewTicker(max(p.claimTimeout/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !p.down.Load() {
				p.Sweep(ctx)
			}
		}
	}
}

// Sweep finishes claims older than the claim timeout: a process died (or
// a database call failed) between recording a message and answering it.
// The reply is sent through the outbox, whatever the channel's mode; a
// later retry of the same id gets the stored reply. It returns how many it
// answered.
func (p *Pipeline) Sweep(ctx context.Context) int {
	n := 0
	for {
		cctx, cancel := context.WithTimeout(ctx, p.callTimeout)
		pending, err := p.store.Stale(cctx, p.now().Add(-p.claimTimeout), 50)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Error("listing unanswered inbound messages", "error", err)
			}
			return n
		}
		for _, pm := range pending {
			ch, ok := p.channel(pm.Inbound.Channel)
			if !ok {
				p.log.Warn("unanswered message of a channel that is not enabled", "channel", pm.Inbound.Channel, "id", pm.Inbound.MessageID)
				continue
			}
			p.log.Info("answering a message a crash left unanswered", "channel", ch.Name, "id", pm.Inbound.MessageID)
			if p.answer(ctx, ch, pm.Inbound, Claim{}, pm.Attempts) == nil {
				n++
				p.messages.WithLabelValues(ch.Name, "swept").Inc()
			}
		}
		if len(pending) < 50 {
			return n
		}
	}
}

// spooled is one spool record: a message to handle, or the reply of a
// message handled while the database went away.
type spooled struct {
	In     message.Inbound  `json:"in"`
	Raw    json.RawMessage  `json:"raw,omitempty"`
	Reply  *message.Reply   `json:"reply,omitempty"` // set: only record it
	Secret bool             `json:"secret,omitempty"`
	Out    []notify.Message `json:"out,omitempty"`
}

func (p *Pipeline) toSpool(ctx context.Context, ch Channel, in message.Inbound, raw []byte) Result {
	rec := spooled{In: in}
	if json.Valid(raw) {
		rec.Raw = raw
	}
	data, err := json.Marshal(rec)
	if err == nil {
		err = p.spool.Append(ctx, KeyOf(in).String(), data)
	}
	if err != nil {
		p.spoolErr.WithLabelValues("error").Inc()
		p.log.Error("spooling an inbound message failed: the platform must retry", "channel", ch.Name, "id", in.MessageID, "error", err)
		return Result{Outcome: Failed}
	}
	p.spoolErr.WithLabelValues("ok").Inc()
	return Result{Outcome: Spooled, Reply: p.busy(ch)}
}

// busy is what a sync channel answers when the real reply follows later.
func (p *Pipeline) busy(ch Channel) message.Reply {
	if ch.Mode != Sync {
		return message.Reply{}
	}
	return Render(message.Reply{Text: p.tr.T(i18n.Default, "spooled_"+ch.Name)}, ch.Caps)
}

func (p *Pipeline) spoolCompletion(ctx context.Context, in message.Inbound, reply message.Reply, out []notify.Message) {
	if p.spool == nil {
		return // the sweeper answers it again; the outbox dedupe key stops a second send
	}
	r := reply
	data, err := json.Marshal(spooled{In: in, Reply: &r, Secret: reply.Secret, Out: out})
	if err == nil {
		err = p.spool.Append(ctx, KeyOf(in).String(), data)
	}
	if err != nil {
		p.log.Error("spooling a reply record failed", "id", in.MessageID, "error", err)
		return
	}
	p.markDown()
}

func (p *Pipeline) markDown() {
	if p.spool != nil && !p.down.Swap(true) {
		p.log.Error("database unreachable: inbound messages go to the disk spool until it is back")
	}
}

// spoolLoop watches the database while it is away and replays the spool.
func (p *Pipeline) spoolLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if p.down.Load() {
			cctx, cancel := context.WithTimeout(ctx, p.callTimeout)
			err := p.ping.Ping(cctx)
			cancel()
			if err != nil {
				continue
			}
			p.log.Info("database reachable again: replaying the spool")
			p.down.Store(false)
		}
		if n, _ := p.spool.Len(); n > 0 {
			p.ReplaySpool(ctx)
		}
	}
}

// ReplaySpool hands spooled records to the pipeline in order. It stops at
// the first record the database refuses (the rest waits for the next
// round). Records are at-least-once: the dedupe claim makes a second
// replay of a handled message a no-op, and the outbox dedupe key stops a
// second send.
func (p *Pipeline) ReplaySpool(ctx context.Context) (int, error) {
	p.replayMu.Lock()
	defer p.replayMu.Unlock()
	n, err := p.spool.Replay(ctx, func(ctx context.Context, key string, data []byte) error {
		var rec spooled
		if err := json.Unmarshal(data, &rec); err != nil {
			p.log.Error("unreadable spool record skipped", "key", key, "error", err)
			return nil
		}
		return p.replayOne(ctx, rec)
	})
	if err != nil && ctx.Err() == nil {
		p.log.Warn("spool replay stopped; it resumes when the database answers", "replayed", n, "error", err)
		p.markDown()
	}
	return n, err
}

func (p *Pipeline) replayOne(ctx context.Context, rec spooled) error {
	in := rec.In
	if rec.Reply != nil {
		cctx, cancel := context.WithTimeout(ctx, p.callTimeout)
		defer cancel()
		return p.store.Complete(cctx, KeyOf(in), *rec.Reply, rec.Secret, rec.Out, nil)
	}
	ch, ok := p.channel(in.Channel)
	if !ok {
		p.log.Error("spooled message of a channel that is not enabled: kept out of the way", "channel", in.Channel, "id", in.MessageID)
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, p.callTimeout)
	c, err := p.store.Claim(cctx, in, rec.Raw, p.claimTimeout, p.prefetchFor(in))
	cancel()
	if err != nil {
		return err
	}
	if !c.New {
		return nil // handled already (an earlier replay, or the platform's retry)
	}
	switch err := p.answer(ctx, ch, in, c, 1); {
	case errors.Is(err, errDeferred):
		return nil // claimed: the sweeper answers it
	case err != nil:
		return errors.Join(errUnavailable, err)
	}
	p.messages.WithLabelValues(ch.Name, "replayed").Inc()
	return nil
}
