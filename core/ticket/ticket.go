// Package ticket is the hand-off to a person (issue 15): a citizen asks for
// an officer on any channel and gets a ticket with a short decimal number
// (#N, unique across channels); while it is open the bot steps aside and
// the citizen's messages go to the ticket; officers answer from the
// console's inbox and their replies leave through the citizen's channel via
// the outbox; the ticket closes by the citizen (KET THUC), an officer, or
// after DVCBOT_TICKET_IDLE without activity, and asks for satisfaction.
//
// The package declares what it consumes (Store); package store implements
// it, bots/handoff is the pipeline route, core/console the inbox.
package ticket

import (
	"context"
	"errors"
	"time"

	"github.com/dvcbot/dvcbot/core/notify"
)

// Kind is what the citizen wants of a person.
type Kind string

// Kinds (seed 002 Điều 11.2.g: phản ánh, kiến nghị, khiếu nại).
const (
	Question  Kind = "question"  // gặp cán bộ, tổng đài viên: a question for a person
	Feedback  Kind = "feedback"  // phản ánh, kiến nghị
	Complaint Kind = "complaint" // khiếu nại
)

// Kinds lists the kinds.
var Kinds = []Kind{Question, Feedback, Complaint}

// ParseKind checks a kind name.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", errors.New("kind must be question, feedback or complaint")
}

// States of a ticket.
const (
	Open   = "open"
	Closed = "closed"
)

// Entry authors.
const (
	ByCitizen = "citizen"
	ByBot     = "bot"
	ByOfficer = "officer"
	BySystem  = "system"
)

// Errors.
var (
	ErrNotFound = errors.New("ticket not found")
	ErrConflict = errors.New("the ticket is not in a state that allows this")
)

// Ticket is one hand-off.
type Ticket struct {
	Number        int64      `json:"number"`
	Channel       string     `json:"channel"`
	UserID        string     `json:"user_id"`
	Address       string     `json:"-"` // where replies go (Telegram chat id); "" = UserID
	Phone         string     `json:"phone,omitempty"`
	Lang          string     `json:"lang"`
	Kind          Kind       `json:"kind"`
	State         string     `json:"state"`
	Agency        string     `json:"agency"`
	Dossier       string     `json:"dossier,omitempty"`
	Procedure     string     `json:"procedure,omitempty"`
	Subject       string     `json:"subject"` // the message that opened it
	AssigneeID    int64      `json:"assignee_id,omitempty"`
	AssigneeName  string     `json:"assignee_name,omitempty"`
	OpenedAt      time.Time  `json:"opened_at"`
	FirstAnswerAt *time.Time `json:"first_answer_at,omitempty"`
	LastCitizenAt time.Time  `json:"last_citizen_at"`
	LastActivity  time.Time  `json:"last_activity_at"`
	ClosedAt      *time.Time `json:"closed_at,omitempty"`
	ClosedBy      string     `json:"closed_by,omitempty"`
	Rating        int        `json:"rating,omitempty"` // 1 satisfied, 2 neutral, 3 not satisfied; 0 none
	UpdatedAt     time.Time  `json:"updated_at"`
	Version       int64      `json:"version"`
}

// Label is how people see the number.
func (t Ticket) Label() string { return "#" + itoa(t.Number) }

// ReplyTo is where an answer to the citizen goes.
func (t Ticket) ReplyTo() string {
	if t.Address != "" {
		return t.Address
	}
	return t.UserID
}

// Entry is one turn of the conversation the inbox shows.
type Entry struct {
	At     time.Time `json:"at"`
	Author string    `json:"author"` // citizen, bot, officer, system
	Name   string    `json:"name,omitempty"`
	Text   string    `json:"text"`
}

// Filter selects tickets for the inbox.
type Filter struct {
	// Agency limits to one agency's tickets and the unassigned ones ("":
	// every agency).
	Agency string
	State  string // open, closed, "" both
	Since  time.Time
	Limit  int
}

// Status is what the route needs to know of a citizen, read in one call.
type Status struct {
	Open *Ticket // the open ticket, if any
	// PausedUntil: an officer wrote from the Zalo OA console; the bot is
	// silent until then.
	PausedUntil time.Time
	// Unrated is the ticket closed last, not rated yet, when the citizen
	// wrote nothing since its closing (a bare 1-3 rates it).
	Unrated *Ticket
}

