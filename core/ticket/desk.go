package ticket

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Defaults of the settings.
const (
	DefaultIdle       = 7 * 24 * time.Hour // DVCBOT_TICKET_IDLE
	DefaultPause      = 30 * time.Minute   // DVCBOT_HUMAN_PAUSE
	DefaultZaloWindow = 48 * time.Hour     // the OA may write freely this long after the user
	SMSSegments       = 2                  // an officer's answer by SMS fits two segments
	// AckAfter: a citizen's message on an open ticket is acknowledged when
	// the previous one is older than this; otherwise silence.
	AckAfter = 10 * time.Minute
	// ZNSKind is the outbox kind of Zalo template messages.
	ZNSKind = "zns"
)

// Config builds a Desk.
type Config struct {
	Store      Store
	Hours      Hours
	Idle       time.Duration
	Pause      time.Duration
	ZaloWindow time.Duration
	// ZNSTemplate is an approved ZNS template (params ma_phieu, noi_dung)
	// for answers to Zalo users outside the window; "" sends SMS then.
	ZNSTemplate string
	Log         *slog.Logger
	Now         func() time.Time
}

// Desk is the hand-off service the route and the inbox share.
type Desk struct {
	cfg Config
	hub *Hub
}

// New returns a desk.
func New(cfg Config) *Desk {
	if cfg.Idle <= 0 {
		cfg.Idle = DefaultIdle
	}
	if cfg.Pause <= 0 {
		cfg.Pause = DefaultPause
	}
	if cfg.ZaloWindow <= 0 {
		cfg.ZaloWindow = DefaultZaloWindow
	}
	if cfg.Hours.End == 0 {
		cfg.Hours = MustHours(DefaultWorkingHours)
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Desk{cfg: cfg, hub: NewHub()}
}

// Config is the desk's configuration.
func (d *Desk) Config() Config { return d.cfg }

// Store is the desk's store.
func (d *Desk) Store() Store { return d.cfg.Store }

// Hub is the desk's change feed in this process.
func (d *Desk) Hub() *Hub { return d.hub }

func (d *Desk) now() time.Time { return d.cfg.Now().UTC() }

// Open opens a ticket for t's citizen, or returns the open one.
func (d *Desk) Open(ctx context.Context, t Ticket) (Ticket, bool, error) {
	now := d.now()
	t.State, t.OpenedAt, t.LastActivity, t.LastCitizenAt = Open, now, now, now
	out, created, err := d.cfg.Store.Create(ctx, t)
	if err == nil {
		d.hub.Publish()
	}
	return out, created, err
}

// Opened is the citizen's confirmation of a new ticket.
func (d *Desk) Opened(t Ticket) string {
	about := ""
	switch {
	case t.Dossier != "":
		about = T(t.Lang, "about_dossier", "Code", t.Dossier)
	case t.Procedure != "":
		about = T(t.Lang, "about_procedure", "Code", t.Procedure)
	}
	return T(t.Lang, "opened", "N", t.Label(), "About", about, "When", d.cfg.Hours.When(t.Lang, t.OpenedAt))
}

// Status reads what the route needs of a citizen.
func (d *Desk) Status(ctx context.Context, channel, user, msgID string) (Status, error) {
	return d.cfg.Store.Status(ctx, channel, user, msgID, d.now())
}

// Touch records a citizen's message on an open ticket.
func (d *Desk) Touch(ctx context.Context, n int64) error {
	err := d.cfg.Store.Touch(ctx, n, d.now())
	if err == nil {
		d.hub.Publish()
	}
	return err
}

// Officer is who answers from the console.
type Officer struct {
	ID     int64
	Name   string
	Agency string
}

// Answer sends an officer's text to the ticket's citizen through the
// outbox and records it; an unassigned ticket moves into claim's agency.
func (d *Desk) Answer(ctx context.Context, n int64, o Officer, text, claim string) (Ticket, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return Ticket{}, errors.New("text is empty")
	}
	t, err := d.cfg.Store.Get(ctx, n)
	if err != nil {
		return Ticket{}, err
	}
	if t.State != Open {
		return Ticket{}, ErrConflict
	}
	out, err := d.Deliver(ctx, t, T(t.Lang, "answer", "N", t.Label(), "Text", text), T(t.Lang, "answer_sms", "N", t.Label(), "Text", text), nil, "reply|"+nonce())
	if err != nil {
		return Ticket{}, err
	}
	t, err = d.cfg.Store.Answer(ctx, n, Entry{At: d.now(), Author: ByOfficer, Name: o.Name, Text: text}, out, claim)
	if err == nil {
		d.hub.Publish()
	}
	return t, err
}

