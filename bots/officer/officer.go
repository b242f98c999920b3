// Package officer is the officers' side of the bot: an officer links a
// Telegram chat with a one-time invite code, then receives the change
// digests there and may ask for the last sync. Citizens never reach it: its
// commands answer only linked chats.
package officer

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/officers"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Runs reads the sync history.
type Runs interface {
	LastRun(ctx context.Context) (catalogsync.Run, bool, error)
}

// InviteTTL is how long an invite code stays valid.
const InviteTTL = 7 * 24 * time.Hour

// Bot answers officers.
type Bot struct {
	store officers.Store
	runs  Runs
	tr    *i18n.Catalog
	now   func() time.Time
}

// New returns the officer bot.
func New(s officers.Store, runs Runs, tr *i18n.Catalog) *Bot {
	return &Bot{store: s, runs: runs, tr: tr, now: time.Now}
}

// codeAlphabet has no look-alikes (0/O, 1/I/L).
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// Invite creates an officer with a one-time code for linking a chat.
func (b *Bot) Invite(ctx context.Context, name, email string) (officers.Officer, string, error) {
	code := make([]byte, 10)
	for i := range code {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(codeAlphabet))))
		if err != nil {
			return officers.Officer{}, "", err
		}
		code[i] = codeAlphabet[n.Int64()]
	}
	o, err := b.store.CreateInvite(ctx, name, email, string(code), b.now().Add(InviteTTL))
	return o, string(code), err
}

// Link binds chatID to the officer whose code this is.
func (b *Bot) Link(ctx context.Context, chatID int64, code string) (message.Reply, error) {
	o, err := b.store.LinkTelegram(ctx, strings.ToUpper(strings.TrimSpace(code)), chatID, b.now())
	if errors.Is(err, officers.ErrBadCode) {
		return message.Reply{Text: b.tr.T(i18n.Default, "officer_bad_code")}, nil
	}
	if err != nil {
		return message.Reply{}, err
	}
	return message.Reply{Text: b.tr.T(i18n.Default, "officer_linked", i18n.Data{"Name": o.Name})}, nil
}

// IsOfficer reports whether a chat is linked.
func (b *Bot) IsOfficer(ctx context.Context, chatID int64) (bool, error) {
	_, ok, err := b.store.OfficerByTelegram(ctx, chatID)
	return ok, err
}

// SyncStatus describes the last sync run.
func (b *Bot) SyncStatus(ctx context.Context) (message.Reply, error) {
	run, ok, err := b.runs.LastRun(ctx)
	if err != nil {
		return message.Reply{}, err
	}
	if !ok {
		return message.Reply{Text: b.tr.T(i18n.Default, "officer_no_sync")}, nil
	}
	when := run.StartedAt
	if run.FinishedAt != nil {
		when = *run.FinishedAt
	}
	data := i18n.Data{"When": when.In(vntext.VietnamTime()).Format("02/01/2006 15:04"), "State": run.State,
		"Fetched": run.Fetched, "New": run.New, "Modified": run.Modified, "Cancelled": run.Cancelled, "Alerts": run.Alerts}
	text := b.tr.T(i18n.Default, "officer_sync", data)
	if run.Error != "" {
		text += "\n" + b.tr.T(i18n.Default, "officer_sync_error", i18n.Data{"Error": run.Error})
	}
	return message.Reply{Text: text}, nil
}

// Route reaches the officer bot through the inbound pipeline: the Telegram
// commands /link CODE (also /start CODE, an invite's deep link) and /sync.
// A chat that is not an officer's gets the citizens' help, nothing more.
func (b *Bot) Route(log *slog.Logger) inbound.Route {
	return inbound.Route{
		Name: "officer",
		Match: func(_ context.Context, in message.Inbound) bool {
			return in.Channel == message.Telegram && (in.Text == "/sync" || strings.HasPrefix(in.Text, "/link"))
		},
		Handle: func(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply {
			chatID, err := strconv.ParseInt(in.Address(), 10, 64)
			if err != nil {
				return message.Reply{Text: b.tr.T(i18n.Default, "help")}
			}
			if in.Text == "/sync" {
				ok, err := b.IsOfficer(ctx, chatID)
				if err != nil || !ok {
					return message.Reply{Text: b.tr.T(i18n.Default, "help")}
				}
				r, err := b.SyncStatus(ctx)
				if err != nil {
					log.Error("reading the last sync for an officer", "error", err)
					return message.Reply{Text: b.tr.T(i18n.Default, "error_generic")}
				}
				return r
			}
			r, err := b.Link(ctx, chatID, strings.TrimSpace(strings.TrimPrefix(in.Text, "/link")))
			if err != nil {
				log.Error("linking an officer", "error", err)
				return message.Reply{Text: b.tr.T(i18n.Default, "error_generic")}
			}
			return r
		},
	}
}
