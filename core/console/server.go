package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/ticket"
)

// Store keeps accounts, sessions, API keys, sign-in attempts and the audit
// log. The audit log is append-only: the store offers no way to change it.
type Store interface {
	CreateAccount(ctx context.Context, a Account, passwordHash string) (Account, error)
	// UpdateAccount changes name, role, agency and closed; a non-empty hash
	// replaces the password. Closing an account ends its sessions.
	UpdateAccount(ctx context.Context, a Account, passwordHash string) (Account, error)
	Account(ctx context.Context, id int64) (Account, error)
	AccountByEmail(ctx context.Context, email string) (Account, string, error)
	Accounts(ctx context.Context) ([]Account, error)
	CountAccounts(ctx context.Context) (int, error)
	// SignInFailed counts a wrong password; at maxFailures in a row the
	// account is locked for lockFor. It reports whether it is now locked.
	SignInFailed(ctx context.Context, id int64, maxFailures int, lockFor time.Duration) (bool, error)
	SignInSucceeded(ctx context.Context, id int64) error

	CreateSession(ctx context.Context, tokenHash string, accountID int64, expires time.Time, ip string) error
	// Session returns the open account of a live session (ErrNotFound otherwise).
	Session(ctx context.Context, tokenHash string) (Account, error)
	DeleteSession(ctx context.Context, tokenHash string) error

	CreateAPIKey(ctx context.Context, k APIKey, keyHash string) (APIKey, error)
	// APIKeyByHash returns a key that is not revoked (ErrNotFound otherwise).
	APIKeyByHash(ctx context.Context, keyHash string) (APIKey, error)
	APIKeys(ctx context.Context) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, id int64) (APIKey, error)

	RecordSignIn(ctx context.Context, ip string, ok bool) error
	FailedSignIns(ctx context.Context, ip string, since time.Time) (int, error)

	AppendAudit(ctx context.Context, e AuditEntry) error
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
}

// Ops reads and acts on what the operator pages show.
type Ops interface {
	Dossiers(ctx context.Context, agency string, status, limit int) ([]DossierRow, error)
	Dossier(ctx context.Context, code string) (DossierRow, error)
	Officers(ctx context.Context, agency string) ([]OfficerRow, error)
	Officer(ctx context.Context, id int64) (OfficerRow, error)
	SetOfficerAgency(ctx context.Context, id int64, agency string) error
	Subscriptions(ctx context.Context) ([]Subscription, error)
	Subscribe(ctx context.Context, kind, address, name string) error
	Unsubscribe(ctx context.Context, kind, address string) (bool, error)
	SyncRuns(ctx context.Context, limit int) ([]SyncRun, error)
	SyncSkips(ctx context.Context) ([]catalogsync.Skip, error) // the procedures the portal would not serve
	Outbox(ctx context.Context, state string, limit int) ([]OutboxMessage, error)
	OutboxMessage(ctx context.Context, id int64) (OutboxMessage, error)
	// RetryOutbox queues a failed message again with fresh attempts;
	// CancelOutbox gives it up for good. Both answer ErrConflict for a
	// message that is not failed.
	RetryOutbox(ctx context.Context, id int64) (OutboxMessage, error)
	CancelOutbox(ctx context.Context, id int64) (OutboxMessage, error)
	OptOuts(ctx context.Context) ([]OptOut, error)
	SetOptOut(ctx context.Context, phone string, out bool) error
	Misses(ctx context.Context, limit int) ([]Miss, error)
	Overrides(ctx context.Context) ([]Override, error)
	AddOverride(ctx context.Context, o Override) (Override, error)
	DeleteOverride(ctx context.Context, id int64) (Override, error)
	LastInbound(ctx context.Context, since time.Time) ([]LastInbound, error)
	// CredentialTimes is a channel credential's expiry and last refresh
	// (found false: none).
	CredentialTimes(ctx context.Context, name string) (expires, refreshed time.Time, found bool, err error)
}

