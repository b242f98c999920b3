package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/officers"
)

type officerRow struct {
	bun.BaseModel `bun:"table:officers,alias:of"`

	ID              int64      `bun:"id,pk,autoincrement"`
	Name            string     `bun:"name"`
	Email           string     `bun:"email"`
	InviteCode      *string    `bun:"invite_code"`
	InviteExpiresAt *time.Time `bun:"invite_expires_at"`
	TelegramChatID  *int64     `bun:"telegram_chat_id"`
	CreatedAt       time.Time  `bun:"created_at"`
	LinkedAt        *time.Time `bun:"linked_at"`
	Agency          string     `bun:"agency"` // the console's agency scope
}

func (r officerRow) officer() officers.Officer {
	o := officers.Officer{ID: r.ID, Name: r.Name, Email: r.Email}
	if r.TelegramChatID != nil {
		o.TelegramChatID = *r.TelegramChatID
	}
	return o
}

// Officers returns the officer repository.
func (db *DB) Officers() officers.Store { return officerStore{db} }

type officerStore struct{ db *DB }

func (s officerStore) CreateInvite(ctx context.Context, name, email, code string, expires time.Time) (officers.Officer, error) {
	exp := expires.UTC()
	row := officerRow{Name: name, Email: email, InviteCode: &code, InviteExpiresAt: &exp, CreatedAt: s.db.utcNow()}
	if _, err := s.db.bun.NewInsert().Model(&row).Exec(ctx); err != nil {
		return officers.Officer{}, fmt.Errorf("creating the invite of %s: %w", name, err)
	}
	return row.officer(), nil
}

// LinkTelegram consumes the code in the same statement that binds the chat,
// so a code links at most one chat even when two use it at once.
func (s officerStore) LinkTelegram(ctx context.Context, code string, chatID int64, now time.Time) (officers.Officer, error) {
	var out officers.Officer
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// A chat belongs to one officer: a new link moves it.
		if _, err := tx.NewUpdate().Model((*officerRow)(nil)).Set("telegram_chat_id = NULL").
			Where("telegram_chat_id = ?", chatID).Exec(ctx); err != nil {
			return err
		}
		var rows []officerRow
		err := tx.NewRaw(`UPDATE officers SET telegram_chat_id = ?, invite_code = NULL, invite_expires_at = NULL, linked_at = ?
			WHERE invite_code = ? AND invite_expires_at > ? RETURNING *`, chatID, now.UTC(), code, now.UTC()).Scan(ctx, &rows)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("linking a chat: %w", err)
		}
		if len(rows) == 0 {
			return officers.ErrBadCode
		}
		out = rows[0].officer()
		return nil
	})
	return out, err
}

func (s officerStore) OfficerByTelegram(ctx context.Context, chatID int64) (officers.Officer, bool, error) {
	var row officerRow
	err := s.db.bun.NewSelect().Model(&row).Where("telegram_chat_id = ?", chatID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return officers.Officer{}, false, nil
	}
	if err != nil {
		return officers.Officer{}, false, fmt.Errorf("finding the officer of chat %d: %w", chatID, err)
	}
	return row.officer(), true, nil
}

// linkedOfficerChats lists the Telegram chats of linked officers.
func (db *DB) linkedOfficerChats(ctx context.Context) ([]string, error) {
	var rows []officerRow
	if err := db.bun.NewSelect().Model(&rows).Where("telegram_chat_id IS NOT NULL").OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing officers: %w", err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = strconv.FormatInt(*r.TelegramChatID, 10)
	}
	return out, nil
}
