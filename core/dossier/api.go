package dossier

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/signature"
)

// MaxBody is the largest request body POST /api/v1/dossiers accepts.
const MaxBody = 1 << 20

// API serves POST /api/v1/dossiers (dossier-events.md).
type API struct {
	store   Store
	secret  []byte
	now     func() time.Time
	log     *slog.Logger
	events  *prometheus.CounterVec
	refused *prometheus.CounterVec
	linker  Linker
}

// APIOption configures an API.
type APIOption func(*API)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) APIOption { return func(a *API) { a.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) APIOption { return func(a *API) { a.log = l } }

// Linker gives a stored dossier its public look-up URL (core/lookup).
type Linker interface {
	LookupURL(ctx context.Context, code string) (string, error)
}

// WithLinker answers every result with its dossier's lookup_url.
func WithLinker(l Linker) APIOption { return func(a *API) { a.linker = l } }

// WithMetrics registers the API's counters on reg.
func WithMetrics(reg prometheus.Registerer) APIOption {
	return func(a *API) { reg.MustRegister(a.events, a.refused) }
}

// NewAPI returns the ingestion handler. An empty secret refuses every request:
// unsigned writes are never accepted.
func NewAPI(store Store, secret []byte, opts ...APIOption) *API {
	a := &API{
		store:  store,
		secret: secret,
		now:    time.Now,
		log:    slog.Default(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_dossier_events_total", Help: "Dossier status events ingested, by result.",
		}, []string{"result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "dvcbot_dossier_requests_refused_total", Help: "Dossier API requests refused, by reason.",
		}, []string{"reason"}),
	}
	for _, o := range opts {
		o(a)
	}
	return a
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpx.Error(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	if len(a.secret) == 0 {
		a.refuse(w, http.StatusServiceUnavailable, "no_secret", "dossier ingestion is disabled: DVCBOT_DOSSIER_SECRET is not set")
		return
	}
	body, err := httpx.ReadBody(w, r, MaxBody)
	if errors.Is(err, httpx.ErrTooLarge) {
		a.refuse(w, http.StatusRequestEntityTooLarge, "too_large", "body larger than 1 MiB")
		return
	}
	if err != nil {
		a.refuse(w, http.StatusBadRequest, "unreadable", "could not read body")
		return
	}
	now := a.now()
	if err := signature.Verify(a.secret, r.Header.Get("X-DVC-Timestamp"), r.Header.Get("X-DVC-Signature"), body, now); err != nil {
		a.log.Warn("dossier event refused", "reason", err.Error(), "remote", r.RemoteAddr)
		a.refuse(w, http.StatusUnauthorized, "signature", err.Error())
		return
	}
	events, err := ParseEvents(body, now)
	var fe *FieldError
	if errors.As(err, &fe) {
		a.log.Warn("dossier event invalid", "field", fe.Field, "index", fe.Index, "error", fe.Message)
		a.refused.WithLabelValues("invalid").Inc()
		httpx.JSON(w, http.StatusBadRequest, fe)
		return
	}
	results, err := a.store.ApplyEvents(r.Context(), events)
	if errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		// The store's calls have deadlines: a stalled database ends here
		// instead of holding the request. The retry is safe: an event that
		// did get stored is answered duplicate.
		a.log.Error("dossier store unavailable", "error", err, "events", len(events))
		w.Header().Set("Retry-After", "5")
		a.refuse(w, http.StatusServiceUnavailable, "unavailable", "database unavailable; retry later")
		return
	}
	if err != nil {
		a.log.Error("storing dossier events failed", "error", err, "events", len(events))
		httpx.Error(w, http.StatusInternalServerError, "could not store events; retry later")
		return
	}
	for _, res := range results {
		a.events.WithLabelValues(string(res.Result)).Inc()
	}
	a.log.Info("dossier events ingested", "events", len(events))
	httpx.JSON(w, http.StatusOK, map[string]any{"results": a.withLinks(r.Context(), events, results)})
}

// linkedResult is a result with its dossier's look-up link.
type linkedResult struct {
	Result
	LookupURL string `json:"lookup_url,omitempty"`
}

// withLinks adds each dossier's lookup_url (results[i] answers events[i]).
// The events are stored by now: a link that cannot be made is logged and
// left out, never turned into a failure the sender would retry.
func (a *API) withLinks(ctx context.Context, events []Event, results []Result) any {
	if a.linker == nil || len(events) != len(results) {
		return results
	}
	// Links are extra: a slow database costs them, not the answer.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out := make([]linkedResult, len(results))
	urls := map[string]string{}
	for i, res := range results {
		code := events[i].Dossier.Code
		u, ok := urls[code]
		if !ok {
			var err error
			if u, err = a.linker.LookupURL(ctx, code); err != nil {
				a.log.Warn("no look-up link for a dossier", "code", code, "error", err)
			}
			urls[code] = u
		}
		out[i] = linkedResult{Result: res, LookupURL: u}
	}
	return out
}

func (a *API) refuse(w http.ResponseWriter, status int, reason, msg string) {
	a.refused.WithLabelValues(reason).Inc()
	httpx.Error(w, status, msg)
}
