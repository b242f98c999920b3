package citizen

import (
	"context"
	"errors"

	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/session"
)

// The web chat's cookie is the user id; these let the channel accept only
// ids the server issued, rotate the id when the user verifies, and show the
// page in the session's language.

// IssueSession returns a new server-issued session id for channel.
func (b *Bot) IssueSession(ctx context.Context, channel string) (string, error) {
	return b.sessions.IssueID(ctx, channel)
}

// KnownSession reports whether id was issued for channel and is current.
func (b *Bot) KnownSession(ctx context.Context, channel, id string) (bool, error) {
	return b.sessions.KnownID(ctx, channel, id)
}

// RotateSession moves the session of id to a new id and returns it with a
// one-time ticket the browser redeems for the new cookie.
func (b *Bot) RotateSession(ctx context.Context, channel, id string) (newID, ticket string, err error) {
	return b.sessions.RotateID(ctx, channel, id, b.now().UTC())
}

// RedeemSessionTicket returns the session id a rotation ticket stands for,
// once; "" when it is unknown, used or expired.
func (b *Bot) RedeemSessionTicket(ctx context.Context, channel, ticket string) (string, error) {
	return b.sessions.RedeemTicket(ctx, channel, ticket, b.now().UTC())
}

// SessionLang returns the session's language, or the default.
func (b *Bot) SessionLang(ctx context.Context, channel, user string) string {
	if s, err := b.sessions.Session(ctx, channel, user); err == nil && i18n.Supported(s.Lang) {
		return s.Lang
	}
	return i18n.Default
}

// SetSessionLang stores a language chosen outside the dialog (the web
// page's ?lang=en), so the greeting and the replies follow it.
func (b *Bot) SetSessionLang(ctx context.Context, channel, user, lang string) error {
	if !i18n.Supported(lang) {
		return nil
	}
	for try := 1; ; try++ {
		s, err := b.sessions.Session(ctx, channel, user)
		if err != nil || s.Lang == lang {
			return err
		}
		s.Lang = lang
		err = b.sessions.SaveSession(ctx, s)
		if !errors.Is(err, session.ErrConflict) || try == maxSaveTries {
			return err
		}
	}
}
