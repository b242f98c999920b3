package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/lookup"
)

// lookupLinkRow maps a look-up token to its dossier; a dossier may have
// several (one per secret it was linked under).
type lookupLinkRow struct {
	bun.BaseModel `bun:"table:lookup_links,alias:ll"`

	Token     string    `bun:"token,pk"`
	Code      string    `bun:"dossier_code"`
	CreatedAt time.Time `bun:"created_at"`
}

// lookupSecretRow is the generated HMAC secret of the look-up links, used
// while DVCBOT_LINK_SECRET is not set (one row, id 1).
type lookupSecretRow struct {
	bun.BaseModel `bun:"table:lookup_secret,alias:ls"`

	ID        int       `bun:"id,pk"`
	Secret    string    `bun:"secret"` // hex
	CreatedAt time.Time `bun:"created_at"`
}

// Lookup returns the look-up link repository.
func (db *DB) Lookup() lookup.Store { return lookupStore{db} }

type lookupStore struct{ db *DB }

func (s lookupStore) SaveLink(ctx context.Context, token, code string) error {
	row := lookupLinkRow{Token: token, Code: code, CreatedAt: s.db.utcNow()}
	res, err := s.db.bun.NewInsert().Model(&row).On("CONFLICT (token) DO NOTHING").Exec(ctx)
	if err != nil {
		return fmt.Errorf("saving a look-up link: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		return nil
	}
	have, err := s.LinkCode(ctx, token)
	if err != nil {
		return err
	}
	if have != code {
		return fmt.Errorf("look-up token %s already names another dossier", token)
	}
	return nil
}

func (s lookupStore) LinkCode(ctx context.Context, token string) (string, error) {
	var row lookupLinkRow
	err := s.db.bun.NewSelect().Model(&row).Where("token = ?", token).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return "", lookup.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("reading a look-up link: %w", err)
	}
	return row.Code, nil
}

func (s lookupStore) LinkSecret(ctx context.Context, fresh []byte) ([]byte, error) {
	row := lookupSecretRow{ID: 1, Secret: hex.EncodeToString(fresh), CreatedAt: s.db.utcNow()}
	if _, err := s.db.bun.NewInsert().Model(&row).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
		return nil, fmt.Errorf("storing the look-up link secret: %w", err)
	}
	var have lookupSecretRow
	if err := s.db.bun.NewSelect().Model(&have).Where("id = 1").Scan(ctx); err != nil {
		return nil, fmt.Errorf("reading the look-up link secret: %w", err)
	}
	secret, err := hex.DecodeString(have.Secret)
	if err != nil {
		return nil, fmt.Errorf("the stored look-up link secret is not hex: %w", err)
	}
	return secret, nil
}