// Assign sets a ticket's assignee and (agency != nil) its agency.
func (d *Desk) Assign(ctx context.Context, n, assignee int64, name string, agency *string, by string) (Ticket, error) {
	note := "→ " + name
	if agency != nil {
		note += " · " + *agency
	}
	t, err := d.cfg.Store.Assign(ctx, n, assignee, name, agency, Entry{At: d.now(), Author: BySystem, Name: by, Text: strings.TrimSpace(note)})
	if err == nil {
		d.hub.Publish()
	}
	return t, err
}

// Close closes an open ticket. notifyCitizen sends the closing message and
// the satisfaction question through the outbox (an officer or the idle
// job closed it); the route answers the citizen's own KET THUC in-band.
func (d *Desk) Close(ctx context.Context, n int64, by, why string, notifyCitizen bool) (Ticket, error) {
	t, err := d.cfg.Store.Get(ctx, n)
	if err != nil {
		return Ticket{}, err
	}
	if t.State != Open {
		return Ticket{}, ErrConflict
	}
	var out []notify.Message
	if notifyCitizen {
		text := d.ClosingText(t, why)
		out, err = d.Deliver(ctx, t, text, text, d.RatingChoices(t), "close|"+strconv.FormatInt(t.Version, 10))
		if err != nil {
			return Ticket{}, err
		}
	}
	t, err = d.cfg.Store.CloseTicket(ctx, n, by, d.now(), out)
	if err == nil {
		d.hub.Publish()
	}
	return t, err
}

// Closing reasons.
const (
	ByCitizenEnd = "citizen"
	ByOfficerEnd = "officer"
	ByIdle       = "idle"
)

// ClosingText is the closing message with the satisfaction question.
func (d *Desk) ClosingText(t Ticket, why string) string {
	var s string
	switch why {
	case ByIdle:
		s = T(t.Lang, "closed_idle", "N", t.Label(), "Days", strconv.Itoa(max(1, int(d.cfg.Idle/(24*time.Hour)))))
	case ByOfficerEnd:
		s = T(t.Lang, "closed_officer", "N", t.Label())
	default:
		s = T(t.Lang, "closed_citizen", "N", t.Label())
	}
	return s + "\n" + T(t.Lang, "satisfaction")
}

// RatingChoices are the satisfaction buttons of ticket t.
func (d *Desk) RatingChoices(t Ticket) []message.Choice {
	var out []message.Choice
	for l := 1; l <= 3; l++ {
		out = append(out, message.Choice{Label: T(t.Lang, "rate_"+strconv.Itoa(l)), Value: RatingValue(t.Number, l)})
	}
	return out
}

// Reopen opens a closed ticket again and tells the citizen.
func (d *Desk) Reopen(ctx context.Context, n int64, by string) (Ticket, error) {
	t, err := d.cfg.Store.Reopen(ctx, n, Entry{At: d.now(), Author: BySystem, Name: by, Text: "reopened"})
	if err != nil {
		return t, err
	}
	d.hub.Publish()
	text := T(t.Lang, "reopened", "N", t.Label())
	out, err := d.Deliver(ctx, t, text, text, nil, "reopen|"+strconv.FormatInt(t.Version, 10))
	if err == nil && len(out) > 0 {
		_, err = d.cfg.Store.Answer(ctx, n, Entry{At: d.now(), Author: BySystem, Name: by, Text: text}, out, "")
	}
	return t, err
}

// Rate records a satisfaction level.
func (d *Desk) Rate(ctx context.Context, n int64, level int) error {
	err := d.cfg.Store.Rate(ctx, n, level)
	if err == nil {
		d.hub.Publish()
	}
	return err
}

// Pause silences the bot for a Zalo user an OA admin wrote to.
func (d *Desk) Pause(ctx context.Context, channel, user, text string) error {
	now := d.now()
	err := d.cfg.Store.Pause(ctx, channel, user, now.Add(d.cfg.Pause), Entry{At: now, Author: ByOfficer, Name: "Zalo OA", Text: text})
	if err == nil {
		d.hub.Publish()
	}
	return err
}

// RotatedNote is the system entry an open ticket gets when its citizen's
// web chat session is rotated (they verified as a dossier's applicant).
const RotatedNote = "verified as a dossier's applicant: web chat session renewed"

// RotateSession gives a citizen who just verified a new web chat session
// id and moves their hand-off with it, in one transaction
// (Store.RotateSession): the officer's next answer goes to the page that
// holds the new id, the citizen's next message lands on the same ticket,
// and the old id, which someone else may hold (a planted cookie), keeps
// nothing. It has the signature of the web chat's session rotation
// (channels.SessionKeeper.RotateSession) and replaces it there
// (webchat.WithRotator).
func (d *Desk) RotateSession(ctx context.Context, channel, id string) (newID, sessionTicket string, err error) {
	now := d.now()
	newID, sessionTicket, moved, err := d.cfg.Store.RotateSession(ctx, channel, id, now,
		Entry{At: now, Author: BySystem, Name: channel, Text: RotatedNote})
	if err != nil {
		return "", "", err
	}
	if moved > 0 {
		d.cfg.Log.Info("hand-off follows a rotated session", "channel", channel, "tickets", moved)
		d.hub.Publish()
	}
	return newID, sessionTicket, nil
}

