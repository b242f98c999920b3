package session

import "context"

// Turn carries one message's session through the inbound pipeline: it is
// loaded in the same database round trip that claims the message and saved
// in the one that records the reply, so a look-up costs two round trips for
// the session and the dedupe record instead of four. A store's Session and
// SaveSession use the turn of their context for its own (channel, user).
type Turn struct {
	Loaded Session  // as stored when the message was claimed (Version 0: none)
	Saved  *Session // what the bot saved; nil when it saved nothing
	// Lookups are the dossier look-ups of this message, written to the
	// audit log with the reply (so the log has exactly the answered ones).
	Lookups []Lookup
}

// Lookup is a dossier look-up and the disclosure tier shown.
type Lookup struct {
	Dossier string
	Tier    int
}

type turnKey struct{}

// WithTurn returns ctx carrying t.
func WithTurn(ctx context.Context, t *Turn) context.Context {
	return context.WithValue(ctx, turnKey{}, t)
}

// TurnFor returns the turn of ctx when it is (channel, user)'s.
func TurnFor(ctx context.Context, channel, user string) *Turn {
	t, _ := ctx.Value(turnKey{}).(*Turn)
	if t == nil || t.Loaded.Channel != channel || t.Loaded.UserID != user {
		return nil
	}
	return t
}

// WithoutTurn returns ctx without a turn (a retry after a conflict reads
// and writes the database directly).
func WithoutTurn(ctx context.Context) context.Context {
	return context.WithValue(ctx, turnKey{}, (*Turn)(nil))
}
