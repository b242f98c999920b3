package email_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/dvcbot/dvcbot/channels/email"
	"github.com/dvcbot/dvcbot/channels/email/emailtest"
	"github.com/dvcbot/dvcbot/core/notify"
)

func TestSend(t *testing.T) {
	srv := emailtest.Start(t)
	srv.Refuse["gone@danang.gov.vn"] = 550
	srv.Refuse["full@danang.gov.vn"] = 452
	u, err := email.ParseURL("smtp://" + srv.User + ":" + srv.Pass + "@" + srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	s := email.New(u, "dvcbot <alerts@dvc.example.gov.vn>", email.WithTLSConfig(srv.ClientTLS))
	ctx := context.Background()
	m := notify.Message{Kind: notify.Email, Recipient: "ttdvc@danang.gov.vn", DedupeKey: "sync-7-email-ttdvc@danang.gov.vn",
		Payload: notify.Payload{Subject: "[dvcbot] Đồng bộ TTHC: 1 mới", Text: "Thủ tục mới", HTML: "<p>Thủ tục mới</p>"}}
	ref, err := s.Send(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	got := srv.Messages()
	if len(got) != 1 || got[0].To[0] != "ttdvc@danang.gov.vn" || got[0].From != "alerts@dvc.example.gov.vn" {
		t.Fatalf("received %+v", got)
	}
	parsed, _ := got[0].Parsed()
	if id := parsed.Header.Get("Message-Id"); !strings.Contains(id, ref) || ref != s.MessageID(m.DedupeKey) {
		t.Fatalf("Message-ID %q, ref %q", id, ref)
	}
	// The same dedupe key always gives the same Message-ID: a resend is recognisable.
	if s.MessageID(m.DedupeKey) != s.MessageID("sync-7-email-ttdvc@danang.gov.vn") {
		t.Fatal("Message-ID is not stable")
	}
	m.Recipient = "gone@danang.gov.vn"
	if _, err := s.Send(ctx, m); err == nil || !notify.IsPermanent(err) {
		t.Fatalf("550: %v, want permanent", err)
	}
	m.Recipient = "full@danang.gov.vn"
	if _, err := s.Send(ctx, m); err == nil || notify.IsPermanent(err) {
		t.Fatalf("452: %v, want retryable", err)
	}
	bad, _ := email.ParseURL("smtp://" + srv.User + ":wrong@" + srv.Addr)
	m.Recipient = "ttdvc@danang.gov.vn"
	if _, err := email.New(bad, "alerts@dvc.example.gov.vn", email.WithTLSConfig(srv.ClientTLS)).Send(ctx, m); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	// The system roots do not trust the test certificate: STARTTLS is verified, never skipped.
	if _, err := email.New(u, "alerts@dvc.example.gov.vn").Send(ctx, m); err == nil {
		t.Fatal("an unverified certificate was accepted")
	}
}

// A server without STARTTLS gets nothing: TLS is mandatory on smtp://.
func TestNoPlaintextFallback(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("220 plain ESMTP\r\n"))
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			switch {
			case strings.HasPrefix(string(buf[:n]), "EHLO"):
				c.Write([]byte("250-plain\r\n250 AUTH PLAIN\r\n"))
			case strings.HasPrefix(string(buf[:n]), "QUIT"):
				c.Write([]byte("221 bye\r\n"))
				return
			default:
				c.Write([]byte("250 ok\r\n"))
			}
		}
	}()
	u, _ := email.ParseURL("smtp://a:b@" + l.Addr().String())
	s := email.New(u, "alerts@dvc.example.gov.vn", email.WithTLSConfig(&tls.Config{InsecureSkipVerify: true}))
	if _, err := s.Send(context.Background(), notify.Message{Recipient: "x@y.vn", DedupeKey: "k", Payload: notify.Payload{Text: "x"}}); err == nil {
		t.Fatal("sent over a server without STARTTLS")
	}
}
