package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// SaveSession is a compare-and-swap: a copy loaded before another save is
// refused, and a load-change-save loop that retries on conflict counts
// every one of many concurrent changes.
func TestSessionCompareAndSwap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ss := db.Sessions()
		fresh, err := ss.Session(ctx, "webchat", "u1")
		if err != nil || fresh.Version != 0 {
			t.Fatalf("new session %+v, %v", fresh, err)
		}
		a, b := fresh, fresh
		a.Lang, b.Lang = "en", "vi"
		if err := ss.SaveSession(ctx, a); err != nil {
			t.Fatalf("first insert: %v", err)
		}
		if err := ss.SaveSession(ctx, b); !errors.Is(err, session.ErrConflict) {
			t.Fatalf("second insert from the same version: %v, want ErrConflict", err)
		}
		cur, _ := ss.Session(ctx, "webchat", "u1")
		if cur.Lang != "en" || cur.Version != 1 {
			t.Fatalf("after the first save: %+v", cur)
		}
		stale := cur
		cur.RateCount = 5
		if err := ss.SaveSession(ctx, cur); err != nil {
			t.Fatal(err)
		}
		if err := ss.SaveSession(ctx, stale); !errors.Is(err, session.ErrConflict) {
			t.Fatalf("update from a stale version: %v, want ErrConflict", err)
		}

		const n = 30
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					s, err := ss.Session(ctx, "sms", "84905123456")
					if err != nil {
						errs <- err
						return
					}
					s.RateCount++
					err = ss.SaveSession(ctx, s)
					if errors.Is(err, session.ErrConflict) {
						continue
					}
					if err != nil {
						errs <- err
					}
					return
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		got, _ := ss.Session(ctx, "sms", "84905123456")
		if got.RateCount != n || got.Version != n {
			t.Fatalf("after %d concurrent increments: count %d, version %d", n, got.RateCount, got.Version)
		}
	})
}

// Web-chat ids: only issued ids are known; rotation moves the session to a
// new id, forgets the old one, and its ticket is redeemed once, in time.
func TestSessionIDs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ss := db.Sessions()
		now := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
		id, err := ss.IssueID(ctx, "webchat")
		if err != nil || len(id) != 32 {
			t.Fatalf("IssueID = %q, %v", id, err)
		}
		for _, tc := range []struct {
			channel, id string
			want        bool
		}{
			{"webchat", id, true},
			{"webchat", "0123456789abcdef0123456789abcdef", false}, // well-formed, never issued
			{"zalo", id, false},
		} {
			if got, err := ss.KnownID(ctx, tc.channel, tc.id); err != nil || got != tc.want {
				t.Errorf("KnownID(%s, %s) = %v, %v; want %v", tc.channel, tc.id, got, err, tc.want)
			}
		}
		s, _ := ss.Session(ctx, "webchat", id)
		s.Lang, s.State, s.StateExpiresAt = "en", []byte(`{"v":["000.00.20.H17-261102-0006"]}`), now.Add(time.Hour)
		if err := ss.SaveSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		// What the citizen set up under the old id: a verification, a
		// notice subscription, a notice opt-out.
		for _, q := range []string{
			`INSERT INTO verify_attempts (attempt_key, dossier_code, channel, user_id, checked, verdict, failed, created_at)
				VALUES ('k1', '000.00.20.H17-261102-0006', 'webchat', ?, TRUE, 1, FALSE, ?)`,
			`INSERT INTO notice_subscriptions (channel, user_id, dossier_code, active, created_at, updated_at)
				VALUES ('webchat', ?, '000.00.20.H17-261102-0006', TRUE, ?, ?)`,
			`INSERT INTO notice_optouts (identity, created_at) VALUES ('webchat:' || ?, ?)`,
		} {
			args := []any{id, now}
			if strings.Count(q, "?") == 3 {
				args = append(args, now)
			}
			if _, err := db.Bun().NewRaw(q, args...).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		newID, ticket, err := ss.RotateID(ctx, "webchat", id, now)
		if err != nil || newID == id || len(newID) != 32 || ticket == "" {
			t.Fatalf("RotateID = %q, %q, %v", newID, ticket, err)
		}
		for _, c := range []struct{ q, user string }{
			{"SELECT count(*) FROM verify_attempts WHERE channel = 'webchat' AND user_id = ?", newID},
			{"SELECT count(*) FROM notice_subscriptions WHERE channel = 'webchat' AND user_id = ?", newID},
			{"SELECT count(*) FROM notice_optouts WHERE identity = 'webchat:' || ?", newID},
		} {
			for user, want := range map[string]int{c.user: 1, id: 0} {
				var n int
				if err := db.Bun().NewRaw(c.q, user).Scan(ctx, &n); err != nil || n != want {
					t.Errorf("%s [%s]: %d, %v; want %d (moved to the new id)", c.q, user, n, err, want)
				}
			}
		}
		if known, _ := ss.KnownID(ctx, "webchat", id); known {
			t.Fatal("the old id is still known after rotation")
		}
		moved, _ := ss.Session(ctx, "webchat", newID)
		var st struct{ V []string }
		if err := json.Unmarshal(moved.State, &st); err != nil || moved.Lang != "en" || len(st.V) != 1 || st.V[0] != "000.00.20.H17-261102-0006" {
			t.Fatalf("the state did not move to the new id: %+v", moved)
		}
		if old, _ := ss.Session(ctx, "webchat", id); old.Version != 0 || old.State != nil {
			t.Fatalf("the old id still has a session: %+v", old)
		}
		for _, tc := range []struct {
			name, ticket string
			at           time.Time
			want         string
		}{
			{"unknown ticket", "nope", now, ""},
			{"expired", ticket, now.Add(session.TicketTTL + time.Second), ""},
			{"in time", ticket, now.Add(time.Minute), newID},
			{"used", ticket, now.Add(time.Minute), ""},
		} {
			if got, err := ss.RedeemTicket(ctx, "webchat", tc.ticket, tc.at); err != nil || got != tc.want {
				t.Errorf("%s: RedeemTicket = %q, %v; want %q", tc.name, got, err, tc.want)
			}
		}
		if _, _, err := ss.RotateID(ctx, "webchat", id, now); err == nil {
			t.Fatal("rotating an unknown id succeeded")
		}
	})
}
