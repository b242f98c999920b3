package email_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/channels/email"
	"github.com/dvcbot/dvcbot/channels/email/emailtest"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// A server that takes the message but answers the end of DATA after the
// client gave up: the send is ambiguous, the outbox retries it, and the
// second copy carries the same Message-ID, so the receiving side sees one
// message twice, recognisably.
func TestLateAnswerResendKeepsMessageID(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		srv := emailtest.Start(t)
		release := srv.AnswerLate()
		t.Cleanup(release)
		u, err := email.ParseURL("smtp://" + srv.User + ":" + srv.Pass + "@" + srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		s := email.New(u, "dvcbot <alerts@dvc.example.gov.vn>", email.WithTLSConfig(srv.ClientTLS), email.WithTimeout(300*time.Millisecond))
		ctx := context.Background()
		ob := db.Outbox()
		if _, err := ob.Enqueue(ctx, notify.Message{Kind: notify.Email, Recipient: "ttdvc@danang.gov.vn", DedupeKey: "sync-9-email",
			Payload: notify.Payload{Subject: "[dvcbot] 1 mới", Text: "Thủ tục mới"}}); err != nil {
			t.Fatal(err)
		}
		w := notify.NewWorker(ob, []notify.Sender{s}, notify.WithBackoff(0, 0),
			notify.WithWorkerLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if n, err := w.RunOnce(ctx); n != 1 || err != nil {
			t.Fatal(n, err)
		}
		rows, _ := ob.Messages(ctx, notify.Email)
		if rows[0].State != notify.Pending || rows[0].InFlightAt == nil || len(srv.Messages()) != 1 {
			t.Fatalf("after a late answer: %+v, %d received", rows[0], len(srv.Messages()))
		}
		release()
		if n, err := w.RunOnce(ctx); n != 1 || err != nil {
			t.Fatal(n, err)
		}
		rows, _ = ob.Messages(ctx, notify.Email)
		got := srv.Messages()
		if rows[0].State != notify.Sent || len(got) != 2 {
			t.Fatalf("row %s, %d received", rows[0].State, len(got))
		}
		var ids []string
		for _, m := range got {
			p, err := m.Parsed()
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, p.Header.Get("Message-Id"))
		}
		want := "<" + s.MessageID("sync-9-email") + ">"
		if ids[0] != want || ids[1] != want || rows[0].ProviderRef != s.MessageID("sync-9-email") {
			t.Fatalf("Message-IDs %q, want %q twice (ref %q)", ids, want, rows[0].ProviderRef)
		}
	})
}
