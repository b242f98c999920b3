package handoff_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// While a ticket is open the citizen may still verify as a dossier's
// applicant (an officer may ask for it): XACMINH and the four digits the
// bot then asks for go to the bot, which asks the web chat to rotate the
// session; the digits never reach the ticket. Four digits the bot did not
// ask for are a message to the officer.
func TestVerifyingDuringATicket(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		r := newRig(t, db)
		ctx := context.Background()
		const dossier = "000.00.20.H17-261102-0006" // the applicant's phone ends in 3456

		if rep := r.say(message.WebChat, "w1", "gap can bo"); !strings.Contains(rep.Text, "phiếu #") {
			t.Fatalf("opening: %q", rep.Text)
		}
		if rep := r.say(message.WebChat, "w1", "2024"); rep.Text != "" {
			t.Fatalf("four digits nobody asked for were answered by the bot: %q", rep.Text)
		}
		if rep := r.say(message.WebChat, "w1", "XACMINH "+dossier); !strings.Contains(rep.Text, "4 số cuối") {
			t.Fatalf("XACMINH during the ticket: %q", rep.Text)
		}
		rep := r.say(message.WebChat, "w1", "3456")
		if !strings.Contains(rep.Text, "Đã xác minh") || !rep.RotateSession {
			t.Fatalf("the digits during the ticket: %+v", rep)
		}
		st, err := r.desk.Status(ctx, message.WebChat, "w1", "")
		if err != nil || st.Open == nil {
			t.Fatalf("the ticket after verifying: %+v %v", st, err)
		}
		conv, err := db.Tickets().Conversation(ctx, *st.Open)
		if err != nil {
			t.Fatal(err)
		}
		var texts []string
		for _, e := range conv {
			texts = append(texts, e.Text)
		}
		joined := strings.Join(texts, "|")
		if strings.Contains(joined, "3456") || !strings.Contains(joined, "2024") {
			t.Fatalf("the conversation: %v", texts)
		}

		// Asked before the ticket opened, answered after: the bot's answer too.
		r.say(message.WebChat, "w2", "XACMINH "+dossier)
		if rep := r.say(message.WebChat, "w2", "toi muon gap can bo"); !strings.Contains(rep.Text, "phiếu #") {
			t.Fatalf("opening: %q", rep.Text)
		}
		if rep := r.say(message.WebChat, "w2", "3456"); !strings.Contains(rep.Text, "Đã xác minh") {
			t.Fatalf("digits asked for before the ticket: %q", rep.Text)
		}
	})
}
