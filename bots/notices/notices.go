// Package notices answers the commands that govern proactive notices, on
// every channel, as a route of the inbound pipeline matched before the
// citizen bot (it replaces bots/optout, keeping its SMS keywords and texts):
//
//   - THEO DOI <mã> / DK <mã>: subscribe this identity to a dossier's
//     notices, once it proved it is the applicant (on SMS the sender's phone
//     is the dossier's; elsewhere a successful XACMINH <mã>, or a Zalo phone
//     shared with user_submit_info that is the dossier's);
//   - HUY <mã>: unsubscribe from one dossier;
//   - TU CHOI / STOP (and HUY, TD alone): stop every notice on this channel;
//     BAT / START / NHAN LAI resume them;
//   - a Zalo user_submit_info event (message.EventContact) links the shared
//     phone: that user gets the notices of the phone's dossiers.
//
// Every change is audited by the store.
package notices

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Store records subscriptions and opt-outs (and audits them).
type Store interface {
	Subscribe(ctx context.Context, channel, user, code string, on bool) error
	SetOptOut(ctx context.Context, channel, user string, out bool) error
	LinkPhone(ctx context.Context, channel, user, phone string) error
	LinkedPhone(ctx context.Context, channel, user string) (string, error)
	// Verified: the identity passed XACMINH for the dossier.
	Verified(ctx context.Context, channel, user, code string) (bool, error)
}

// Dossiers finds a dossier.
type Dossiers interface {
	Dossier(ctx context.Context, code string) (dossier.Dossier, error)
}

// Command is what a message asks.
type Command int

const (
	None Command = iota
	OptOut
	OptIn
	Subscribe
	Unsubscribe
	Contact
)

// Parse reads a command; rest is what follows a subscribe or unsubscribe
// keyword (the dossier code as typed).
func Parse(in message.Inbound) (Command, string) {
	if in.Event == message.EventContact {
		if in.Phone != "" {
			return Contact, ""
		}
		return None, ""
	}
	if in.Event != "" {
		return None, ""
	}
	words := strings.Fields(strings.ToUpper(vntext.Unaccent(in.Text)))
	if len(words) == 0 || len(words) > 8 {
		return None, ""
	}
	all := strings.Join(words, " ")
	switch all {
	case "TU CHOI", "TUCHOI", "STOP", "HUY", "TD":
		return OptOut, ""
	case "BAT", "START", "NHAN LAI":
		return OptIn, ""
	}
	rest := func(n int) string { return strings.Join(strings.Fields(in.Text)[n:], " ") }
	switch {
	case len(words) >= 3 && words[0] == "THEO" && words[1] == "DOI":
		return Subscribe, rest(2)
	case len(words) >= 2 && (words[0] == "THEODOI" || words[0] == "DK"):
		return Subscribe, rest(1)
	case len(words) >= 2 && words[0] == "HUY":
		return Unsubscribe, rest(1)
	}
	return None, ""
}

// Route is the notices route. now is the clock (dossier codes hold dates).
func Route(s Store, d Dossiers, tr *i18n.Catalog, log *slog.Logger, now func() time.Time) inbound.Route {
	if now == nil {
		now = time.Now
	}
	r := &route{s: s, d: d, tr: tr, log: log, now: now}
	return inbound.Route{
		Name: "notices",
		Match: func(_ context.Context, in message.Inbound) bool {
			cmd, _ := Parse(in)
			switch cmd {
			case None:
				return false
			case OptOut, OptIn:
				// On SMS only a proven phone may opt out (as before).
				return in.Channel != message.SMS || in.Phone != ""
			}
			return true
		},
		Handle: r.handle,
	}
}

type route struct {
	s   Store
	d   Dossiers
	tr  *i18n.Catalog
	log *slog.Logger
	now func() time.Time
}

func (r *route) t(lang, id string, data ...i18n.Data) string { return r.tr.T(lang, id, data...) }

// langOf is the language the citizen chose in the dialog on this channel
// (the session read with the claim), else the default.
func langOf(ctx context.Context, in message.Inbound) string {
	if t := session.TurnFor(ctx, in.Channel, in.UserID); t != nil && t.Loaded.Lang != "" {
		return t.Loaded.Lang
	}
	return i18n.Default
}

func (r *route) failed(lang, what string, err error) message.Reply {
	r.log.Error(what, "error", err)
	return message.Reply{Text: r.t(lang, "error_generic"), Failed: true}
}

func (r *route) handle(ctx context.Context, in message.Inbound, _ message.Capabilities) message.Reply {
	lang := langOf(ctx, in)
	cmd, arg := Parse(in)
	user := in.UserID
	if in.Channel == message.SMS && in.Phone != "" {
		user = in.Phone
	}
	switch cmd {
	case OptOut, OptIn:
		if err := r.s.SetOptOut(ctx, in.Channel, user, cmd == OptOut); err != nil {
			return r.failed(lang, "recording a notice opt-out", err)
		}
		switch {
		case in.Channel == message.SMS && cmd == OptOut:
			return message.Reply{Text: r.t(lang, "sms_opt_out")}
		case in.Channel == message.SMS:
			return message.Reply{Text: r.t(lang, "sms_opt_in")}
		case cmd == OptOut:
			return message.Reply{Text: r.t(lang, "notice_opt_out")}
		}
		return message.Reply{Text: r.t(lang, "notice_opt_in")}
	case Contact:
		if err := r.s.LinkPhone(ctx, in.Channel, user, in.Phone); err != nil {
			return r.failed(lang, "linking a shared phone", err)
		}
		return message.Reply{Text: r.t(lang, "notice_phone_linked")}
	}
	code, err := vntext.NormalizeDossierCode(arg, r.now())
	if err != nil {
		return message.Reply{Text: r.t(lang, "notice_usage")}
	}
	d, err := r.d.Dossier(ctx, code)
	if errors.Is(err, dossier.ErrNotFound) {
		return message.Reply{Text: r.t(lang, "notice_not_found", i18n.Data{"Code": code})}
	}
	if err != nil {
		return r.failed(lang, "loading a dossier for a subscription", err)
	}
	if cmd == Unsubscribe {
		if err := r.s.Subscribe(ctx, in.Channel, user, code, false); err != nil {
			return r.failed(lang, "recording an unsubscription", err)
		}
		return message.Reply{Text: r.t(lang, "notice_unsubscribed", i18n.Data{"Code": code})}
	}
	ok, err := r.applicant(ctx, in, user, d)
	if err != nil {
		return r.failed(lang, "checking the applicant", err)
	}
	if !ok {
		return message.Reply{Text: r.t(lang, "notice_not_applicant", i18n.Data{"Code": code})}
	}
	if err := r.s.Subscribe(ctx, in.Channel, user, code, true); err != nil {
		return r.failed(lang, "recording a subscription", err)
	}
	return message.Reply{Text: r.t(lang, "notice_subscribed", i18n.Data{"Code": code})}
}

// applicant is the dialog's applicant check: the SMS sender's phone is the
// dossier's; a Zalo user shared that phone; or the identity passed XACMINH.
func (r *route) applicant(ctx context.Context, in message.Inbound, user string, d dossier.Dossier) (bool, error) {
	if in.Phone != "" && d.IsApplicant(in.Phone) {
		return true, nil
	}
	if in.Channel == message.Zalo {
		p, err := r.s.LinkedPhone(ctx, in.Channel, user)
		if err != nil {
			return false, err
		}
		if p != "" && d.IsApplicant(p) {
			return true, nil
		}
	}
	return r.s.Verified(ctx, in.Channel, user, d.Code)
}
