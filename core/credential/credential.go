// Package credential keeps rotating platform credentials (the Zalo OA token
// pair) in the database, where every replica sees the same current pair and
// only one at a time may rotate it.
package credential

import (
	"context"
	"time"
)

// Credential is an access token with the refresh token that renews it.
type Credential struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time
	Version      int // bumped by every stored change
}

// Store loads and rotates credentials by name.
type Store interface {
	// Credential returns the stored credential; found is false when none is.
	Credential(ctx context.Context, name string) (c Credential, found bool, err error)
	// UpdateCredential runs fn with the current credential while holding a
	// lock that other replicas' UpdateCredential calls wait on; when fn
	// reports a change, the returned credential is committed (Version + 1)
	// before UpdateCredential returns it.
	UpdateCredential(ctx context.Context, name string, fn func(cur Credential, found bool) (next Credential, changed bool, err error)) (Credential, error)
}