// Deliver plans the outbox messages that carry text to t's citizen on
// their channel: SMS from the shortcode (accent-free within two
// segments); Zalo OA inside the window, else a ZNS template, else SMS to a
// shared phone; Telegram; the web chat's open pages. key makes the dedupe
// key unique per ticket.
func (d *Desk) Deliver(ctx context.Context, t Ticket, text, smsText string, choices []message.Choice, key string) ([]notify.Message, error) {
	dedupe := "ticket|" + strconv.FormatInt(t.Number, 10) + "|" + key
	sms := func(phone string) []notify.Message {
		s, _ := vntext.FitSMS(vntext.ToGSM(smsText), "", SMSSegments)
		return []notify.Message{{Kind: notify.SMS, Recipient: phone, Payload: notify.Payload{Text: s}, DedupeKey: dedupe}}
	}
	rich := func(kind, to string) []notify.Message {
		return []notify.Message{{Kind: kind, Recipient: to, Payload: notify.Payload{Text: text, Choices: choices}, DedupeKey: dedupe}}
	}
	switch t.Channel {
	case message.SMS:
		return sms(t.ReplyTo()), nil
	case message.WebChat:
		return rich(notify.WebChat, t.ReplyTo()), nil
	case message.Telegram:
		return rich(notify.Telegram, t.ReplyTo()), nil
	case message.Zalo:
		seen, err := d.cfg.Store.LastSeen(ctx, t.Channel, t.UserID)
		if err != nil {
			return nil, err
		}
		if !seen.IsZero() && d.now().Sub(seen) <= d.cfg.ZaloWindow {
			return rich(notify.Zalo, t.ReplyTo()), nil
		}
		phone := t.Phone
		if phone == "" {
			if phone, err = d.cfg.Store.LinkedPhone(ctx, t.Channel, t.UserID); err != nil {
				return nil, err
			}
		}
		switch {
		case phone != "" && d.cfg.ZNSTemplate != "":
			b, _ := json.Marshal(map[string]string{"ma_phieu": t.Label(), "noi_dung": cut(text, 90)})
			return []notify.Message{{Kind: ZNSKind, Recipient: phone, Payload: notify.Payload{Subject: d.cfg.ZNSTemplate, Text: string(b)}, DedupeKey: dedupe}}, nil
		case phone != "":
			return sms(phone), nil
		}
		return rich(notify.Zalo, t.ReplyTo()), nil // no phone: the OA may still reach them
	}
	return nil, nil
}

func cut(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func nonce() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// IdleEvery is how often the idle job looks (bounded by the idle time).
func (d *Desk) IdleEvery() time.Duration {
	return min(max(d.cfg.Idle/50, time.Second), 10*time.Minute)
}

// CloseIdle closes tickets idle for longer than DVCBOT_TICKET_IDLE, with
// a message to the citizen; it returns how many it closed. Replicas may
// run it together: a ticket closes once (CloseTicket is conditional, the
// message's dedupe key is the ticket's version).
func (d *Desk) CloseIdle(ctx context.Context) (int, error) {
	list, err := d.cfg.Store.Idle(ctx, d.now().Add(-d.cfg.Idle), 100)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range list {
		_, err := d.Close(ctx, t.Number, "system:idle", ByIdle, true)
		if errors.Is(err, ErrConflict) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// RunIdle runs CloseIdle until ctx ends.
func (d *Desk) RunIdle(ctx context.Context) error {
	tick := time.NewTicker(d.IdleEvery())
	defer tick.Stop()
	for {
		if n, err := d.CloseIdle(ctx); err != nil {
			d.cfg.Log.Warn("closing idle tickets failed", "error", err)
		} else if n > 0 {
			d.cfg.Log.Info("idle tickets closed", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Hub wakes the inbox's live feeds of this process when a ticket changes
// (feeds also poll, for changes made by other replicas).
type Hub struct {
	mu   sync.Mutex
	subs map[chan struct{}]bool
}

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{subs: map[chan struct{}]bool{}} }

// Subscribe returns a channel that receives after each change, and the
// function that ends the subscription.
func (h *Hub) Subscribe() (<-chan struct{}, func()) {
	c := make(chan struct{}, 1)
	h.mu.Lock()
	h.subs[c] = true
	h.mu.Unlock()
	return c, func() {
		h.mu.Lock()
		delete(h.subs, c)
		h.mu.Unlock()
	}
}

// Publish wakes every subscriber (without blocking).
func (h *Hub) Publish() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.subs {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}