// Config is what the console is built from.
type Config struct {
	Store Store
	Ops   Ops
	Tuner *Tuner // nil: the search pages show misses only if recorded elsewhere
	// Reports reads the satisfaction reports (nil: no report pages, no
	// scoreboard, no ratings feed; reports.go).
	Reports ReportStore
	// Tickets is the hand-off desk (nil: no inbox; inbox.go).
	Tickets *ticket.Desk
	// Invite creates an officer and its Telegram link code.
	Invite func(ctx context.Context, name, email string) (id int64, code string, err error)
	// Spool reports the disk spool's records and bytes (nil: no spool).
	Spool func() (int, int64)
	// Telegram reports the webhook's state (nil: not configured).
	Telegram func(ctx context.Context) (map[string]string, error)
	// ZaloCredential names the Zalo OA token among the channel credentials.
	ZaloCredential string
	SessionTTL     time.Duration
	// SecureCookies marks cookies Secure even on plain requests (the service
	// sits behind an https proxy).
	SecureCookies bool
	Log           *slog.Logger
	Now           func() time.Time
}

// Sign-in limits.
const (
	MaxFailures      = 5                // wrong passwords in a row before an account locks
	LockFor          = 15 * time.Minute // how long it stays locked
	IPFailures       = 20               // failed sign-ins from one address…
	IPWindow         = 15 * time.Minute // …in this window before it is refused
	DefaultTTL       = 12 * time.Hour
	sessionCookie    = "dvcbot_console"
	langCookie       = "dvcbot_console_lang"
	maxJSONBody      = 64 << 10
	defaultListLimit = 200
)

// Server serves /console and /console/api/v1.
type Server struct {
	cfg     Config
	mux     *http.ServeMux
	handler http.Handler
	log     *slog.Logger
	now     func() time.Time
}

// New builds the console.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Ops == nil {
		return nil, errors.New("console: Store and Ops are required")
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultTTL
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), log: cfg.Log, now: cfg.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.routes()
	if err := s.pages(); err != nil {
		return nil, err
	}
	s.registerInbox()
	// Cross-origin browser requests that change state (a form another site
	// posts, a fetch from its script) are refused with 403; API clients that
	// send neither Sec-Fetch-Site nor Origin (machines) pass.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.audit(r, Principal{Kind: "anonymous"}, "request.cross_origin_refused", r.Method+" "+r.URL.Path, "", "")
		httpx.Error(w, http.StatusForbidden, "cross-origin request refused")
	}))
	s.handler = cop.Handler(s.mux)
	return s, nil
}

// Register mounts the console on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("/console", s)
	mux.Handle("/console/", s)
	s.registerReports(mux)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
	s.handler.ServeHTTP(w, r)
}

// principalKey keys the request's principal in its context.
type principalKey struct{}

// PrincipalOf returns the request's principal, if authenticated.
func PrincipalOf(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// authenticate finds the principal of a request: an API key in
// Authorization: Bearer, or the session cookie.
func (s *Server) authenticate(r *http.Request) (Principal, bool, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		key, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || !strings.HasPrefix(key, APIKeyPrefix) {
			return Principal{}, false, nil
		}
		k, err := s.cfg.Store.APIKeyByHash(r.Context(), TokenHash(strings.TrimSpace(key)))
		if errors.Is(err, ErrNotFound) {
			return Principal{}, false, nil
		}
		if err != nil {
			return Principal{}, false, err
		}
		return Principal{Kind: "apikey", ID: k.ID, Name: k.Name, Role: k.Role, Agency: k.Agency}, true, nil
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return Principal{}, false, nil
	}
	a, err := s.cfg.Store.Session(r.Context(), TokenHash(c.Value))
	if errors.Is(err, ErrNotFound) {
		return Principal{}, false, nil
	}
	if err != nil {
		return Principal{}, false, err
	}
	return Principal{Kind: "account", ID: a.ID, Name: a.Email, Role: a.Role, Agency: a.Agency}, true, nil
}

