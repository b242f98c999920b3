package store

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"
)

type optOutRow struct {
	bun.BaseModel `bun:"table:sms_optouts,alias:so"`

	Phone     string    `bun:"phone,pk"`
	CreatedAt time.Time `bun:"created_at"`
}

// SMSOptOuts returns the opt-out repository.
func (db *DB) SMSOptOuts() OptOutStore { return OptOutStore{db} }

// OptOutStore remembers phones that refused proactive SMS.
type OptOutStore struct{ db *DB }

// SetOptOut records (out) or clears a phone's opt-out.
func (s OptOutStore) SetOptOut(ctx context.Context, phone string, out bool) error {
	var err error
	if out {
		_, err = s.db.bun.NewInsert().Model(&optOutRow{Phone: phone, CreatedAt: s.db.utcNow()}).On("CONFLICT (phone) DO NOTHING").Exec(ctx)
	} else {
		_, err = s.db.bun.NewDelete().Model((*optOutRow)(nil)).Where("phone = ?", phone).Exec(ctx)
	}
	if err != nil {
		return fmt.Errorf("recording the opt-out of %s: %w", phone, err)
	}
	return nil
}

// OptedOut reports whether a phone refused proactive SMS.
func (s OptOutStore) OptedOut(ctx context.Context, phone string) (bool, error) {
	n, err := s.db.bun.NewSelect().Model((*optOutRow)(nil)).Where("phone = ?", phone).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("reading the opt-out of %s: %w", phone, err)
	}
	return n > 0, nil
}
