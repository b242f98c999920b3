// Package notify delivers what dvcbot sends on its own initiative (change
// alerts to officers, SMS to citizens) through an outbox: a table written in
// the same transaction as the change that causes the message, drained by
// workers that claim rows, send, record the result, retry with back-off and
// give up into a visible failed state. A unique dedupe key per message and
// recipient keeps a message from being queued twice.
//
// A worker records a result only while it holds the row's lease (renewed
// while a slow send runs), so a worker whose lease ended never overwrites
// another's. A send that may have left (the worker died during it, or the
// gateway answered after the client's timeout) is not repeated blindly: the
// row stays in flight for its kind's wait (the SMS DLR wait), and a delivery
// report arriving meanwhile completes it.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/dvcbot/dvcbot/core/message"
)

// Kinds of outbox messages.
const (
	Email    = "email"
	SMS      = "sms"
	Telegram = "telegram"
	Zalo     = "zalo"
	WebChat  = "webchat"
)

// States of an outbox row.
const (
	Pending = "pending"
	// Sending: leased by a worker (Message.Lease) until its lease ends. Once
	// the worker began the send (InFlightAt is set) the message may have
	// left: after a crash it is sent again only when its kind's in-flight
	// wait (the SMS DLR wait) passed without a delivery report.
	Sending = "sending"
	Sent    = "sent"
	Failed  = "failed" // gave up: visible, counted, logged
)

// Delivery statuses (SMS delivery reports). They only move forward:
// accepted → queued → a final one (delivered, undelivered, rejected); a
// later lower or second final report is kept in the history only.
const (
	Accepted    = "accepted"    // Kannel 8: the SMSC took it
	Queued      = "queued"      // Kannel 4: buffered, delivery pending
	Delivered   = "delivered"   // Kannel 1
	Undelivered = "undelivered" // Kannel 2
	Rejected    = "rejected"    // Kannel 16: the SMSC refused it
)

// DeliveryRank orders delivery statuses: a report replaces the row's status
// only when its rank is higher. Final statuses share the top rank, so the
// first final report wins; unknown statuses rank 0 (history only).
func DeliveryRank(status string) int {
	switch status {
	case Accepted:
		return 1
	case Queued:
		return 2
	case Delivered, Undelivered, Rejected:
		return 3
	}
	return 0
}

// Payload is what a sender needs; each kind uses its fields.
type Payload struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
	// Choices are buttons on channels that show them (replies on Zalo,
	// Telegram, the web chat).
	Choices []message.Choice `json:"choices,omitempty"`
}

// Message is one outbox row.
type Message struct {
	ID             int64
	Kind           string
	Recipient      string
	Payload        Payload
	DedupeKey      string
	State          string
	Attempts       int
	NextAttemptAt  time.Time
	LastError      string
	ProviderRef    string
	DeliveryStatus string
	CreatedAt      time.Time
	SentAt         *time.Time
	// Lease identifies the claim that handed this message out: a worker
	// records a result only while the row still carries its lease.
	Lease string
	// InFlightAt is when a send of this message last began and may have
	// left; nil when no attempt may have left. A claimed message with it
	// set was abandoned in flight (a crash) and its wait passed unanswered.
	InFlightAt *time.Time
}

// Receipt is one delivery report as it arrived, applied or not.
type Receipt struct {
	Status string
	// Applied: it moved the row's status forward; a late lower report or a
	// second final one is kept here only.
	Applied    bool
	ReceivedAt time.Time
}

// Outbox stores and hands out messages. Every result is recorded only while
// the caller still holds the message's lease (Message.Lease): false means the
// lease was lost (another worker claimed the row, or a delivery report
// completed it) and nothing was changed.
type Outbox interface {
	// Claim leases up to limit due messages of the given kinds to the caller
	// for lease (their attempt count goes up now: a crash still counts).
	// A leased row whose lease ended is due again once its NextAttemptAt
	// passed: at once if its send never began, after the in-flight wait
	// given to Begin/Extend if it did.
	Claim(ctx context.Context, kinds []string, limit int, lease time.Duration) ([]Message, error)
	// Begin marks a leased message in flight (its send starts now) and
	// renews the lease; should the worker die, the row is due again only
	// wait after the lease ends.
	Begin(ctx context.Context, m Message, lease, wait time.Duration) (bool, error)
	// Extend renews the lease of a message being sent (the heartbeat of a
	// slow send).
	Extend(ctx context.Context, m Message, lease, wait time.Duration) (bool, error)
	// MarkSent records a delivery to the gateway.
	MarkSent(ctx context.Context, m Message, providerRef string) (bool, error)
	// Retry puts a message back for an attempt at next. mayHaveLeft keeps
	// it marked in flight (an ambiguous failure): a delivery report that
	// arrives meanwhile completes it.
	Retry(ctx context.Context, m Message, lastErr string, next time.Time, mayHaveLeft bool) (bool, error)
	// Fail gives up on a message; mayHaveLeft as for Retry (a delivery
	// report that still arrives marks it sent).
	Fail(ctx context.Context, m Message, lastErr string, mayHaveLeft bool) (bool, error)
	// Release hands back a message whose send never began (shutdown); the
	// attempt is not counted.
	Release(ctx context.Context, m Message) (bool, error)
	// RecordDelivery stores a delivery report (e.g. an SMS DLR) in the
	// message's history and reports whether the message exists. The row's
	// status only moves forward (DeliveryRank); a report for a message not
	// yet recorded as sent (in flight, retried, given up) proves it left and
	// marks it sent.
	RecordDelivery(ctx context.Context, id int64, status string) (bool, error)
}

// Sender delivers one kind of message. A returned error wrapped with
// Permanent is not retried; one wrapped with RetryAfter is not retried
// before its wait; one wrapped with Ambiguous (the message may have left)
// is retried only after its kind's in-flight wait, during which a delivery
// report completes it.
type Sender interface {
	Kind() string
	Send(ctx context.Context, m Message) (providerRef string, err error)
}

// PermanentError marks a failure no retry can fix (bad address, opt-out).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as permanent.
func Permanent(err error) error { return &PermanentError{Err: err} }

// IsPermanent reports whether err is permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterError asks for the next attempt no earlier than After (Telegram's
// retry_after, Zalo's rate limits).
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err with the wait the platform asked for.
func RetryAfter(err error, after time.Duration) error {
	return &RetryAfterError{Err: err, After: after}
}

// AmbiguousError marks a failure after which the message may still have
// left (a gateway that answered too late): resending blindly could send it
// twice.
type AmbiguousError struct{ Err error }

func (e *AmbiguousError) Error() string { return e.Err.Error() }
func (e *AmbiguousError) Unwrap() error { return e.Err }

// Ambiguous wraps err as "may have been sent".
func Ambiguous(err error) error { return &AmbiguousError{Err: err} }

// IsAmbiguous reports whether err says the message may have left.
func IsAmbiguous(err error) bool {
	var a *AmbiguousError
	return errors.As(err, &a)
}

// RetryAfterOf is the wait err asks for (0 when none).
func RetryAfterOf(err error) time.Duration {
	var r *RetryAfterError
	if errors.As(err, &r) && r.After > 0 {
		return r.After
	}
	return 0
}

// MarshalPayload encodes a payload for storage.
func MarshalPayload(p Payload) string {
	b, _ := json.Marshal(p)
	return string(b)
}
