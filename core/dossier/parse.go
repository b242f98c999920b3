package dossier

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dvcbot/dvcbot/core/phone"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// MaxBatch is the largest {"events": […]} backfill the contract allows.
const MaxBatch = 500

// FieldError names the first invalid field of a request (400).
type FieldError struct {
	Field   string `json:"field"`
	Index   int    `json:"index"`
	Message string `json:"error"`
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("event %d: %s: %s", e.Index, e.Field, e.Message)
}

type wireDossier struct {
	Code           *string `json:"code"`
	ProcedureCode  *string `json:"procedure_code"`
	ProcedureName  *string `json:"procedure_name"`
	Agency         *string `json:"agency"`
	ApplicantName  *string `json:"applicant_name"`
	ApplicantPhone *string `json:"applicant_phone"`
	ApplicantEmail *string `json:"applicant_email"`
	SubmittedVia   *string `json:"submitted_via"`
	ReceivedAt     *string `json:"received_at"`
	DueAt          *string `json:"due_at"`
	FinishedAt     *string `json:"finished_at"`
	ReturnedAt     *string `json:"returned_at"`
	Officer        *string `json:"officer"`
}

type wireEvent struct {
	EventID    *string         `json:"event_id"`
	OccurredAt *string         `json:"occurred_at"`
	Status     json.RawMessage `json:"status"`
	Note       *string         `json:"note"`
	Dossier    *wireDossier    `json:"dossier"`
}

// ParseEvents reads a request body: one event object or {"events": […]}.
// It validates every event and returns the first problem as a *FieldError.
func ParseEvents(body []byte, now time.Time) ([]Event, error) {
	var probe struct {
		Events json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &probe); err != nil {
		return nil, &FieldError{Field: "body", Message: "not a JSON object: " + jsonProblem(err)}
	}
	raws := []json.RawMessage{body}
	if probe.Events != nil {
		if err := json.Unmarshal(probe.Events, &raws); err != nil {
			return nil, &FieldError{Field: "events", Message: "must be an array of event objects"}
		}
		if len(raws) == 0 || len(raws) > MaxBatch {
			return nil, &FieldError{Field: "events", Message: fmt.Sprintf("must hold 1 to %d events, got %d", MaxBatch, len(raws))}
		}
	}
	events := make([]Event, 0, len(raws))
	for i, raw := range raws {
		ev, err := parseEvent(raw, now)
		if err != nil {
			err.Index = i
			return nil, err
		}
		events = append(events, ev)
	}
	return events, nil
}

func jsonProblem(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return fmt.Sprintf("%s has the wrong type (%s)", te.Field, te.Value)
	}
	return err.Error()
}

func parseEvent(raw json.RawMessage, now time.Time) (Event, *FieldError) {
	var w wireEvent
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&w); err != nil {
		field := "body"
		if te, ok := err.(*json.UnmarshalTypeError); ok && te.Field != "" {
			field = te.Field
		}
		return Event{}, &FieldError{Field: field, Message: "invalid JSON: " + jsonProblem(err)}
	}
	fail := func(field, format string, a ...any) (Event, *FieldError) {
		return Event{}, &FieldError{Field: field, Message: fmt.Sprintf(format, a...)}
	}
	var ev Event
	// The payload is kept as received, but as valid UTF-8: invalid bytes can
	// only sit inside JSON strings, and each becomes U+FFFD, as the decoder
	// read it.
	ev.Payload = raw
	if !utf8.Valid(raw) {
		ev.Payload = []byte(validUTF8(string(raw)))
	}
	id, ok := required(w.EventID)
	if !ok {
		return fail("event_id", "is required")
	}
	if msg := badIdentifier(id); msg != "" {
		return fail("event_id", "%s", msg)
	}
	if len(id) > 200 {
		return fail("event_id", "must be at most 200 bytes")
	}
	ev.ID = id
	occurred, ok := required(w.OccurredAt)
	if !ok {
		return fail("occurred_at", "is required")
	}
	t, err := time.Parse(time.RFC3339, occurred)
	if err != nil {
		return fail("occurred_at", "must be RFC 3339 with an offset, e.g. 2024-03-05T14:22:10+07:00")
	}
	// A clock gone wrong at the source (an event dated 2099) would otherwise
	// become the newest state for ever: nothing could follow it.
	if t.After(now.Add(MaxFutureSkew)) {
		return fail("occurred_at", "%s is more than %v after the server's time %s",
			occurred, MaxFutureSkew, now.UTC().Format(time.RFC3339))
	}
	// The databases keep microseconds: truncate here so that the event
	// compares and reads back exactly as stored.
	ev.OccurredAt = t.UTC().Truncate(time.Microsecond)
	if len(w.Status) == 0 || string(w.Status) == "null" {
		return fail("status", "is required")
	}
	if ev.Status, err = ParseStatus(w.Status); err != nil {
		return fail("status", "%s", err.Error())
	}
	if w.Note != nil {
		ev.Note = cleanText(*w.Note, true)
		if utf8.RuneCountInString(ev.Note) > 500 {
			return fail("note", "must be at most 500 characters")
		}
	}
	if w.Dossier == nil {
		return fail("dossier", "is required")
	}
	d, ferr := parseDossier(w.Dossier, now)
	if ferr != nil {
		return Event{}, ferr
	}
	d.Status, d.Note, d.StatusAt, d.LastEventID = ev.Status, ev.Note, ev.OccurredAt, ev.ID
	ev.Dossier = d
	return ev, nil
}

