package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/credential"
)

type credentialRow struct {
	bun.BaseModel `bun:"table:channel_credentials,alias:cc"`

	Name         string     `bun:"name,pk"`
	AccessToken  string     `bun:"access_token"`
	RefreshToken string     `bun:"refresh_token"`
	ExpiresAt    *time.Time `bun:"expires_at"`
	Version      int        `bun:"version"`
	UpdatedAt    time.Time  `bun:"updated_at"`
}

func (r credentialRow) credential() credential.Credential {
	c := credential.Credential{AccessToken: r.AccessToken, RefreshToken: r.RefreshToken, Version: r.Version}
	if r.ExpiresAt != nil {
		c.ExpiresAt = r.ExpiresAt.UTC()
	}
	return c
}

// Credentials returns the credential repository.
func (db *DB) Credentials() credential.Store { return credentialStore{db} }

type credentialStore struct{ db *DB }

func (s credentialStore) Credential(ctx context.Context, name string) (credential.Credential, bool, error) {
	var row credentialRow
	err := s.db.bun.NewSelect().Model(&row).Where("name = ?", name).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return credential.Credential{}, false, nil
	}
	if err != nil {
		return credential.Credential{}, false, fmt.Errorf("loading credential %s: %w", name, err)
	}
	return row.credential(), true, nil
}

// UpdateCredential locks the row (FOR UPDATE on Postgres; SQLite's immediate
// transaction locks the database) for the whole of fn, so a rotation that
// calls out to a platform happens once even when replicas race.
func (s credentialStore) UpdateCredential(ctx context.Context, name string, fn func(credential.Credential, bool) (credential.Credential, bool, error)) (credential.Credential, error) {
	var out credential.Credential
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row credentialRow
		q := tx.NewSelect().Model(&row).Where("name = ?", name)
		if s.db.dialect == Postgres {
			q = q.For("UPDATE")
		}
		err := q.Scan(ctx)
		found := err == nil
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("locking credential %s: %w", name, err)
		}
		if !found && s.db.dialect == Postgres {
			// Nothing to lock yet: take a transaction-scoped advisory lock on the name.
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(hashtext(?))", "credential:"+name); err != nil {
				return err
			}
			if err := tx.NewSelect().Model(&row).Where("name = ?", name).Scan(ctx); err == nil {
				found = true
			}
		}
		cur := row.credential()
		next, changed, err := fn(cur, found)
		if err != nil {
			return err
		}
		if !changed {
			out = cur
			return nil
		}
		next.Version = cur.Version + 1
		exp := next.ExpiresAt.UTC()
		nr := credentialRow{Name: name, AccessToken: next.AccessToken, RefreshToken: next.RefreshToken, ExpiresAt: &exp,
			Version: next.Version, UpdatedAt: s.db.utcNow()}
		if _, err := tx.NewInsert().Model(&nr).On("CONFLICT (name) DO UPDATE").Exec(ctx); err != nil {
			return fmt.Errorf("storing credential %s: %w", name, err)
		}
		out = next
		return nil
	})
	return out, err
}
