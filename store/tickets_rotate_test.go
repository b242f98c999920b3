package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/ticket"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// A web chat session rotated by the ticket store is rotated as the session
// store rotates it (the old id unknown, the new one known, its ticket
// redeemable once, the state kept), and the citizen's hand-off moves with
// it in the same transaction: tickets, the pause, the tickets' undelivered
// messages; the conversation keeps what was said under the old id; an
// answer planned for the old id goes to the new one; the old id keeps
// nothing, and nothing moves when there is no session to rotate.
func TestRotateSessionMovesTheHandOff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ss, ts := db.Sessions(), db.Tickets()
		now := time.Now().UTC()
		old, err := ss.IssueID(ctx, message.WebChat)
		if err != nil {
			t.Fatal(err)
		}
		sess, _ := ss.Session(ctx, message.WebChat, old)
		sess.Lang = "en"
		if err := ss.SaveSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		say := func(user, id, text string) {
			t.Helper()
			in := message.Inbound{Channel: message.WebChat, UserID: user, MessageID: id, Text: text, Time: now}
			if _, err := db.Inbound().Claim(ctx, in, nil, time.Minute, ""); err != nil {
				t.Fatal(err)
			}
			if err := db.Inbound().Complete(ctx, inbound.KeyOf(in), message.Reply{}, false, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		open := func(user string) ticket.Ticket {
			t.Helper()
			tk, created, err := ts.Create(ctx, ticket.Ticket{Channel: message.WebChat, UserID: user, Lang: "en", Kind: ticket.Question,
				Subject: "a person please", OpenedAt: now, LastCitizenAt: now, LastActivity: now})
			if err != nil || !created {
				t.Fatalf("opening: %v %v", created, err)
			}
			return tk
		}
		answer := func(n int64, to, key string) {
			t.Helper()
			out := []notify.Message{{Kind: notify.WebChat, Recipient: to, Payload: notify.Payload{Text: "answer " + key},
				DedupeKey: "ticket|" + strconv.FormatInt(n, 10) + "|reply|" + key}}
			if _, err := ts.Answer(ctx, n, ticket.Entry{At: now, Author: ticket.ByOfficer, Name: "lan", Text: "answer " + key}, out, ""); err != nil {
				t.Fatal(err)
			}
		}
		recipient := func(key string) string {
			t.Helper()
			msgs, err := db.Outbox().Messages(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				if strings.HasSuffix(m.DedupeKey, "|"+key) || m.DedupeKey == key {
					return m.Recipient
				}
			}
			t.Fatalf("no outbox message %q", key)
			return ""
		}

		say(old, "m1", "I need a person")
		closed := open(old)
		if _, err := ts.CloseTicket(ctx, closed.Number, "citizen", now, nil); err != nil {
			t.Fatal(err)
		}
		tk := open(old)
		answer(tk.Number, old, "before")
		if _, err := db.Outbox().Enqueue(ctx, notify.Message{Kind: notify.WebChat, Recipient: old, DedupeKey: "reply:bot"}); err != nil {
			t.Fatal(err)
		}
		if err := ts.Pause(ctx, message.WebChat, old, now.Add(time.Hour), ticket.Entry{At: now, Author: ticket.ByOfficer, Text: "x"}); err != nil {
			t.Fatal(err)
		}
		other := open("someone-else")

		note := ticket.Entry{At: now.Add(time.Second), Author: ticket.BySystem, Name: message.WebChat, Text: ticket.RotatedNote}
		newID, redeem, moved, err := ts.RotateSession(ctx, message.WebChat, old, now, note)
		if err != nil || newID == "" || newID == old || redeem == "" || moved != 2 {
			t.Fatalf("RotateSession = %q, %q, %d, %v", newID, redeem, moved, err)
		}

		// The session, as the session store rotates it.
		if known, _ := ss.KnownID(ctx, message.WebChat, old); known {
			t.Fatal("the old id is still known")
		}
		if known, _ := ss.KnownID(ctx, message.WebChat, newID); !known {
			t.Fatal("the new id is not known")
		}
		if s, _ := ss.Session(ctx, message.WebChat, newID); s.Lang != "en" {
			t.Fatalf("the session's state did not move: %+v", s)
		}
		if id, err := ss.RedeemTicket(ctx, message.WebChat, redeem, now); err != nil || id != newID {
			t.Fatalf("redeeming: %q %v", id, err)
		}
		if id, _ := ss.RedeemTicket(ctx, message.WebChat, redeem, now); id != "" {
			t.Fatal("the ticket was redeemed twice")
		}

		// The hand-off, moved; the old id keeps nothing.
		st, err := ts.Status(ctx, message.WebChat, newID, "", now)
		if err != nil || st.Open == nil || st.Open.Number != tk.Number || st.PausedUntil.IsZero() {
			t.Fatalf("status of the new id: %+v %v", st, err)
		}
		if st, _ := ts.Status(ctx, message.WebChat, old, "", now); st.Open != nil || !st.PausedUntil.IsZero() || st.Unrated != nil {
			t.Fatalf("the old id still has %+v", st)
		}
		if got, _ := ts.Get(ctx, closed.Number); got.UserID != newID || got.State != ticket.Closed {
			t.Fatalf("the closed ticket: %+v", got)
		}
		if got, _ := ts.Get(ctx, other.Number); got.UserID != "someone-else" || got.Version != other.Version {
			t.Fatalf("another citizen's ticket changed: %+v", got)
		}
		if to := recipient("before"); to != newID {
			t.Fatalf("the undelivered answer goes to %q, want the new id", to)
		}
		if to := recipient("reply:bot"); to != old {
			t.Fatalf("a bot reply (not the hand-off's) was re-addressed to %q", to)
		}

		// An answer the desk planned from a read before the rotation.
		answer(tk.Number, old, "late")
		if to := recipient("late"); to != newID {
			t.Fatalf("an answer planned for the old id goes to %q", to)
		}

		// The conversation: what was said under the old id and under the
		// new, not what the old id says after the rotation.
		say(newID, "m2", "still there?")
		say(old, "m3", "a stranger under the old id")
		cur, _ := ts.Get(ctx, tk.Number)
		conv, err := ts.Conversation(ctx, cur)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range conv {
			if e.Text == old || e.Text == newID {
				t.Fatalf("the conversation shows a session id: %+v", e)
			}
			got = append(got, e.Author+":"+e.Text)
		}
		for _, want := range []string{"citizen:I need a person", "officer:answer before", "system:" + ticket.RotatedNote, "citizen:still there?"} {
			if !strings.Contains(strings.Join(got, "|"), want) {
				t.Fatalf("the conversation lacks %q: %v", want, got)
			}
		}
		if strings.Contains(strings.Join(got, "|"), "stranger") {
			t.Fatalf("the conversation shows what the old id said after the rotation: %v", got)
		}

		// Rotating again keeps the whole history.
		newer, _, moved, err := ts.RotateSession(ctx, message.WebChat, newID, now, note)
		if err != nil || moved != 2 {
			t.Fatalf("second rotation: %d %v", moved, err)
		}
		cur, _ = ts.Get(ctx, tk.Number)
		if cur.UserID != newer {
			t.Fatalf("after the second rotation: %+v", cur)
		}
		conv, _ = ts.Conversation(ctx, cur)
		n := 0
		for _, e := range conv {
			if e.Author == ticket.ByCitizen {
				n++
			}
		}
		if n != 2 {
			t.Fatalf("after two rotations the conversation has %d citizen messages, want 2: %+v", n, conv)
		}

		// Nothing to rotate (a used id, an id never issued): an error, and
		// nothing moves.
		if _, _, _, err := ts.RotateSession(ctx, message.WebChat, old, now, note); err == nil {
			t.Fatal("a rotated-away id rotated again")
		}
		ghost := open("never-issued")
		if _, _, _, err := ts.RotateSession(ctx, message.WebChat, "never-issued", now, note); err == nil {
			t.Fatal("an id without a session rotated")
		}
		if got, _ := ts.Get(ctx, ghost.Number); got.UserID != "never-issued" {
			t.Fatalf("a ticket moved without a rotation: %+v", got)
		}
	})
}
