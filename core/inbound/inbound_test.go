package inbound_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/console"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/store"
	"github.com/dvcbot/dvcbot/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// echoBot answers "<user>: <text>" and counts what it handled.
type echoBot struct {
	mu      sync.Mutex
	handled []string
	panicOn string
	failing atomic.Bool // the bot's own database calls fail
}

func (b *echoBot) Handle(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply {
	if b.panicOn != "" && in.Text == b.panicOn {
		panic("boom")
	}
	if b.failing.Load() {
		return message.Reply{Text: "Xin lỗi, hệ thống đang bận.", Failed: true}
	}
	b.mu.Lock()
	b.handled = append(b.handled, in.UserID+"|"+in.Text)
	b.mu.Unlock()
	return message.Reply{Text: in.UserID + ": " + in.Text, Choices: []message.Choice{{Label: "Help", Value: "HD"}}}
}

func (b *echoBot) Welcome(ctx context.Context, channel, user string, caps message.Capabilities) message.Reply {
	return message.Reply{Text: "welcome " + user}
}

func (b *echoBot) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.handled)
}

// flakyStore fails every call while down is set: the database is away.
type flakyStore struct {
	inbound.Store
	down atomic.Bool
}

var errDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (s *flakyStore) Claim(ctx context.Context, in message.Inbound, raw []byte, stale time.Duration, prefetch string) (inbound.Claim, error) {
	if s.down.Load() {
		return inbound.Claim{}, errDown
	}
	return s.Store.Claim(ctx, in, raw, stale, prefetch)
}

func (s *flakyStore) Complete(ctx context.Context, k inbound.Key, r message.Reply, secret bool, out []notify.Message, turn *session.Turn) error {
	if s.down.Load() {
		return errDown
	}
	return s.Store.Complete(ctx, k, r, secret, out, turn)
}

func (s *flakyStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return errDown
	}
	return nil
}

// memSpool is an in-memory spool (core/spool has its own tests on disk).
type memSpool struct {
	mu   sync.Mutex
	recs [][2]string
}

func (m *memSpool) Append(ctx context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, [2]string{key, string(data)})
	return nil
}

func (m *memSpool) Replay(ctx context.Context, fn func(ctx context.Context, key string, data []byte) error) (int, error) {
	n := 0
	for {
		m.mu.Lock()
		if len(m.recs) == 0 {
			m.mu.Unlock()
			return n, nil
		}
		r := m.recs[0]
		m.mu.Unlock()
		if err := fn(ctx, r[0], []byte(r[1])); err != nil {
			return n, err
		}
		m.mu.Lock()
		m.recs = m.recs[1:]
		m.mu.Unlock()
		n++
	}
}

func (m *memSpool) Len() (int, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.recs), 0
}

type fixture struct {
	db    *store.DB
	bot   *echoBot
	store *flakyStore
	spool *memSpool
	pipe  *inbound.Pipeline
	reg   *prometheus.Registry
	now   time.Time
}

func newFixture(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	tr, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{db: db, bot: &echoBot{}, store: &flakyStore{Store: db.Inbound()}, spool: &memSpool{}, reg: prometheus.NewRegistry(), now: time.Now()}
	f.pipe = inbound.New(f.store, f.bot, tr, inbound.WithLogger(quiet), inbound.WithMetrics(f.reg),
		inbound.WithSpool(f.spool, f.store), inbound.WithClaimTimeout(time.Minute),
		inbound.WithRoute(inbound.Route{Name: "stop", Match: func(_ context.Context, in message.Inbound) bool { return in.Text == "STOP" },
			Handle: func(context.Context, message.Inbound, message.Capabilities) message.Reply {
				return message.Reply{Text: "stopped"}
			}}))
	f.pipe.Register(inbound.Channel{Name: message.SMS, Mode: inbound.Sync, Caps: message.SMSCaps(2, false), OutboxKind: notify.SMS})
	f.pipe.Register(inbound.Channel{Name: message.Zalo, Mode: inbound.Async, Caps: message.RichCaps(), OutboxKind: notify.Zalo})
	return f
}

func sms(id, from, text string) message.Inbound {
	return message.Inbound{Channel: message.SMS, MessageID: id, UserID: from, Phone: from, Text: text}
}

