package store_test

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

var limits = session.Limits{PerDossier: 5, PerSource: 20, PerUser: 10, Window: 24 * time.Hour}

const dossierCode = "000.00.20.H17-261102-0006"

// 30 concurrent wrong guesses at one dossier from 30 sessions: all 30 are
// recorded, exactly 5 are checked, the rest are refused as locked.
func TestConcurrentAttemptsCountEveryGuess(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ss := db.Sessions()
		at := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
		const n = 30
		checks := make([]session.Check, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				checks[i], errs[i] = ss.BeginAttempt(ctx, session.Attempt{Key: "k" + strconv.Itoa(i), Dossier: dossierCode,
					Channel: "webchat", UserID: "cookie-" + strconv.Itoa(i), Source: "198.51.100." + strconv.Itoa(i), At: at}, limits)
			}()
		}
		wg.Wait()
		allowed, locked := 0, 0
		lefts := map[int]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			switch checks[i].Verdict {
			case session.Allowed:
				allowed++
				lefts[checks[i].Left] = true
			case session.DossierLocked:
				locked++
			default:
				t.Fatalf("guess %d: verdict %v", i, checks[i].Verdict)
			}
		}
		if allowed != 5 || locked != 25 || len(lefts) != 5 || !lefts[0] || !lefts[4] {
			t.Fatalf("allowed %d (lefts %v), locked %d; want 5 (4,3,2,1,0) and 25", allowed, lefts, locked)
		}
		var rows, checked int
		if err := db.Bun().QueryRowContext(ctx, "SELECT count(*), sum(CASE WHEN checked THEN 1 ELSE 0 END) FROM verify_attempts WHERE dossier_code = ?", dossierCode).Scan(&rows, &checked); err != nil {
			t.Fatal(err)
		}
		if rows != n || checked != 5 {
			t.Fatalf("stored %d attempts, %d checked; want %d, 5", rows, checked, n)
		}
	})
}

// The limits per dossier, per source and per identity, the window, a
// success that does not count, and a retried message counted once.
func TestAttemptLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ss := db.Sessions()
		at := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
		seq := 0
		guess := func(dossier, channel, user, source string, when time.Time) session.Check {
			t.Helper()
			seq++
			c, err := ss.BeginAttempt(ctx, session.Attempt{Key: "g" + strconv.Itoa(seq), Dossier: dossier, Channel: channel,
				UserID: user, Source: source, At: when}, limits)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		locked := func(dossier, channel, user, source string, when time.Time) session.Verdict {
			t.Helper()
			v, err := ss.AttemptsLocked(ctx, session.Attempt{Dossier: dossier, Channel: channel, UserID: user, Source: source, At: when}, limits)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		// A retried message: the same key is one attempt with the same verdict.
		a := session.Attempt{Key: "retry", Dossier: "D-retry", Channel: "zalo", UserID: "z1", At: at}
		c1, _ := ss.BeginAttempt(ctx, a, limits)
		c2, _ := ss.BeginAttempt(ctx, a, limits)
		if c1 != (session.Check{Verdict: session.Allowed, Left: 4}) || c2 != c1 {
			t.Fatalf("retry: %+v then %+v", c1, c2)
		}
		// A right guess does not count against anyone.
		if err := ss.AttemptSucceeded(ctx, "retry"); err != nil {
			t.Fatal(err)
		}
		if c := guess("D-retry", "zalo", "z1", "", at); c != (session.Check{Verdict: session.Allowed, Left: 4}) {
			t.Fatalf("after a success: %+v", c)
		}

		// Per source: 20 failures over five dossiers from one address.
		for d := range 5 {
			for range 4 {
				guess("D-src-"+strconv.Itoa(d), "webchat", "cookie-"+strconv.Itoa(seq), "203.0.113.9", at)
			}
		}
		if v := locked("D-src-9", "webchat", "cookie-new", "203.0.113.9", at); v != session.SourceLocked {
			t.Fatalf("21st guess from one source: %v", v)
		}
		if v := locked("D-src-9", "webchat", "cookie-new", "203.0.113.10", at); v != session.Allowed {
			t.Fatalf("another source: %v", v)
		}
		// Per identity: 10 failures over five dossiers from one Zalo user.
		for d := range 5 {
			for range 2 {
				guess("D-user-"+strconv.Itoa(d), "zalo", "z-77", "", at)
			}
		}
		if v := locked("D-user-9", "zalo", "z-77", "", at); v != session.UserLocked {
			t.Fatalf("11th guess of one identity: %v", v)
		}
		if v := locked("D-user-9", "telegram", "z-77", "", at); v != session.Allowed {
			t.Fatalf("the same id on another channel: %v", v)
		}
		// Per dossier, and the 24-hour window.
		for i := range 5 {
			if c := guess("D-lock", "webchat", "c"+strconv.Itoa(i), "192.0.2."+strconv.Itoa(i), at); c.Verdict != session.Allowed || c.Left != 4-i {
				t.Fatalf("guess %d: %+v", i, c)
			}
		}
		if c := guess("D-lock", "sms", "84912000111", "", at.Add(time.Hour)); c.Verdict != session.DossierLocked {
			t.Fatalf("6th guess: %+v", c)
		}
		if v := locked("D-lock", "zalo", "other", "", at.Add(23*time.Hour)); v != session.DossierLocked {
			t.Fatalf("within 24 h of the fifth failure: %v", v)
		}
		if v := locked("D-lock", "zalo", "other", "", at.Add(25*time.Hour+time.Minute)); v != session.Allowed {
			t.Fatalf("after the window: %v", v)
		}
	})
}
