package dossier

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// ErrNotFound is returned by stores for an unknown dossier code.
var ErrNotFound = errors.New("dossier not found")

// Dossier is the latest known state of one dossier. Times are UTC.
type Dossier struct {
	Code           string
	ProcedureCode  string
	ProcedureName  string
	Agency         string
	ApplicantName  string // personal: masked for anyone but the applicant
	ApplicantPhone string // normalised (84…); decides who the applicant is
	SubmittedVia   string // truc_tiep, truc_tuyen, buu_chinh
	ReceivedAt     *time.Time
	DueAt          *time.Time
	FinishedAt     *time.Time
	ReturnedAt     *time.Time
	Officer        string // never shown to citizens
	Status         Status
	Note           string
	StatusAt       time.Time // occurred_at of the event that set Status
	LastEventID    string
	UpdatedAt      time.Time
}

// Timing is the derived on-time property of domain.md §2.2.
type Timing int

const (
	TimingNone    Timing = iota // no due date, or nothing to say yet
	TimingOnTrack               // in progress, before the due date
	TimingOverdue               // in progress past the due date, or finished late
	TimingEarly                 // result reached before the due date's day
	TimingOnTime                // result reached on the due date's day
)

// Timing computes early / on time / overdue. Finished dossiers compare the
// date of the result with the due date; open ones compare now; paused ones
// are never overdue. Days counts calendar days late (overdue) or early.
func (d Dossier) Timing(now time.Time) (Timing, int) {
	if d.DueAt == nil {
		return TimingNone, 0
	}
	due := dayOf(*d.DueAt)
	if d.Status.HasResult() {
		done := d.FinishedAt
		if done == nil {
			done = d.ReturnedAt
		}
		if done == nil {
			return TimingNone, 0
		}
		switch day := dayOf(*done); {
		case day.Before(due):
			return TimingEarly, days(day, due)
		case day.Equal(due):
			return TimingOnTime, 0
		default:
			return TimingOverdue, days(due, day)
		}
	}
	if d.Status.Final() || d.Status.Paused() || d.Status == MoiDangKy {
		return TimingNone, 0
	}
	if now.After(*d.DueAt) {
		return TimingOverdue, max(1, days(due, dayOf(now)))
	}
	return TimingOnTrack, 0
}

func dayOf(t time.Time) time.Time {
	l := t.In(vntext.VietnamTime())
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, time.UTC)
}

func days(from, to time.Time) int { return int(to.Sub(from).Hours() / 24) }

// IsApplicant reports whether a normalised phone number is the dossier's.
func (d Dossier) IsApplicant(normalizedPhone string) bool {
	return d.ApplicantPhone != "" && normalizedPhone == d.ApplicantPhone
}

// MaskName keeps the family name and reduces the other words to initials:
// "NGUYỄN VĂN AN" → "Nguyễn V. A." (domain.md §6.3).
func MaskName(name string) string {
	words := strings.Fields(vntext.NFC(name))
	if len(words) == 0 {
		return ""
	}
	out := make([]string, len(words))
	out[0] = titleWord(words[0])
	for i, w := range words[1:] {
		r, _ := utf8.DecodeRuneInString(w)
		out[i+1] = string(unicode.ToUpper(r)) + "."
	}
	return strings.Join(out, " ")
}

func titleWord(w string) string {
	r, n := utf8.DecodeRuneInString(w)
	return string(unicode.ToUpper(r)) + strings.ToLower(w[n:])
}

// Event is one status change from the one-stop system.
type Event struct {
	ID         string
	OccurredAt time.Time
	Status     Status
	Note       string
	Dossier    Dossier // the dossier as the event describes it
	Payload    []byte  // the event as received, for the history
}

// Outcome is what ingesting one event did.
type Outcome string

const (
	Accepted  Outcome = "accepted"  // stored and became the current state
	Duplicate Outcome = "duplicate" // this event id was seen before: nothing changed
	Stale     Outcome = "stale"     // stored in the history; a later event rules
)

// Result pairs an event id with its outcome.
type Result struct {
	EventID string  `json:"event_id"`
	Result  Outcome `json:"result"`
}

// Store keeps dossiers and their event history.
type Store interface {
	// ApplyEvents stores events in one transaction, in order. An event whose
	// id is already stored is a Duplicate and changes nothing. Otherwise it
	// joins the history, and it becomes the dossier's current state only if
	// its OccurredAt is not earlier than the current state's (else Stale).
	ApplyEvents(ctx context.Context, events []Event) ([]Result, error)
	// Dossier returns the current state, or ErrNotFound.
	Dossier(ctx context.Context, code string) (Dossier, error)
	// History returns the dossier's events, oldest first.
	History(ctx context.Context, code string) ([]Event, error)
}
