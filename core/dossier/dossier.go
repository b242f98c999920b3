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

// ErrUnavailable wraps a store error that means the database cannot be used
// now (unreachable, or past the store's deadline): the API answers 503 and
// the one-stop system retries.
var ErrUnavailable = errors.New("dossier store unavailable")

// Dossier is the latest known state of one dossier. Times are UTC.
type Dossier struct {
	Code           string
	ProcedureCode  string
	ProcedureName  string
	Agency         string
	ApplicantName  string // personal: masked for anyone but the applicant
	ApplicantPhone string // normalised (84…); decides who the applicant is
	ApplicantEmail string // personal: where notices may go by e-mail; never shown
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
// "NGUYỄN VĂN AN" → "Nguyễn V. A." (domain.md §6.3). Words are split on
// blanks, hyphens and dots and where a capital follows a small letter, so
// "NguyễnVănAn" and "Nguyễn-Văn-An" are masked too. A name of one word is
// reduced to its initial: kept whole, it would be the full name.
func MaskName(name string) string {
	words := nameWords(vntext.NFC(name))
	if len(words) == 0 {
		return ""
	}
	out := make([]string, len(words))
	for i, w := range words {
		r, _ := utf8.DecodeRuneInString(w)
		out[i] = string(unicode.ToUpper(r)) + "."
	}
	if len(words) > 1 {
		out[0] = titleWord(words[0])
	}
	return strings.Join(out, " ")
}

// nameWords splits a name into its words.
func nameWords(name string) []string {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, string(cur))
			cur = cur[:0]
		}
	}
	prevLower := false
	for _, r := range name {
		switch {
		case unicode.IsSpace(r) || r == '-' || r == '.' || r == ',' || r == '_' || r == '‐' || r == '–':
			flush()
			prevLower = false
			continue
		case unicode.IsUpper(r) && prevLower:
			flush()
		}
		cur = append(cur, r)
		prevLower = unicode.IsLower(r)
	}
	flush()
	return words
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
	// its OccurredAt is not earlier than the current state's (else Stale);
	// between equal OccurredAt the later arrival wins. A database that does
	// not answer in time gives an error wrapping ErrUnavailable.
	ApplyEvents(ctx context.Context, events []Event) ([]Result, error)
	// Dossier returns the current state, or ErrNotFound.
	Dossier(ctx context.Context, code string) (Dossier, error)
	// History returns the dossier's events, oldest first (equal OccurredAt
	// in the order they arrived).
	History(ctx context.Context, code string) ([]Event, error)
}