func (f *fixture) outbox(t *testing.T, kind string) []notify.Message {
	t.Helper()
	m, err := f.db.Outbox().Messages(context.Background(), kind)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSyncDedupe(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t))
			ctx := context.Background()
			steps := []struct {
				in      message.Inbound
				outcome string
				reply   string
				handled int
			}{
				{sms("m1", "0905123456", "DVC 1"), inbound.Handled, "0905123456: DVC 1", 1},
				{sms("m1", "0905123456", "DVC 1"), inbound.Repeat, "0905123456: DVC 1", 1}, // the gateway retries
				// Another phone, same gateway id: a new message, never the first reply.
				{sms("m1", "0912000111", "HD"), inbound.Handled, "0912000111: HD", 2},
				{sms("m1", "0912000111", "HD"), inbound.Repeat, "0912000111: HD", 2},
				{sms("m2", "0905123456", "STOP"), inbound.Handled, "stopped", 2}, // a route, not the bot
				// NUL and invalid UTF-8 are cleaned before they reach the bot or the database.
				{sms("m3", "0905123456", "D\x00VC \xff9"), inbound.Handled, "0905123456: DVC ?9", 3},
			}
			for i, s := range steps {
				in := s.in
				if err := inbound.Validate(&in); err != nil {
					t.Fatal(err)
				}
				res := f.pipe.Receive(ctx, in, nil)
				if res.Outcome != s.outcome || res.Reply.Text != s.reply || f.bot.count() != s.handled {
					t.Fatalf("step %d: %s %q, bot handled %d; want %s %q, %d", i, res.Outcome, res.Reply.Text, f.bot.count(),
						s.outcome, s.reply, s.handled)
				}
				if len(res.Reply.Choices) != 0 {
					t.Fatalf("step %d: an SMS reply with buttons %+v", i, res.Reply.Choices)
				}
			}
			if got := f.metric("dvcbot_inbound_reused_ids_total"); got != 1 {
				t.Fatalf("reused ids counted %v, want 1", got)
			}
			if n := len(f.outbox(t, "")); n != 0 {
				t.Fatalf("sync replies went to the outbox: %d", n)
			}
		})
	}
}

// metric sums a counter over its labels.
func (f *fixture) metric(name string) float64 {
	mfs, _ := f.reg.Gather()
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

func TestValidateRefusesBadIDs(t *testing.T) {
	tests := []struct {
		in    message.Inbound
		field string
	}{
		{message.Inbound{UserID: "u", MessageID: "a\x00b"}, "message_id"},
		{message.Inbound{UserID: "u\xff", MessageID: "1"}, "user_id"},
		{message.Inbound{UserID: "", MessageID: "1"}, "user_id"},
		{message.Inbound{UserID: "u", MessageID: strings.Repeat("9", 300)}, "message_id"},
		{message.Inbound{UserID: "u", ReplyTo: "\x00"}, "reply_to"},
	}
	for _, tc := range tests {
		err := inbound.Validate(&tc.in)
		var fe *inbound.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want a field error on %s", tc.in, err, tc.field)
		}
	}
}

func TestAsyncRepliesGoThroughTheOutbox(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t))
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = f.pipe.Run(ctx); close(done) }()
			in := message.Inbound{Channel: message.Zalo, MessageID: "z1", UserID: "84912", Text: "HD"}
			for range 2 { // Zalo re-sends: recorded once
				if res := f.pipe.Receive(ctx, in, []byte(`{"event_name":"user_send_text"}`)); res.Outcome != inbound.Queued && res.Outcome != inbound.Repeat && res.Outcome != inbound.InFlight {
					t.Fatalf("outcome %s", res.Outcome)
				}
			}
			welcome := message.Inbound{Channel: message.Zalo, MessageID: "follow:84913", UserID: "84913", Event: message.EventWelcome}
			f.pipe.Receive(ctx, welcome, nil)
			var msgs []notify.Message
			eventually(t, func() bool { msgs = f.outbox(t, notify.Zalo); return len(msgs) == 2 })
			cancel()
			<-done
			byRecipient := map[string]notify.Message{}
			for _, m := range msgs {
				byRecipient[m.Recipient] = m
			}
			if m := byRecipient["84912"]; m.Payload.Text != "84912: HD" || len(m.Payload.Choices) != 1 || m.DedupeKey != "reply:zalo/z1/84912" {
				t.Fatalf("reply %+v", m)
			}
			if m := byRecipient["84913"]; m.Payload.Text != "welcome 84913" {
				t.Fatalf("welcome %+v", m)
			}
			if f.bot.count() != 1 {
				t.Fatalf("bot handled %d, want 1", f.bot.count())
			}
		})
	}
}

