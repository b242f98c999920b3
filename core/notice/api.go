package notice

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/signature"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// View is a notice as the one-stop system and operators see it.
type View struct {
	ID          int64      `json:"-"`
	DossierCode string     `json:"-"`
	Kind        string     `json:"kind"`
	Channel     string     `json:"channel"` // sms, zalo, zns, telegram, web, email
	State       string     `json:"state"`   // queued, held, sent, accepted, delivered, undelivered, failed
	Reason      string     `json:"reason,omitempty"`
	QueuedAt    time.Time  `json:"queued_at"`
	HeldUntil   *time.Time `json:"held_until,omitempty"`
	SentAt      *time.Time `json:"sent_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	Recipient   string     `json:"-"` // personal: operators' command only
}

// StatsRow counts notices of one kind, channel and state.
type StatsRow struct {
	Kind, Channel, State string
	Count                int
}

// Lister lists a dossier's notices.
type Lister interface {
	List(ctx context.Context, code string, limit int) ([]View, error)
}

// API serves GET /api/v1/dossiers/{code}/notices to the one-stop system,
// signed like the dossier API over an empty body (HMAC of timestamp + ".").
type API struct {
	list   Lister
	secret []byte
	now    func() time.Time
	log    *slog.Logger
}

// NewAPI returns the handler; an empty secret refuses every request.
func NewAPI(l Lister, secret []byte, now func() time.Time, log *slog.Logger) *API {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &API{list: l, secret: secret, now: now, log: log}
}

// Register adds the route.
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/dossiers/{code}/notices", a)
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(a.secret) == 0 {
		httpx.Error(w, http.StatusServiceUnavailable, "DVCBOT_DOSSIER_SECRET is not set")
		return
	}
	now := a.now()
	if err := signature.Verify(a.secret, r.Header.Get("X-DVC-Timestamp"), r.Header.Get("X-DVC-Signature"), nil, now); err != nil {
		a.log.Warn("notices request refused", "reason", err.Error(), "remote", r.RemoteAddr)
		httpx.Error(w, http.StatusUnauthorized, err.Error())
		return
	}
	code, err := vntext.NormalizeDossierCode(r.PathValue("code"), now)
	if err != nil {
		httpx.JSON(w, http.StatusBadRequest, map[string]string{"error": "not a dossier code", "field": "code"})
		return
	}
	views, err := a.list.List(r.Context(), code, 0)
	if err != nil {
		a.log.Error("listing notices", "dossier", code, "error", err)
		if errors.Is(err, context.DeadlineExceeded) {
			w.Header().Set("Retry-After", "5")
		}
		httpx.Error(w, http.StatusServiceUnavailable, "could not list notices; retry later")
		return
	}
	if views == nil {
		views = []View{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"notices": views})
}
