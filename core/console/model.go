// Package console is the officers' console: server-rendered pages under
// /console (Vietnamese first, English second, usable on a phone and
// without JavaScript) and the JSON API under /console/api/v1 they sit on.
// It holds accounts and their roles, sessions and API keys, the operator
// pages (officers, alert subscriptions, sync runs, the outbox, opt-outs,
// channel health, search misses and the synonym editor) and the audit log.
//
// The package declares the small interfaces it consumes (Store and the
// operator readers below); package store implements them and cmd/dvcbot
// wires the two.
package console

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Role is what an account or API key may do.
type Role string

// Roles.
const (
	// Admin: everything, every agency; accounts, API keys, the audit log.
	Admin Role = "admin"
	// Leader: reads every report and operator page of every agency.
	Leader Role = "leader"
	// Officer: reads and acts on its own agency's data (dossiers, officers).
	Officer Role = "officer"
	// Viewer: read-only, within its agency when it has one.
	Viewer Role = "viewer"
)

// Roles lists the roles, most powerful first.
var Roles = []Role{Admin, Leader, Officer, Viewer}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	if slices.Contains(Roles, Role(s)) {
		return Role(s), nil
	}
	return "", errors.New("role must be admin, leader, officer or viewer")
}

// Errors of the stores.
var (
	ErrExists   = errors.New("already exists")
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("not in a state that allows this")
)

