package ticket

import "context"

// The inbound claim may read, in its own round trip, whether the sender has
// anything to do with a ticket (one open, a Zalo pause, one closed and not
// rated yet). Most senders never do, and then the hand-off route needs no
// query of its own.

type quietKey struct{}

// WithNoActivity records that the sender has no ticket activity.
func WithNoActivity(ctx context.Context) context.Context {
	return context.WithValue(ctx, quietKey{}, true)
}

// NoActivity reports whether the claim found no ticket activity.
func NoActivity(ctx context.Context) bool {
	v, _ := ctx.Value(quietKey{}).(bool)
	return v
}
