// Package inbound is the one path every inbound message takes, whatever the
// channel: claim (dedupe by channel, platform id and sender), route (citizen
// bot, officer bot, channel keywords), handle, render for the channel,
// record the reply, deliver, count and log. Channels only translate their
// wire format into a message.Inbound and write the platform's answer.
//
// Two modes share the code. Sync: the reply goes back in the platform's
// answer (Kannel's HTTP body, the generic gateway's JSON, a web-chat frame).
// Async: the message is recorded, the platform gets its 200 at once, and the
// reply leaves through the outbox (Zalo, Telegram). Whatever cannot be
// answered at once — a database outage (the message waits in a disk spool),
// a crash between claim and reply (a sweeper finishes the claim) — is
// answered later through the outbox, never twice.
package inbound

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/session"
)

// Mode says how a channel returns replies.
type Mode int

const (
	// Sync channels return the reply in the platform's answer.
	Sync Mode = iota
	// Async channels acknowledge at once and send the reply through the
	// outbox.
	Async
)

// Channel is what the pipeline needs to know of a transport.
type Channel struct {
	Name string
	Mode Mode
	Caps message.Capabilities
	// OutboxKind is the outbox sender that delivers this channel's replies
	// when they are sent rather than returned ("" when none exists: such a
	// reply is stored for the platform's retry only).
	OutboxKind string
}

// Key identifies a message for dedupe: a gateway id alone is not unique
// (gateways reuse ids, and one configured with %i numbers per connection).
type Key struct {
	Channel, MessageID, Sender string
}

func (k Key) String() string { return k.Channel + "/" + k.MessageID + "/" + k.Sender }

// KeyOf is the dedupe key of in.
func KeyOf(in message.Inbound) Key {
	return Key{Channel: in.Channel, MessageID: in.MessageID, Sender: in.UserID}
}

// Claim is what recording a message found.
type Claim struct {
	// New: first sight, or a stale claim taken over: handle it.
	New bool
	// Reply is the stored reply of a message already handled.
	Reply *message.Reply
	// Sent: that reply went out through the outbox (the sweeper, a spool
	// replay), so a retry must not get it a second time in its answer.
	Sent bool
	// InFlight: another worker is handling it now.
	InFlight bool
	// Reused: the same platform id was seen from another sender.
	Reused bool
	// Session is the sender's session, read in the same round trip (nil
	// when the store does not), handed to the bot through a session.Turn.
	Session *session.Session
	// Attach, when set, adds to a handler's context what the store read
	// ahead with the claim (the dossier the message names).
	Attach func(context.Context) context.Context
}

// Pending is a claim left unanswered.
type Pending struct {
	Inbound  message.Inbound
	Raw      json.RawMessage
	Attempts int // handlings so far, this one included
}

// Store records inbound messages and their replies.
type Store interface {
	// Claim records in (with its raw payload) under KeyOf(in), or reports
	// what is known of it. A "processing" claim older than staleAfter is
	// taken over. prefetch names a dossier the message asks about ("" for
	// none), which the store may read in the same round trip.
	Claim(ctx context.Context, in message.Inbound, raw []byte, staleAfter time.Duration, prefetch string) (Claim, error)
	// Complete stores the reply of a claimed message and queues out, in one
	// transaction: the message is done only once its reply is queued.
	// secret: the text is not kept in clear. turn, when set, carries the
	// sender's session as the bot left it, written in the same round trip
	// if the stored one is still the version it was loaded at (else
	// session.ErrConflict and nothing is written), and the message's
	// dossier look-ups for the audit log.
	Complete(ctx context.Context, k Key, reply message.Reply, secret bool, out []notify.Message, turn *session.Turn) error
	// Stale lists claims still processing since before olderThan and takes
	// each over (so two sweepers never handle one claim).
	Stale(ctx context.Context, olderThan time.Time, limit int) ([]Pending, error)
}

// FieldError names an inbound field that cannot be used.
type FieldError struct{ Field, Problem string }

func (e *FieldError) Error() string { return e.Field + ": " + e.Problem }

// Validate checks the identifiers of in: ids with NUL or invalid UTF-8 are
// refused (a channel answers 400 naming the field); texts are cleaned.
func Validate(in *message.Inbound) error {
	for _, f := range []struct{ name, v string }{
		{"message_id", in.MessageID}, {"user_id", in.UserID}, {"reply_to", in.ReplyTo},
	} {
		if !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0) {
			return &FieldError{Field: f.name, Problem: "contains a NUL byte or invalid UTF-8"}
		}
		if len(f.v) > 256 {
			return &FieldError{Field: f.name, Problem: "longer than 256 bytes"}
		}
	}
	if in.UserID == "" {
		return &FieldError{Field: "user_id", Problem: "is required"}
	}
	in.Text = CleanText(in.Text)
	return nil
}

// CleanText drops NUL and other C0 controls (but newlines and tabs) and
// replaces invalid UTF-8: a database would refuse them, and no citizen
// typed them.
func CleanText(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexFunc(s, isBadControl) < 0 {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isBadControl(r) {
			return -1
		}
		return r
	}, s)
}

func isBadControl(r rune) bool {
	return (r < 0x20 && r != '\n' && r != '\t' && r != '\r') || r == 0x7f
}

// errUnavailable marks a store failure that means "the database cannot be
// used now": the message goes to the spool.
var errUnavailable = errors.New("database unavailable")
