// Package optout answers the keywords that stop and resume proactive SMS
// (TU CHOI / STOP, BAT / START). It is a route of the inbound pipeline,
// matched before the citizen bot.
package optout

import (
	"context"
	"log/slog"
	"strings"

	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Store records opt-outs by phone.
type Store interface {
	SetOptOut(ctx context.Context, phone string, out bool) error
}

// keyword reports whether text is an opt-out (true) or opt-in (false) word.
func keyword(text string) (out, ok bool) {
	switch strings.Join(strings.Fields(strings.ToUpper(vntext.Unaccent(text))), " ") {
	case "TU CHOI", "TUCHOI", "STOP", "HUY", "TD":
		return true, true
	case "BAT", "START", "NHAN LAI":
		return false, true
	}
	return false, false
}

// Route is the SMS opt-out route: it matches messages whose whole text is
// a keyword from a proven phone.
func Route(s Store, tr *i18n.Catalog, log *slog.Logger) inbound.Route {
	return inbound.Route{
		Name: "sms-opt-out",
		Match: func(in message.Inbound) bool {
			_, ok := keyword(in.Text)
			return ok && in.Channel == message.SMS && in.Phone != ""
		},
		Handle: func(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply {
			out, _ := keyword(in.Text)
			if err := s.SetOptOut(ctx, in.Phone, out); err != nil {
				log.Error("recording an sms opt-out", "error", err)
				return message.Reply{Text: tr.T(i18n.Default, "error_generic")}
			}
			if out {
				return message.Reply{Text: tr.T(i18n.Default, "sms_opt_out")}
			}
			return message.Reply{Text: tr.T(i18n.Default, "sms_opt_in")}
		},
	}
}
