// Package officers holds the officers of the provincial centres who receive
// change alerts, and the one-time invites that link their Telegram chats.
package officers

import (
	"context"
	"errors"
	"time"
)

// ErrBadCode: the invite code is unknown, used or expired.
var ErrBadCode = errors.New("invite code unknown, used or expired")

// Officer is one officer of a centre.
type Officer struct {
	ID             int64
	Name, Email    string
	TelegramChatID int64
}

// Store keeps officers and their invites.
type Store interface {
	CreateInvite(ctx context.Context, name, email, code string, expires time.Time) (Officer, error)
	// LinkTelegram consumes a valid code and binds the chat (ErrBadCode otherwise).
	LinkTelegram(ctx context.Context, code string, chatID int64, now time.Time) (Officer, error)
	OfficerByTelegram(ctx context.Context, chatID int64) (Officer, bool, error)
}
