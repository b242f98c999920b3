package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

func TestWebChatBusSQLiteIsNil(t *testing.T) {
	db := storetest.SQLite(t)
	bus, err := store.NewWebChatBus(db, "unused")
	if err != nil || bus != nil {
		t.Fatalf("SQLite bus = %v, %v; want nil, nil", bus, err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func receive(t *testing.T, in <-chan []byte) string {
	t.Helper()
	select {
	case p := <-in:
		return string(p)
	case <-time.After(5 * time.Second):
		t.Fatal("no payload received")
		return ""
	}
}

// Two buses on one database: what either publishes both receive; a
// payload over the NOTIFY limit is refused; a killed listener reconnects.
func TestWebChatBusPostgres(t *testing.T) {
	url := storetest.PostgresSchemaURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	channel := "dvcbot_webchat_t_" + hex.EncodeToString(b)
	ctx, cancel := context.WithCancel(context.Background())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var buses []*store.WebChatBus
	var subs []<-chan []byte
	done := make(chan struct{}, 2)
	for range 2 {
		db, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		bus, err := store.NewWebChatBus(db, url, store.WithBusChannel(channel), store.WithBusLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		in, stop := bus.Subscribe(8)
		t.Cleanup(stop)
		go func() { _ = bus.Run(ctx); done <- struct{}{} }()
		buses, subs = append(buses, bus), append(subs, in)
	}
	t.Cleanup(func() { cancel(); <-done; <-done })
	for _, bus := range buses {
		waitFor(t, "listening", func() bool { return bus.ListenerPID() != 0 })
	}

	for _, tc := range []struct {
		name    string
		payload string
		wantErr error
	}{
		{"small", `{"hello":"xin chào"}`, nil},
		{"at the limit", strings.Repeat("a", store.MaxNotifyPayload), nil},
		{"over the limit", strings.Repeat("a", store.MaxNotifyPayload+1), store.ErrPayloadTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := buses[0].Publish(ctx, []byte(tc.payload))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Publish = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			for i, in := range subs {
				if got := receive(t, in); got != tc.payload {
					t.Fatalf("bus %d got %.40q", i, got)
				}
			}
		})
	}

	admin, err := store.Open(ctx, storetest.PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	old := buses[1].ListenerPID()
	if _, err := admin.Bun().ExecContext(ctx, "SELECT pg_terminate_backend(?)", old); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "listening again", func() bool { pid := buses[1].ListenerPID(); return pid != 0 && pid != old })
	if err := buses[0].Publish(ctx, []byte("again")); err != nil {
		t.Fatal(err)
	}
	for i, in := range subs {
		if got := receive(t, in); got != "again" {
			t.Fatalf("bus %d got %q after the reconnect", i, got)
		}
	}
}
