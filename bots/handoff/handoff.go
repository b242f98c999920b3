// Package handoff is the inbound pipeline's route to a person (issue 15),
// matched before the citizen bot:
//
//   - "gap can bo", "tong dai vien", "nguoi that", "phan anh", "kien nghi",
//     "khieu nai", "talk to a person" (with or without diacritics) and the
//     GAP CAN BO button open a ticket (core/ticket) carrying the dossier or
//     procedure of the conversation, and tell its number and when to expect
//     an answer;
//   - while a citizen has an open ticket, their messages go to it with
//     silence or a short acknowledgement, never a bot answer, except the
//     explicit commands DVC <mã>, TIM …, HD, XACMINH and the digits the bot
//     asked for after XACMINH (not matched: the bot answers); KET THUC
//     closes it and hands back to the bot;
//   - a Zalo OA admin's message (message.EventAdminReply) pauses the bot
//     for that user for DVCBOT_HUMAN_PAUSE;
//   - a satisfaction answer after a closing rates the ticket.
package handoff

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/session"
	"github.com/dvcbot/dvcbot/core/ticket"
)

// Sessions reads a citizen's session (the pipeline's turn when there is one).
type Sessions interface {
	Session(ctx context.Context, channel, user string) (session.Session, error)
}

// Dossiers finds a dossier (its agency routes the ticket).
type Dossiers interface {
	Dossier(ctx context.Context, code string) (dossier.Dossier, error)
}

// Procedures finds a procedure (its agency routes the ticket when no
// dossier is named).
type Procedures interface {
	Procedure(ctx context.Context, code string) (catalog.Procedure, error)
}

// Config builds the route.
type Config struct {
	Desk       *ticket.Desk
	Sessions   Sessions
	Dossiers   Dossiers
	Procedures Procedures // optional
	// Topic reads the dossier and procedure of the conversation from the
	// citizen's session (bots/citizen.Topic).
	Topic func(s session.Session, now time.Time) (dossierCode, procedureCode string)
	// AwaitsVerification reports whether the citizen bot waits for the
	// digits of a verification (bots/citizen.AwaitsVerification); nil: never.
	AwaitsVerification func(s session.Session, now time.Time) bool
	Tr                 *i18n.Catalog
	Log                *slog.Logger
	Now                func() time.Time
	// MatchTimeout bounds the status read of Match (it has no context).
	MatchTimeout time.Duration
}

type route struct{ cfg Config }

// Route returns the hand-off route.
func Route(cfg Config) inbound.Route {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MatchTimeout <= 0 {
		cfg.MatchTimeout = 2 * time.Second
	}
	r := &route{cfg: cfg}
	return inbound.Route{Name: "handoff", Match: r.match, Handle: r.handle}
}

func (r *route) status(ctx context.Context, in message.Inbound) (ticket.Status, error) {
	return r.cfg.Desk.Status(ctx, in.Channel, in.UserID, in.MessageID)
}

// match decides whether the route takes a message. It reads the citizen's
// hand-off status (one round trip, unless the claim found no ticket
// activity); when the database does not answer the bot takes the message,
// as it would without this route.
func (r *route) match(ctx context.Context, in message.Inbound) bool {
	switch in.Event {
	case message.EventAdminReply:
		return true
	case "", message.EventWelcome, message.EventMedia:
	default:
		return false
	}
	if in.Event == "" {
		if _, ok := ticket.Intent(in.Text); ok {
			return true
		}
		if n, _, ok := ticket.ParseRating(in.Text); ok && n > 0 {
			return true
		}
	}
	if ticket.NoActivity(ctx) {
		return false // read with the claim: no ticket, no pause
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.MatchTimeout)
	defer cancel()
	st, err := r.status(ctx, in)
	if err != nil {
		r.cfg.Log.Warn("hand-off: reading the citizen's status failed; the bot answers", "channel", in.Channel, "error", err)
		return false
	}
	if st.Open != nil || !st.PausedUntil.IsZero() {
		return in.Event != "" || (ticket.ParseCommand(in.Text) != ticket.BotCommand && !r.answersVerification(ctx, in))
	}
	if st.Unrated != nil && in.Event == "" {
		_, _, ok := ticket.ParseRating(in.Text)
		return ok
	}
	return false
}

// answersVerification: the bot asked this citizen for the last four digits
// of an applicant's phone (XACMINH, a rating that needs it) and the message
// gives them, the way the bot reads them (four digits in at most two
// words). Such an answer goes to the bot even while a ticket is open: only
// the bot can check it (and on the web chat the session then rotates, the
// ticket with it), and the digits are a secret the inbox should not show.
func (r *route) answersVerification(ctx context.Context, in message.Inbound) bool {
	if r.cfg.AwaitsVerification == nil || in.Event != "" || len(strings.Fields(in.Text)) > 2 {
		return false
	}
	digits := 0
	for _, c := range in.Text {
		if c >= '0' && c <= '9' {
			digits++
		}
	}
	if digits != 4 {
		return false
	}
	s, err := r.cfg.Sessions.Session(ctx, in.Channel, in.UserID)
	return err == nil && r.cfg.AwaitsVerification(s, r.cfg.Now())
}

