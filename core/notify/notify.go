// Package notify delivers what dvcbot sends on its own initiative (change
// alerts to officers, SMS to citizens) through an outbox: a table written in
// the same transaction as the change that causes the message, drained by
// workers that claim rows, send, record the result, retry with back-off and
// give up into a visible failed state. A unique dedupe key per message and
// recipient keeps a message from being queued twice.
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Kinds of outbox messages.
const (
	Email    = "email"
	SMS      = "sms"
	Telegram = "telegram"
)

// States of an outbox row.
const (
	Pending = "pending"
	Sending = "sending" // claimed by a worker until LockedUntil
	Sent    = "sent"
	Failed  = "failed" // gave up: visible, counted, logged
)

// Payload is what a sender needs; each kind uses its fields.
type Payload struct {
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`
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
}

// Outbox stores and hands out messages.
type Outbox interface {
	// Claim leases up to limit due messages of the given kinds to the caller
	// for lease (their attempt count goes up now: a crash still counts).
	Claim(ctx context.Context, kinds []string, limit int, lease time.Duration) ([]Message, error)
	// MarkSent records a delivery to the gateway.
	MarkSent(ctx context.Context, id int64, providerRef string) error
	// Retry puts a message back for a later attempt.
	Retry(ctx context.Context, id int64, lastErr string, next time.Time) error
	// Fail gives up on a message.
	Fail(ctx context.Context, id int64, lastErr string) error
	// RecordDelivery stores a delivery report (e.g. an SMS DLR) and reports
	// whether the message exists.
	RecordDelivery(ctx context.Context, id int64, status string) (bool, error)
}

// Sender delivers one kind of message. A returned error wrapped with
// Permanent is not retried.
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

// MarshalPayload encodes a payload for storage.
func MarshalPayload(p Payload) string {
	b, _ := json.Marshal(p)
	return string(b)
}