// Account is a person who signs in to the console.
type Account struct {
	ID          int64      `json:"id"`
	Email       string     `json:"email"`
	Name        string     `json:"name"`
	Role        Role       `json:"role"`
	Agency      string     `json:"agency"`
	Closed      bool       `json:"closed"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
	LastSignIn  *time.Time `json:"last_sign_in,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// APIKey is a machine's credential; only its hash is stored.
type APIKey struct {
	ID        int64      `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Agency    string     `json:"agency"`
	Prefix    string     `json:"prefix"` // the first characters, to recognise a key
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
}

// Principal is who makes a request: an account or an API key.
type Principal struct {
	Kind   string `json:"kind"` // "account", "apikey" or "cli"
	ID     int64  `json:"id"`
	Name   string `json:"name"` // e-mail of an account, name of a key
	Role   Role   `json:"role"`
	Agency string `json:"agency"`
}

// Actor is how the audit log names the principal.
func (p Principal) Actor() string { return p.Kind + ":" + p.Name }

// Scope is the agency whose data the principal sees; empty: every agency.
// An admin sees everything whatever its agency.
func (p Principal) Scope() string {
	if p.Role == Admin {
		return ""
	}
	return p.Agency
}

// CanWrite reports whether the principal may change anything at all.
func (p Principal) CanWrite() bool { return p.Role == Admin || p.Role == Officer }

// SeesOperations reports whether the principal may read the operator pages
// that span every agency (outbox, sync, channel health, search, opt-outs):
// admins, leaders, and viewers without an agency.
func (p Principal) SeesOperations() bool {
	return p.Role == Admin || p.Role == Leader || (p.Role == Viewer && p.Agency == "")
}

// InScope reports whether data of agency is visible to the principal.
func (p Principal) InScope(agency string) bool {
	s := p.Scope()
	return s == "" || s == agency
}

// AuditEntry is one line of the audit log: a console or API action, a
// sign-in, or a dossier look-up on a channel. It never holds message text.
type AuditEntry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Actor   string    `json:"actor"`  // account:e-mail, apikey:name, cli:user, or the channel user (hashed)
	Role    string    `json:"role"`   // the actor's role (console), empty for citizens
	Source  string    `json:"source"` // IP address, "cli", or the channel
	Action  string    `json:"action"` // e.g. account.create, outbox.retry, dossier.lookup
	Target  string    `json:"target"` // what was acted on
	Before  string    `json:"before,omitempty"`
	After   string    `json:"after,omitempty"`
	Channel string    `json:"channel,omitempty"`
	User    string    `json:"user,omitempty"` // a hash of the channel's user id (look-ups)
	Dossier string    `json:"dossier,omitempty"`
	Agency  string    `json:"agency,omitempty"` // the dossier's agency (look-ups)
	Tier    *int      `json:"tier,omitempty"`   // disclosure tier shown (look-ups)
}

// AuditFilter selects audit entries; zero fields match everything.
type AuditFilter struct {
	Actor, Action, Dossier, Channel, User string
	From, To                              time.Time
	Agency                                string // only look-ups of this agency's dossiers
	BeforeID                              int64  // paging: entries with a smaller id
	Limit                                 int
}

// LookupAudit records a dossier look-up on a channel: the channel, the
// user id on it (stored hashed), the dossier code and the disclosure tier
// shown (0 code only, 1 verified; -1 when nothing was shown: not found,
// refused). The citizen bot calls it on every look-up.
type LookupAudit interface {
	Record(ctx context.Context, channel, user, dossier string, tier int) error
}

// OfficerRow is an officer who receives alerts, as the console lists it.
type OfficerRow struct {
	ID          int64      `json:"id"`
	Name        string     `json:"name"`
	Email       string     `json:"email"`
	Agency      string     `json:"agency"`
	Telegram    bool       `json:"telegram_linked"`
	InvitePends bool       `json:"invite_pending"`
	InviteEnds  *time.Time `json:"invite_expires_at,omitempty"`
	LinkedAt    *time.Time `json:"linked_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Subscription is an alert subscription (e-mail or SMS).
type Subscription struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Address   string    `json:"address"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// SyncRun is one catalogue sync run.
type SyncRun struct {
	ID          int64      `json:"id"`
	StartedAt   time.Time  `json:"started_at"`
	FinishedAt  *time.Time `json:"finished_at,omitempty"`
	WindowStart time.Time  `json:"window_start"`
	WindowEnd   time.Time  `json:"window_end"`
	State       string     `json:"state"`
	Fetched     int        `json:"fetched"`
	New         int        `json:"new"`
	Modified    int        `json:"modified"`
	Cancelled   int        `json:"cancelled"`
	Restored    int        `json:"restored"`
	Alerts      int        `json:"alerts"`
	Skipped     int        `json:"skipped"`
	Error       string     `json:"error,omitempty"`
}

// OutboxMessage is one outbound message as operators see it.
type OutboxMessage struct {
	ID             int64      `json:"id"`
	Kind           string     `json:"kind"`
	Recipient      string     `json:"recipient"`
	State          string     `json:"state"`
	Attempts       int        `json:"attempts"`
	LastError      string     `json:"last_error,omitempty"`
	DeliveryStatus string     `json:"delivery_status,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	NextAttemptAt  time.Time  `json:"next_attempt_at"`
	SentAt         *time.Time `json:"sent_at,omitempty"`
	InFlight       bool       `json:"in_flight"`
	Subject        string     `json:"subject,omitempty"`
}

// OptOut is a phone that refused proactive SMS.
type OptOut struct {
	Phone     string    `json:"phone"`
	CreatedAt time.Time `json:"created_at"`
}

// Miss is a search query that found nothing or little, counted.
type Miss struct {
	Query     string    `json:"query"` // empty once retention stripped it
	Kind      string    `json:"kind"`  // "none" or "weak"
	Count     int       `json:"count"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Override is a synonym or a stop-word the search applies at runtime.
type Override struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"` // "synonym" or "stopword"
	Term        string    `json:"term"`
	Replacement string    `json:"replacement,omitempty"` // synonyms: what the term means
	CreatedBy   string    `json:"created_by"`
	CreatedAt   time.Time `json:"created_at"`
}

// Override kinds.
const (
	Synonym  = "synonym"
	StopWord = "stopword"
)

// DossierRow is a dossier as the console lists it (no phone number).
type DossierRow struct {
	Code          string     `json:"code"`
	ProcedureCode string     `json:"procedure_code"`
	ProcedureName string     `json:"procedure_name"`
	Agency        string     `json:"agency"`
	Status        int        `json:"status"`
	StatusName    string     `json:"status_name"`
	ReceivedAt    *time.Time `json:"received_at,omitempty"`
	DueAt         *time.Time `json:"due_at,omitempty"`
	StatusAt      time.Time  `json:"status_at"`
	Applicant     string     `json:"applicant"` // masked
}

// ChannelHealth is what the health page shows.
type ChannelHealth struct {
	Zalo struct {
		Configured   bool       `json:"configured"`
		ExpiresAt    *time.Time `json:"expires_at,omitempty"`
		LastRefresh  *time.Time `json:"last_refresh,omitempty"`
		ExpiresInSec int64      `json:"expires_in_seconds"`
	} `json:"zalo"`
	LastInbound []LastInbound `json:"last_inbound"`
	Spool       struct {
		Records int   `json:"records"`
		Bytes   int64 `json:"bytes"`
	} `json:"spool"`
	Telegram map[string]string `json:"telegram,omitempty"`
}

// LastInbound is the last message received per channel and gateway.
type LastInbound struct {
	Channel string    `json:"channel"`
	Gateway string    `json:"gateway,omitempty"`
	At      time.Time `json:"at"`
	Count24 int       `json:"last_24h"`
}