func (r *route) lang(ctx context.Context, in message.Inbound) (string, session.Session) {
	s, err := r.cfg.Sessions.Session(ctx, in.Channel, in.UserID)
	if err != nil {
		return i18n.Default, session.Session{}
	}
	if s.Lang == "" {
		s.Lang = i18n.Default
	}
	return s.Lang, s
}

func (r *route) failed(what string, err error) message.Reply {
	r.cfg.Log.Error("hand-off: "+what, "error", err)
	return message.Reply{Text: r.cfg.Tr.T(i18n.Default, "error_generic"), Failed: true}
}

func (r *route) handle(ctx context.Context, in message.Inbound, caps message.Capabilities) message.Reply {
	d := r.cfg.Desk
	if in.Event == message.EventAdminReply {
		if err := d.Pause(ctx, in.Channel, in.UserID, in.Text); err != nil {
			r.cfg.Log.Error("hand-off: pausing the bot after an OA admin's message", "error", err)
		}
		return message.Reply{} // nothing goes back to the user
	}
	lang, sess := r.lang(ctx, in)
	if n, level, ok := ticket.ParseRating(in.Text); ok && n > 0 && in.Event == "" {
		t, err := d.Store().Get(ctx, n)
		if err != nil || t.Channel != in.Channel || t.UserID != in.UserID {
			return message.Reply{} // someone else's ticket, or none: say nothing
		}
		if err := d.Rate(ctx, n, level); err != nil {
			return r.failed("rating a ticket", err)
		}
		return message.Reply{Text: ticket.T(t.Lang, "rated", "N", t.Label())}
	}
	st, err := r.status(ctx, in)
	if err != nil {
		return r.failed("reading the citizen's status", err)
	}
	kind, intent := ticket.Intent(in.Text)
	intent = intent && in.Event == ""
	switch {
	case st.Open != nil:
		t := *st.Open
		if in.Event == "" && ticket.ParseCommand(in.Text) == ticket.End {
			closed, err := d.Close(ctx, t.Number, "citizen", ticket.ByCitizenEnd, false)
			if err != nil {
				return r.failed("closing a ticket", err)
			}
			reply := message.Reply{Text: d.ClosingText(closed, ticket.ByCitizenEnd)}
			if caps.Buttons {
				reply.Choices = d.RatingChoices(closed)
			}
			return reply
		}
		if in.Event == message.EventWelcome || intent {
			return message.Reply{Text: ticket.T(t.Lang, "still_open", "N", t.Label())}
		}
		if err := d.Touch(ctx, t.Number); err != nil {
			return r.failed("recording a message on a ticket", err)
		}
		if r.cfg.Now().Sub(t.LastCitizenAt) >= ticket.AckAfter {
			return message.Reply{Text: ticket.T(t.Lang, "ack", "N", t.Label())}
		}
		return message.Reply{} // the officer reads it in the inbox
	case intent:
		return r.open(ctx, in, kind, lang, sess)
	case !st.PausedUntil.IsZero():
		return message.Reply{} // an officer is writing from the OA console
	case st.Unrated != nil:
		if _, level, ok := ticket.ParseRating(in.Text); ok {
			if err := d.Rate(ctx, st.Unrated.Number, level); err != nil {
				return r.failed("rating a ticket", err)
			}
			return message.Reply{Text: ticket.T(st.Unrated.Lang, "rated", "N", st.Unrated.Label())}
		}
	}
	// Matched on a status that changed meanwhile: an empty reply is safer
	// than guessing; the citizen writes again.
	return message.Reply{}
}

// open opens a ticket about the dossier or procedure of the conversation.
func (r *route) open(ctx context.Context, in message.Inbound, kind ticket.Kind, lang string, sess session.Session) message.Reply {
	t := ticket.Ticket{Channel: in.Channel, UserID: in.UserID, Address: in.ReplyTo, Phone: in.Phone, Lang: lang, Kind: kind, Subject: in.Text}
	if code := firstDossier(in.Text, r.cfg.Now()); code != "" {
		t.Dossier = code
	} else if r.cfg.Topic != nil {
		t.Dossier, t.Procedure = r.cfg.Topic(sess, r.cfg.Now())
	}
	if t.Dossier != "" && r.cfg.Dossiers != nil {
		if d, err := r.cfg.Dossiers.Dossier(ctx, t.Dossier); err == nil {
			t.Agency = d.Agency
			if t.Procedure == "" {
				t.Procedure = d.ProcedureCode
			}
		} else {
			t.Dossier = "" // not a dossier we know: the ticket is about nothing in particular
		}
	}
	if t.Agency == "" && t.Procedure != "" && r.cfg.Procedures != nil {
		if p, err := r.cfg.Procedures.Procedure(ctx, t.Procedure); err == nil {
			t.Agency = p.Agency
		}
	}
	opened, created, err := r.cfg.Desk.Open(ctx, t)
	if err != nil {
		return r.failed("opening a ticket", err)
	}
	if !created {
		return message.Reply{Text: ticket.T(opened.Lang, "still_open", "N", opened.Label())}
	}
	r.cfg.Log.Info("hand-off ticket opened", "ticket", opened.Number, "channel", in.Channel, "kind", kind, "agency", opened.Agency)
	return message.Reply{Text: r.cfg.Desk.Opened(opened)}
}