func eventually(t *testing.T, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatal("condition not reached in 10 s")
		}
	}
}

// A process died between recording an MO and answering it: the sweeper
// answers through the outbox, and a later gateway retry gets that answer
// without a second handling.
func TestSweeperFinishesAbandonedClaims(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			f := newFixture(t, db)
			ctx := context.Background()
			in := sms("k1", "0905123456", "DVC 7")
			if _, err := db.Inbound().Claim(ctx, in, nil, time.Minute, ""); err != nil { // the crashed process's claim
				t.Fatal(err)
			}
			if res := f.pipe.Receive(ctx, in, nil); res.Outcome != inbound.InFlight {
				t.Fatalf("a retry while the claim is fresh: %s", res.Outcome)
			}
			if n := f.pipe.Sweep(ctx); n != 0 {
				t.Fatalf("swept a fresh claim: %d", n)
			}
			db.SetClock(func() time.Time { return time.Now().Add(2 * time.Minute) })
			f2 := newFixture(t, db) // another replica, later
			f2.pipe = inbound.New(db.Inbound(), f2.bot, mustTr(t), inbound.WithLogger(quiet),
				inbound.WithClock(func() time.Time { return time.Now().Add(2 * time.Minute) }))
			f2.pipe.Register(inbound.Channel{Name: message.SMS, Mode: inbound.Sync, Caps: message.SMSCaps(2, false), OutboxKind: notify.SMS})
			if n := f2.pipe.Sweep(ctx); n != 1 {
				t.Fatalf("swept %d, want 1", n)
			}
			if n := f2.pipe.Sweep(ctx); n != 0 {
				t.Fatalf("swept again: %d", n)
			}
			msgs := f.outbox(t, notify.SMS)
			if len(msgs) != 1 || msgs[0].Recipient != "0905123456" || msgs[0].Payload.Text != "0905123456: DVC 7" {
				t.Fatalf("outbox %+v", msgs)
			}
			// The answer went out by MT: a late gateway retry gets an empty
			// body (omit-empty), not a second SMS, and no second handling.
			res := f2.pipe.Receive(ctx, in, nil)
			if res.Outcome != inbound.Repeat || res.Reply.Text != "" || f2.bot.count() != 1 {
				t.Fatalf("late retry: %s %q, handled %d", res.Outcome, res.Reply.Text, f2.bot.count())
			}
		})
	}
}

func mustTr(t *testing.T) *i18n.Catalog {
	tr, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// The database is away: MOs are spooled and acknowledged with a short
// accent-free line; when it is back each is handled once and answered by
// an MT, and a second replay sends nothing more.
func TestSpoolDuringOutage(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixture(t, b.Open(t))
			ctx := context.Background()
			f.store.down.Store(true)
			for i := range 5 {
				res := f.pipe.Receive(ctx, sms(fmt.Sprint("o", i), "0905123456", fmt.Sprint("DVC ", i)), nil)
				if res.Outcome != inbound.Spooled || !strings.Contains(res.Reply.Text, "SMS") || strings.ContainsAny(res.Reply.Text, "ăâđêôơư") {
					t.Fatalf("during the outage: %s %q", res.Outcome, res.Reply.Text)
				}
			}
			// A gateway retry of a spooled MO is spooled too: the replay dedupes.
			f.pipe.Receive(ctx, sms("o0", "0905123456", "DVC 0"), nil)
			if !f.pipe.Degraded() || f.bot.count() != 0 {
				t.Fatalf("degraded %v, handled %d", f.pipe.Degraded(), f.bot.count())
			}
			if _, err := f.pipe.ReplaySpool(ctx); err == nil {
				t.Fatal("replay succeeded while the database is away")
			}
			f.store.down.Store(false)
			n, err := f.pipe.ReplaySpool(ctx)
			if err != nil || n != 6 {
				t.Fatalf("replayed %d (%v), want 6", n, err)
			}
			msgs := f.outbox(t, notify.SMS)
			if len(msgs) != 5 || f.bot.count() != 5 {
				t.Fatalf("%d MTs, %d handled; want 5 and 5", len(msgs), f.bot.count())
			}
			for i, m := range msgs {
				if m.Payload.Text != fmt.Sprintf("0905123456: DVC %d", i) {
					t.Fatalf("MT %d out of order: %q", i, m.Payload.Text)
				}
			}
			if n, _ := f.pipe.ReplaySpool(ctx); n != 0 {
				t.Fatalf("second replay handed over %d", n)
			}
		})
	}
}