// AgencyStats are the measures of one agency's tickets in a period.
type AgencyStats struct {
	Agency          string         `json:"agency"`
	Opened          int            `json:"opened"`
	Open            int            `json:"open"`
	Closed          int            `json:"closed"`
	ByKind          map[string]int `json:"by_kind"`
	Answered        int            `json:"answered"`
	AvgFirstAnswerS float64        `json:"avg_first_answer_seconds"`
	AvgCloseS       float64        `json:"avg_close_seconds"`
	Rated           int            `json:"rated"`
	Satisfied       int            `json:"satisfied"`
	Neutral         int            `json:"neutral"`
	Unsatisfied     int            `json:"unsatisfied"`
}

// Store keeps tickets. Every change bumps the ticket's version and
// updated_at (the inbox's live feed reads changes since a time).
type Store interface {
	// Create opens t unless (channel, user) already has an open ticket,
	// which it returns with created false.
	Create(ctx context.Context, t Ticket) (Ticket, bool, error)
	// Status reads the open ticket, the Zalo pause and the ticket awaiting
	// a rating of (channel, user); excludeMsg is the message being handled
	// (already recorded).
	Status(ctx context.Context, channel, user, excludeMsg string, now time.Time) (Status, error)
	Get(ctx context.Context, number int64) (Ticket, error)
	List(ctx context.Context, f Filter) ([]Ticket, error)
	// Conversation is the ticket's exchange: the citizen's messages with
	// the bot's (or the acknowledgement's) replies from the inbound log
	// since a day before the opening, and the officers' entries.
	Conversation(ctx context.Context, t Ticket) ([]Entry, error)
	// Touch records the citizen's activity on an open ticket.
	Touch(ctx context.Context, number int64, at time.Time) error
	// Answer appends an officer's entry to an open ticket, sets the first
	// answer time, and queues out, in one transaction. claim, when set,
	// moves an unassigned ticket into that agency.
	Answer(ctx context.Context, number int64, e Entry, out []notify.Message, claim string) (Ticket, error)
	// Assign sets the assignee (0: none) and, when agency is not nil, the agency.
	Assign(ctx context.Context, number int64, assigneeID int64, name string, agency *string, note Entry) (Ticket, error)
	// CloseTicket closes an open ticket and queues out; ErrConflict when it
	// is not open.
	CloseTicket(ctx context.Context, number int64, by string, at time.Time, out []notify.Message) (Ticket, error)
	// Reopen opens a closed ticket again unless the citizen has another
	// open one (ErrConflict).
	Reopen(ctx context.Context, number int64, note Entry) (Ticket, error)
	Rate(ctx context.Context, number int64, level int) error
	// Pause silences the bot for (channel, user) until until, and records
	// the officer's message on the open ticket if there is one.
	Pause(ctx context.Context, channel, user string, until time.Time, e Entry) error
	// Idle lists open tickets without activity since before.
	Idle(ctx context.Context, before time.Time, limit int) ([]Ticket, error)
	Stats(ctx context.Context, from, to time.Time, agency string) ([]AgencyStats, error)
	// LastSeen is the citizen's last own message on the channel (not the
	// OA's echoes): the Zalo window.
	LastSeen(ctx context.Context, channel, user string) (time.Time, error)
	// LinkedPhone is a phone the (Zalo) user shared, "" if none.
	LinkedPhone(ctx context.Context, channel, user string) (string, error)
	// RotateSession gives the cookie session of (channel, id) a new id, as
	// session.IDs.RotateID does (the old id stops existing; sessionTicket
	// is the one-time ticket the browser redeems for the new cookie), and in
	// the same transaction moves to the new id whatever of the citizen's
	// hand-off the old id held: every ticket (their conversations keep the
	// messages sent under the old id), the bot's pause, and the tickets'
	// messages still in the outbox for the old id. note is recorded on the
	// open ticket. moved counts the tickets moved.
	RotateSession(ctx context.Context, channel, id string, now time.Time, note Entry) (newID, sessionTicket string, moved int, err error)
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