// Access levels of a route.
type access int

const (
	readAny    access = iota // any signed-in principal; data filtered to its agency
	readOps                  // Principal.SeesOperations
	readAdmin                // admins only
	writeScope               // admins, and officers within their agency
	writeAdmin               // admins only
)

func (a access) allows(p Principal) bool {
	switch a {
	case readAny:
		return true
	case readOps:
		return p.SeesOperations()
	case writeScope:
		return p.CanWrite()
	default:
		return p.Role == Admin
	}
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e apiError) Error() string { return e.msg }

func errStatus(status int, format string, args ...any) error {
	return apiError{status, fmt.Sprintf(format, args...)}
}

var (
	errForbidden  = apiError{http.StatusForbidden, "your role or agency does not allow this"}
	errNotSignedI = apiError{http.StatusUnauthorized, "sign in or send Authorization: Bearer <API key>"}
)

// apiHandler answers a JSON API request for an authorised principal.
type apiHandler func(r *http.Request, p Principal) (any, error)

// api registers a JSON route under /console/api/v1.
func (s *Server) api(method, path string, acc access, h apiHandler) {
	s.mux.HandleFunc(method+" /console/api/v1"+path, func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := s.authenticate(r)
		if err != nil {
			s.log.Error("console: authentication", "error", err)
			httpx.Error(w, http.StatusServiceUnavailable, "the database did not answer")
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="dvcbot console"`)
			httpx.Error(w, http.StatusUnauthorized, errNotSignedI.msg)
			return
		}
		if !acc.allows(p) {
			s.audit(r, p, "request.forbidden", method+" "+r.URL.Path, "", "")
			httpx.Error(w, http.StatusForbidden, errForbidden.msg)
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		v, err := h(r.WithContext(ctx), p)
		if err != nil {
			s.writeError(w, r, p, err)
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		httpx.JSON(w, http.StatusOK, v)
	})
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, p Principal, err error) {
	var ae apiError
	switch {
	case errors.As(err, &ae):
		if ae.status == http.StatusForbidden {
			s.audit(r, p, "request.forbidden", r.Method+" "+r.URL.Path, "", "")
		}
		httpx.Error(w, ae.status, ae.msg)
	case errors.Is(err, ErrNotFound):
		httpx.Error(w, http.StatusNotFound, "not found")
	case errors.Is(err, ErrExists):
		httpx.Error(w, http.StatusConflict, "already exists")
	case errors.Is(err, ErrConflict):
		httpx.Error(w, http.StatusConflict, err.Error())
	default:
		s.log.Error("console: request failed", "path", r.URL.Path, "error", err)
		httpx.Error(w, http.StatusInternalServerError, "internal error")
	}
}

// decode reads a JSON body into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := httpx.ReadBody(w, r, maxJSONBody)
	if err != nil {
		return errStatus(http.StatusRequestEntityTooLarge, "body too large")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errStatus(http.StatusBadRequest, "invalid JSON: %v", err)
	}
	return nil
}

// clientIP is the caller's address (no proxy header is trusted).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// audit appends an entry; a failure is logged (the action already happened).
func (s *Server) audit(r *http.Request, p Principal, action, target, before, after string) {
	e := AuditEntry{At: s.now().UTC(), Actor: p.Actor(), Role: string(p.Role), Source: clientIP(r), Action: action,
		Target: target, Before: before, After: after}
	if p.Kind == "anonymous" || p.Kind == "" {
		e.Actor = "anonymous"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.AppendAudit(ctx, e); err != nil {
		s.log.Error("console: audit log write failed", "action", action, "error", err)
	}
}

// asJSON renders a value for the audit log's before and after.
func asJSON(v any) string {
	if v == nil {
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// secure reports whether cookies must carry Secure.
func (s *Server) secure(r *http.Request) bool {
	return s.cfg.SecureCookies || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