// The database goes away after the claim: the citizen gets the reply now,
// its record is spooled, and the sweeper never answers it a second time.
func TestCompletionSpooledWhenTheDatabaseGoesAway(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	ctx := context.Background()
	var once sync.Once
	f.bot.panicOn = "" // the bot runs; the database dies while it does
	f.pipe = inbound.New(dieAfterClaim{f.store, &once}, f.bot, mustTr(t), inbound.WithLogger(quiet), inbound.WithSpool(f.spool, f.store))
	f.pipe.Register(inbound.Channel{Name: message.SMS, Mode: inbound.Sync, Caps: message.SMSCaps(2, false), OutboxKind: notify.SMS})
	res := f.pipe.Receive(ctx, sms("c1", "0905123456", "DVC 1"), nil)
	if res.Outcome != inbound.Handled || res.Reply.Text != "0905123456: DVC 1" {
		t.Fatalf("%s %q", res.Outcome, res.Reply.Text)
	}
	if n, _ := f.spool.Len(); n != 1 {
		t.Fatalf("%d spool records, want the completion", n)
	}
	f.store.down.Store(false)
	if n, err := f.pipe.ReplaySpool(ctx); n != 1 || err != nil {
		t.Fatalf("replay %d %v", n, err)
	}
	state, _, reply, err := f.db.Inbound().InboundState(ctx, inbound.Key{Channel: "sms", MessageID: "c1", Sender: "0905123456"})
	if err != nil || state != "done" || reply == nil || reply.Text != "0905123456: DVC 1" {
		t.Fatalf("state %q reply %+v (%v)", state, reply, err)
	}
	if n := len(f.outbox(t, notify.SMS)); n != 0 {
		t.Fatalf("%d MTs: the reply went out in the body already", n)
	}
}

type dieAfterClaim struct {
	*flakyStore
	once *sync.Once
}

func (d dieAfterClaim) Claim(ctx context.Context, in message.Inbound, raw []byte, stale time.Duration, prefetch string) (inbound.Claim, error) {
	c, err := d.flakyStore.Claim(ctx, in, raw, stale, prefetch)
	d.once.Do(func() { d.down.Store(true) })
	return c, err
}

func TestPanicIsRecovered(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t))
	f.bot.panicOn = "crash"
	res := f.pipe.Receive(context.Background(), sms("p1", "0905123456", "crash"), nil)
	if res.Outcome != inbound.Handled || !strings.Contains(res.Reply.Text, "he thong dang ban") {
		t.Fatalf("%s %q", res.Outcome, res.Reply.Text)
	}
	if got := f.metric("dvcbot_inbound_panics_total"); got != 1 {
		t.Fatalf("panics counted %v", got)
	}
	// Recorded as answered: a redelivery does not panic again.
	if res := f.pipe.Receive(context.Background(), sms("p1", "0905123456", "crash"), nil); res.Outcome != inbound.Repeat {
		t.Fatalf("redelivery %s", res.Outcome)
	}
}

// The bot's look-up fails (the database went away after the claim): the
// citizen is told the answer follows, nothing is recorded as the answer,
// and the sweeper sends the real answer once the bot can give it.
func TestFailedReplyIsRetriedBySweeper(t *testing.T) {
	db := storetest.SQLite(t)
	f := newFixture(t, db)
	ctx := context.Background()
	f.bot.failing.Store(true)
	res := f.pipe.Receive(ctx, sms("f1", "0905123456", "DVC 5"), nil)
	if res.Outcome != inbound.Deferred || !strings.Contains(res.Reply.Text, "qua SMS") {
		t.Fatalf("%s %q", res.Outcome, res.Reply.Text)
	}
	f.bot.failing.Store(false)
	later := func() time.Time { return time.Now().Add(2 * time.Minute) }
	sweeper := inbound.New(db.Inbound(), f.bot, mustTr(t), inbound.WithLogger(quiet), inbound.WithClock(later))
	sweeper.Register(inbound.Channel{Name: message.SMS, Mode: inbound.Sync, Caps: message.SMSCaps(2, false), OutboxKind: notify.SMS})
	if n := sweeper.Sweep(ctx); n != 1 {
		t.Fatalf("swept %d", n)
	}
	msgs := f.outbox(t, notify.SMS)
	if len(msgs) != 1 || msgs[0].Payload.Text != "0905123456: DVC 5" {
		t.Fatalf("outbox %+v", msgs)
	}
}

