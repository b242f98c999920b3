package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// Many messages claimed and completed at once (on Postgres they share
// batched statements): each distinct message is claimed once, a retry of
// one never handles it twice, an id reused by another phone is that
// phone's own message, two completions of one session from the same
// version make one win and one conflict, and every completed look-up is
// in the audit log once.
func TestConcurrentClaimsAndCompletions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		st := db.Inbound()
		const distinct = 48
		type msg struct {
			in   message.Inbound
			kind string // "one", "retry" (sent twice), "reused" (same id, other phone)
		}
		var msgs []msg
		for i := range distinct {
			in := message.Inbound{Channel: "sms", UserID: fmt.Sprintf("8491%07d", i), MessageID: fmt.Sprintf("hp-%d", i),
				Text: "DVC 000.00.20.H17-261102-0004", Time: time.Now()}
			switch {
			case i%6 == 1:
				msgs = append(msgs, msg{in, "retry"}, msg{in, "retry"})
			case i%6 == 2:
				other := in
				other.UserID = fmt.Sprintf("8492%07d", i)
				msgs = append(msgs, msg{in, "reused"}, msg{other, "reused"})
			default:
				msgs = append(msgs, msg{in, "one"})
			}
		}
		claims := make([]inbound.Claim, len(msgs))
		var wg sync.WaitGroup
		errs := make(chan error, len(msgs))
		for i, m := range msgs {
			wg.Go(func() {
				c, err := st.Claim(ctx, m.in, nil, time.Minute, "000.00.20.H17-261102-0004")
				if err != nil {
					errs <- err
				}
				claims[i] = c
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("claim: %v", err)
		}
		newPerKey := map[inbound.Key]int{}
		for i, m := range msgs {
			c := claims[i]
			if c.New {
				newPerKey[inbound.KeyOf(m.in)]++
			} else if !c.InFlight {
				t.Errorf("%s %s: neither new nor in flight: %+v", m.kind, inbound.KeyOf(m.in), c)
			}
			if c.Reply != nil {
				t.Errorf("%s %s: a reply before any completion", m.kind, inbound.KeyOf(m.in))
			}
		}
		// the distinct messages and the other phone of each reused id
		if want := distinct + distinct/6; len(newPerKey) != want {
			t.Errorf("%d keys claimed as new, want %d", len(newPerKey), want)
		}
		for k, n := range newPerKey {
			if n != 1 {
				t.Errorf("%s claimed as new %d times", k, n)
			}
		}

		// Complete every new claim with its session (version 0 → 1) and a
		// look-up; two extra completions race for one sender's session.
		var mu sync.Mutex
		conflicts := 0
		done := map[inbound.Key]bool{}
		for i, m := range msgs {
			if !claims[i].New {
				continue
			}
			k := inbound.KeyOf(m.in)
			if done[k] {
				continue
			}
			done[k] = true
			wg.Go(func() {
				saved := *claims[i].Session
				saved.Lang = "en"
				turn := &session.Turn{Loaded: *claims[i].Session, Saved: &saved,
					Lookups: []session.Lookup{{Dossier: "000.00.20.H17-261102-0004", Tier: 1}}}
				err := st.Complete(ctx, k, message.Reply{Text: "Ho so " + k.Sender}, false, nil, turn)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, session.ErrConflict):
					conflicts++
				case err != nil:
					t.Errorf("complete %s: %v", k, err)
				}
			})
		}
		wg.Wait()
		if conflicts != 0 {
			t.Errorf("%d conflicts among distinct senders, want 0", conflicts)
		}
		for k := range done {
			state, _, reply, err := st.InboundState(ctx, k)
			if err != nil || state != "done" || reply == nil || reply.Text != "Ho so "+k.Sender {
				t.Errorf("%s: state %q reply %+v err %v, want done with its own reply", k, state, reply, err)
			}
		}
		var audited int
		if err := db.Bun().NewSelect().Table("audit_log").ColumnExpr("count(*)").
			Where("action = 'dossier.lookup' AND dossier_code = ?", "000.00.20.H17-261102-0004").Scan(ctx, &audited); err != nil {
			t.Fatal(err)
		}
		if audited != len(done) {
			t.Errorf("%d look-ups audited, want %d", audited, len(done))
		}

		// One session, two completions from the same version at once.
		race := []message.Inbound{
			{Channel: "sms", UserID: "84930000001", MessageID: "race-1", Text: "a", Time: time.Now()},
			{Channel: "sms", UserID: "84930000001", MessageID: "race-2", Text: "b", Time: time.Now()},
		}
		var loaded [2]*session.Session
		for i, in := range race {
			c, err := st.Claim(ctx, in, nil, time.Minute, "")
			if err != nil || !c.New {
				t.Fatalf("claim %d: %+v %v", i, c, err)
			}
			loaded[i] = c.Session
		}
		results := make([]error, 2)
		for i, in := range race {
			wg.Go(func() {
				saved := *loaded[i]
				saved.RateCount = i + 1
				results[i] = st.Complete(ctx, inbound.KeyOf(in), message.Reply{Text: in.Text}, false, nil,
					&session.Turn{Loaded: *loaded[i], Saved: &saved})
			})
		}
		wg.Wait()
		won := 0
		for i, err := range results {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, session.ErrConflict):
				t.Errorf("race %d: %v", i, err)
			}
		}
		if won != 1 {
			t.Errorf("%d of 2 completions from one session version won, want 1 (%v)", won, results)
		}
	})
}
