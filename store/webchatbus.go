package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// WebChatChannel is the Postgres NOTIFY channel of the web chat's
// cross-replica pushes.
const WebChatChannel = "dvcbot_webchat"

// MaxNotifyPayload is the largest NOTIFY payload Postgres takes (it must be
// shorter than 8000 bytes in the default configuration).
const MaxNotifyPayload = 7999

// ErrPayloadTooLarge: the payload does not fit a NOTIFY; the caller delivers
// it another way (or not at all).
var ErrPayloadTooLarge = errors.New("payload too large for a Postgres NOTIFY")

// WebChatBus carries the web chat's pushes between the replicas on one
// Postgres database: every replica LISTENs on one channel over a dedicated
// connection (not from the pool: a LISTEN belongs to its session) and
// publishes with pg_notify through the pool. Notifications sent while the
// listener reconnects are lost; the web chat's sender then times out and
// the outbox retries.
type WebChatBus struct {
	db      *DB
	cfg     *pgx.ConnConfig
	channel string
	log     *slog.Logger

	mu   sync.Mutex
	subs map[chan []byte]struct{}
	pid  uint32 // backend pid of the listening connection; 0 while not listening
}

// WebChatBusOption configures a WebChatBus.
type WebChatBusOption func(*WebChatBus)

// WithBusChannel listens and publishes on another NOTIFY channel (tests
// sharing one database).
func WithBusChannel(name string) WebChatBusOption {
	return func(b *WebChatBus) { b.channel = name }
}

// WithBusLogger sets the logger.
func WithBusLogger(l *slog.Logger) WebChatBusOption {
	return func(b *WebChatBus) { b.log = l }
}

// NewWebChatBus returns the bus of db, whose DVCBOT_DATABASE_URL is url, or
// nil on SQLite (one process: nothing to carry). It connects in Run.
func NewWebChatBus(db *DB, url string, opts ...WebChatBusOption) (*WebChatBus, error) {
	if db.Dialect() != Postgres {
		return nil, nil
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DVCBOT_DATABASE_URL: %w", err)
	}
	b := &WebChatBus{db: db, cfg: cfg, channel: WebChatChannel, log: slog.Default(), subs: map[chan []byte]struct{}{}}
	for _, o := range opts {
		o(b)
	}
	return b, nil
}

// Publish sends payload to every replica listening, this one included.
func (b *WebChatBus) Publish(ctx context.Context, payload []byte) error {
	if len(payload) > MaxNotifyPayload {
		return fmt.Errorf("%w (%d bytes)", ErrPayloadTooLarge, len(payload))
	}
	_, err := b.db.bun.DB.ExecContext(ctx, "SELECT pg_notify($1, $2)", b.channel, string(payload))
	if err != nil {
		return fmt.Errorf("publishing on %s: %w", b.channel, err)
	}
	return nil
}

// Subscribe returns the payloads received from now on, and the function
// that ends the subscription. A subscriber that falls behind by more than
// buf payloads loses the newer ones (logged).
func (b *WebChatBus) Subscribe(buf int) (<-chan []byte, func()) {
	ch := make(chan []byte, buf)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			delete(b.subs, ch)
			b.mu.Unlock()
		})
	}
}

// ListenerPID is the backend pid of the listening connection, 0 while it is
// not listening.
func (b *WebChatBus) ListenerPID() uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pid
}

func (b *WebChatBus) setPID(pid uint32) {
	b.mu.Lock()
	b.pid = pid
	b.mu.Unlock()
}

// Run listens until ctx ends, reconnecting with back-off (100 ms doubling to
// 10 s, with jitter) when the connection drops.
func (b *WebChatBus) Run(ctx context.Context) error {
	const minWait, maxWait = 100 * time.Millisecond, 10 * time.Second
	wait := minWait
	for {
		started := time.Now()
		err := b.listen(ctx)
		b.setPID(0)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(started) > time.Minute {
			wait = minWait // it listened a while: this is a new outage
		}
		d := wait/2 + rand.N(wait/2+1)
		b.log.Warn("web chat bus: listening connection lost, reconnecting", "channel", b.channel, "error", err, "retry_in", d)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
		wait = min(2*wait, maxWait)
	}
}

// listen connects, LISTENs and hands out notifications until an error.
func (b *WebChatBus) listen(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.ConnectConfig(cctx, b.cfg)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{b.channel}.Sanitize()); err != nil {
		return err
	}
	b.setPID(conn.PgConn().PID())
	b.log.Info("web chat bus listening", "channel", b.channel, "pid", conn.PgConn().PID())
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		b.deliver([]byte(n.Payload))
	}
}

func (b *WebChatBus) deliver(p []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- p:
		default:
			b.log.Warn("web chat bus: a subscriber is behind, payload dropped", "channel", b.channel)
		}
	}
}
