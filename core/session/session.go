// Package session keeps per-user conversation state in the database so any
// replica can answer the next message: language, short-lived dialog state,
// and the per-user rate-limit window.
package session

import (
	"context"
	"encoding/json"
	"time"
)

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

// Store loads and saves sessions.
type Store interface {
	// Session returns the stored session, or a new one for (channel, user).
	Session(ctx context.Context, channel, userID string) (Session, error)
	// SaveSession stores s.
	SaveSession(ctx context.Context, s Session) error
}