func parseDossier(w *wireDossier, now time.Time) (Dossier, *FieldError) {
	fail := func(field, msg string) (Dossier, *FieldError) {
		return Dossier{}, &FieldError{Field: "dossier." + field, Message: msg}
	}
	var d Dossier
	code, ok := required(w.Code)
	if !ok {
		return fail("code", "is required")
	}
	if msg := badIdentifier(code); msg != "" {
		return fail("code", msg)
	}
	norm, err := vntext.NormalizeDossierCode(code, now)
	if err != nil {
		return fail("code", fmt.Sprintf("%q is not a dossier code (%v); expected e.g. 000.00.20.H17-240305-0001", code, err))
	}
	d.Code = norm
	pc, ok := required(w.ProcedureCode)
	if !ok {
		return fail("procedure_code", "is required")
	}
	if msg := badIdentifier(pc); msg != "" {
		return fail("procedure_code", msg)
	}
	if utf8.RuneCountInString(pc) > 1000 {
		return fail("procedure_code", "is longer than 1000 characters")
	}
	d.ProcedureCode = vntext.NFC(pc)
	for _, f := range []struct {
		name string
		in   *string
		out  *string
	}{
		{"procedure_name", w.ProcedureName, &d.ProcedureName},
		{"agency", w.Agency, &d.Agency},
	} {
		if f.in == nil {
			return fail(f.name, "is required")
		}
		v := cleanText(*f.in, false)
		if v == "" {
			return fail(f.name, "is required")
		}
		if utf8.RuneCountInString(v) > 1000 {
			return fail(f.name, "is longer than 1000 characters")
		}
		*f.out = v
	}
	d.ApplicantName = cleanText(optional(w.ApplicantName), false)
	d.Officer = cleanText(optional(w.Officer), false)
	if p := optional(w.ApplicantPhone); p != "" {
		n, err := phone.Normalize(p)
		if err != nil {
			return fail("applicant_phone", "is not a valid Vietnamese phone number")
		}
		d.ApplicantPhone = n
	}
	if e := optional(w.ApplicantEmail); e != "" {
		a, err := mail.ParseAddress(e)
		if err != nil || a.Name != "" || len(e) > 254 {
			return fail("applicant_email", "is not an e-mail address")
		}
		d.ApplicantEmail = a.Address
	}
	switch via := optional(w.SubmittedVia); via {
	case "", "truc_tiep", "truc_tuyen", "buu_chinh":
		d.SubmittedVia = via
	default:
		return fail("submitted_via", "must be truc_tiep, truc_tuyen or buu_chinh")
	}
	for _, f := range []struct {
		name string
		in   *string
		out  **time.Time
	}{
		{"received_at", w.ReceivedAt, &d.ReceivedAt},
		{"due_at", w.DueAt, &d.DueAt},
		{"finished_at", w.FinishedAt, &d.FinishedAt},
		{"returned_at", w.ReturnedAt, &d.ReturnedAt},
	} {
		v := optional(f.in)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return fail(f.name, "must be RFC 3339 with an offset, or null")
		}
		t = t.UTC()
		*f.out = &t
	}
	return d, nil
}

func required(s *string) (string, bool) {
	if s == nil {
		return "", false
	}
	v := strings.TrimSpace(*s)
	return v, v != ""
}

func optional(s *string) string {
	if s == nil {
		return ""
	}
	return strings.TrimSpace(*s)
}

// MaxFutureSkew is how far after the server's clock an event's occurred_at
// may lie (clocks of two systems differ a little; a year 2099 does not).
const MaxFutureSkew = 10 * time.Minute

// Text from the one-stop system is handled in two ways (issue 10: a NUL
// reached the database and every retry of the batch got a 500):
//
//   - Identifiers (event_id, dossier.code, dossier.procedure_code) are
//     refused with a 400 naming the field when they hold a control character
//     (NUL included) or U+FFFD, which is what the JSON decoder makes of
//     invalid UTF-8 and of lone surrogate escapes. Repairing an identifier
//     would change its identity: two different corrupt ids could both become
//     the same text and the second event would be taken for a duplicate, and
//     a code that is not the one the one-stop system holds would answer
//     nobody's look-up. The sender has to fix its data.
//   - Free text (note, procedure_name, agency, applicant_name, officer) is
//     cleaned: NUL and the other control characters are removed (the note
//     keeps its line breaks and tabs; the one-line fields turn them into
//     spaces) and invalid UTF-8 is already U+FFFD. A stray control byte
//     pasted into a name is no reason to hold back a dossier's status from
//     the citizen, and nothing is lost that anyone could read.
//
// Fields with a fixed shape (occurred_at and the dates, status,
// submitted_via, applicant_phone) are refused by their own parsers.

// badIdentifier says what is wrong with an identifier, or "".
func badIdentifier(s string) string {
	for _, r := range s {
		switch {
		case r == 0:
			return "must not contain a NUL character"
		case r == utf8.RuneError:
			return "must be valid UTF-8 (it holds invalid bytes or U+FFFD)"
		case unicode.IsControl(r):
			return fmt.Sprintf("must not contain the control character %U", r)
		}
	}
	return ""
}

// cleanText removes NUL and other control characters (C0, DEL, C1) from
// free text and NFC-normalises it. multiline keeps line breaks and tabs (a
// CR LF becomes LF); otherwise they become spaces.
func cleanText(s string, multiline bool) string {
	s = validUTF8(s) // the JSON decoder already did this; cheap safety
	if multiline {
		s = strings.ReplaceAll(s, "\r\n", "\n")
	}
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			if multiline && r != '\r' {
				return r
			}
			return ' '
		case unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return vntext.NFC(strings.TrimSpace(s))
}

// validUTF8 replaces each byte of invalid UTF-8 with U+FFFD, as the JSON
// decoder does (strings.ToValidUTF8 would merge a run into one).
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s))
}