// countBot counts a user's messages in its session, the way the citizen
// bot keeps its rate window: read, change, save.
type countBot struct{ sessions session.Store }

func (b countBot) Handle(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply {
	for {
		s, err := b.sessions.Session(ctx, in.Channel, in.UserID)
		if err != nil {
			return message.Reply{Text: err.Error(), Failed: true}
		}
		s.RateCount++
		switch err := b.sessions.SaveSession(ctx, s); {
		case errors.Is(err, session.ErrConflict):
			continue // the bot's own retry when it writes directly
		case err != nil:
			return message.Reply{Text: err.Error(), Failed: true}
		}
		return message.Reply{Text: fmt.Sprint(s.RateCount)}
	}
}

func (b countBot) Welcome(context.Context, string, string, message.Capabilities) message.Reply {
	return message.Reply{}
}

// The session read with the claim and written with the reply stays
// exact under concurrency: 24 simultaneous messages of one user are all
// counted (a conflicting turn is answered again from the stored state).
func TestSessionTravelsWithTheClaim(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			p := inbound.New(db.Inbound(), countBot{db.Sessions()}, mustTr(t), inbound.WithLogger(quiet))
			p.Register(inbound.Channel{Name: message.SMS, Mode: inbound.Sync, Caps: message.SMSCaps(2, false), OutboxKind: notify.SMS})
			var wg sync.WaitGroup
			replies := make(chan string, 24)
			for i := range 24 {
				wg.Go(func() {
					res := p.Receive(context.Background(), sms(fmt.Sprint("c", i), "0905123456", "DVC"), nil)
					replies <- res.Reply.Text
				})
			}
			wg.Wait()
			close(replies)
			seen := map[string]bool{}
			for r := range replies {
				if seen[r] {
					t.Fatalf("two messages got count %s", r)
				}
				seen[r] = true
			}
			s, err := db.Sessions().Session(context.Background(), message.SMS, "0905123456")
			if err != nil || s.RateCount != 24 {
				t.Fatalf("count %d (%v), want 24", s.RateCount, err)
			}
		})
	}
}

// lookupBot records a look-up the way the citizen bot does.
type lookupBot struct {
	audit interface {
		Record(ctx context.Context, channel, user, dossier string, tier int) error
	}
	sessions session.Store
}

func (b lookupBot) Handle(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply {
	s, _ := b.sessions.Session(ctx, in.Channel, in.UserID)
	s.RateCount++
	_ = b.sessions.SaveSession(ctx, s)
	if err := b.audit.Record(ctx, in.Channel, in.UserID, in.Text, 0); err != nil {
		return message.Reply{Text: err.Error(), Failed: true}
	}
	return message.Reply{Text: "ok " + in.Text}
}

func (b lookupBot) Welcome(context.Context, string, string, message.Capabilities) message.Reply {
	return message.Reply{}
}

// A look-up is written to the audit log with the reply: once per answered
// message, none for a retry, whatever the backend's statement shape.
func TestLookupsAreAuditedWithTheReply(t *testing.T) {
	for _, b := range storetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			db := b.Open(t)
			ctx := context.Background()
			p := inbound.New(db.Inbound(), lookupBot{db.LookupAudit(), db.Sessions()}, mustTr(t), inbound.WithLogger(quiet))
			p.Register(inbound.Channel{Name: message.SMS, Mode: inbound.Sync, Caps: message.SMSCaps(2, false), OutboxKind: notify.SMS})
			for _, m := range []message.Inbound{sms("a1", "0905123456", "000.00.20.H17-261102-0004"),
				sms("a1", "0905123456", "000.00.20.H17-261102-0004"), sms("a2", "0912000111", "000.00.20.H17-261102-0005")} {
				if res := p.Receive(ctx, m, nil); !strings.HasPrefix(res.Reply.Text, "ok ") {
					t.Fatalf("reply %q", res.Reply.Text)
				}
			}
			entries, err := db.Console().Audit(ctx, console.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				if e.Action == "dossier.lookup" {
					got = append(got, e.Dossier+"/"+e.Channel)
				}
			}
			want := []string{"000.00.20.H17-261102-0005/sms", "000.00.20.H17-261102-0004/sms"} // newest first
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("audited %v, want %v", got, want)
			}
		})
	}
}
