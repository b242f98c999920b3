// Package session keeps per-user conversation state in the database so any
// replica can answer the next message: language, short-lived dialog state,
// the per-user rate-limit window, server-issued web-chat ids, and the
// verification attempts that are counted across sessions.
package session

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrConflict is returned by SaveSession when the stored session changed
// since it was loaded (another message of the same user was answered in
// between): the caller reloads and handles the message again.
var ErrConflict = errors.New("session changed concurrently")

// Session is one user's state on one channel.
type Session struct {
	Channel string
	UserID  string
	Lang    string // "" until the user picks one
	// State is the bot's dialog state (JSON), valid until StateExpiresAt.
	State           json.RawMessage
	StateExpiresAt  time.Time
	RateWindowStart time.Time
	RateCount       int
	// Version is the stored version this copy was loaded at (0: not stored
	// yet). SaveSession writes only over that version: compare-and-swap.
	Version int64
}

// Allow counts one message in the current one-minute window and reports
// whether it is within limit.
func (s *Session) Allow(now time.Time, limit int) bool {
	if now.Sub(s.RateWindowStart) >= time.Minute || now.Before(s.RateWindowStart) {
		s.RateWindowStart, s.RateCount = now, 0
	}
	s.RateCount++
	return s.RateCount <= limit
}

// LiveState returns State if it has not expired at now.
func (s *Session) LiveState(now time.Time) json.RawMessage {
	if len(s.State) == 0 || now.After(s.StateExpiresAt) {
		return nil
	}
	return s.State
}

// Store loads and saves sessions, issues web-chat ids and counts
// verification attempts. One interface, so a deployment cannot wire the bot
// without the attempt limits.
type Store interface {
	// Session returns the stored session, or a new one (Version 0) for
	// (channel, user).
	Session(ctx context.Context, channel, userID string) (Session, error)
	// SaveSession stores s if the stored version is still s.Version (or
	// nothing is stored and s.Version is 0); otherwise ErrConflict.
	SaveSession(ctx context.Context, s Session) error
	IDs
	Attempts
}

// IDs issues session ids for channels whose user id is a cookie: only an id
// the server issued is accepted, so a planted or made-up cookie value gets a
// fresh session instead of sharing someone else's.
type IDs interface {
	// IssueID stores an empty session under a new random id and returns it.
	IssueID(ctx context.Context, channel string) (string, error)
	// KnownID reports whether id was issued (and not rotated away).
	KnownID(ctx context.Context, channel, id string) (bool, error)
	// RotateID moves the session of id to a new id and returns it with a
	// one-time ticket (valid for TicketTTL) that the browser redeems for a
	// cookie of the new id; the old id is no longer known.
	RotateID(ctx context.Context, channel, id string, now time.Time) (newID, ticket string, err error)
	// RedeemTicket returns the id a ticket was issued for, once; "" when the
	// ticket is unknown, used or expired.
	RedeemTicket(ctx context.Context, channel, ticket string, now time.Time) (string, error)
}

// TicketTTL is how long a rotation ticket may be redeemed.
const TicketTTL = 2 * time.Minute

// Attempt is one guess at a dossier's verification digits.
type Attempt struct {
	// Key makes recording idempotent: the same message handled again (a
	// retried session save) does not count twice.
	Key     string
	Dossier string
	Channel string
	UserID  string
	Source  string // network source (web chat client IP); "" when unknown
	At      time.Time
}

// Limits are the most failed guesses allowed within Window, per dossier
// (across sessions, users and channels), per network source, and per
// channel identity.
type Limits struct {
	PerDossier, PerSource, PerUser int
	Window                         time.Duration
}

// Verdict says whether a guess may be checked.
type Verdict int

const (
	Allowed       Verdict = iota // check the guess
	DossierLocked                // too many failures on this dossier
	SourceLocked                 // too many failures from this network source
	UserLocked                   // too many failures from this channel identity
)

// Check is the outcome of recording an attempt.
type Check struct {
	Verdict Verdict
	// Left is how many more failures the tightest limit allows after this
	// attempt, if it fails.
	Left int
}

// Attempts counts verification guesses in the database, atomically: every
// guess is recorded as a failure before it is checked, so concurrent
// guesses cannot all slip under the limit.
type Attempts interface {
	// BeginAttempt records a as a failure and reports whether it may be
	// checked. Recording the same Key again returns the first verdict.
	BeginAttempt(ctx context.Context, a Attempt, l Limits) (Check, error)
	// AttemptSucceeded marks the attempt of key as right: it no longer counts.
	AttemptSucceeded(ctx context.Context, key string) error
	// AttemptsLocked reports whether a new guess for a would be refused.
	AttemptsLocked(ctx context.Context, a Attempt, l Limits) (Verdict, error)
}

// Judge applies the limits to failure counts within the window that
// include the attempt being judged; Left is what remains if it fails.
func (l Limits) Judge(dossier, source, user int, hasSource bool) Check {
	switch {
	case dossier > l.PerDossier:
		return Check{Verdict: DossierLocked}
	case hasSource && source > l.PerSource:
		return Check{Verdict: SourceLocked}
	case user > l.PerUser:
		return Check{Verdict: UserLocked}
	}
	left := min(l.PerDossier-dossier, l.PerUser-user)
	if hasSource {
		left = min(left, l.PerSource-source)
	}
	return Check{Verdict: Allowed, Left: left}
}
