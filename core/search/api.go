package search

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Procedures finds one procedure by code.
type Procedures interface {
	Procedure(ctx context.Context, code string) (catalog.Procedure, error)
}

// API serves GET /api/v1/procedures?q=…&limit=… and GET /api/v1/procedures/{code}.
type API struct {
	holder *Holder
	procs  Procedures
	log    *slog.Logger
}

// MaxQueryLen is the longest q the API reads, in characters.
const MaxQueryLen = 500

// NewAPI returns the procedure API.
func NewAPI(h *Holder, p Procedures, log *slog.Logger) *API {
	return &API{holder: h, procs: p, log: log}
}

// Register adds the routes.
func (a *API) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/procedures", a.search)
	mux.HandleFunc("GET /api/v1/procedures/{code}", a.procedure)
}

func (a *API) search(w http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if q == "" {
		httpx.JSON(w, http.StatusBadRequest, map[string]string{"error": "q is required", "field": "q"})
		return
	}
	if utf8.RuneCountInString(q) > MaxQueryLen {
		httpx.JSON(w, http.StatusBadRequest, map[string]string{"error": "q is longer than 500 characters", "field": "q"})
		return
	}
	limit := 10
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 50 {
			httpx.JSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a number from 1 to 50", "field": "limit"})
			return
		}
		limit = n
	}
	hits := a.holder.Search(q, limit, 0)
	if hits == nil {
		hits = []Hit{}
	}
	httpx.JSON(w, http.StatusOK, map[string]any{"query": q, "results": hits})
}

// procedureJSON is the API's view of a procedure (upstream field names).
type procedureJSON struct {
	Code         string             `json:"code"`
	Name         string             `json:"name"`
	Kind         string             `json:"kind,omitempty"`
	Field        string             `json:"field"`
	Level        string             `json:"level,omitempty"`
	Steps        string             `json:"steps,omitempty"`
	Channels     string             `json:"channels,omitempty"`
	Documents    []catalog.Document `json:"documents"`
	Forms        []catalog.Form     `json:"forms"`
	Fee          string             `json:"fee,omitempty"`
	Charge       string             `json:"charge,omitempty"`
	TimeLimit    string             `json:"time_limit,omitempty"`
	Applicants   string             `json:"applicants,omitempty"`
	Agency       string             `json:"agency,omitempty"`
	Authority    string             `json:"authority,omitempty"`
	Address      string             `json:"address,omitempty"`
	Result       string             `json:"result,omitempty"`
	LegalBases   []string           `json:"legal_bases"`
	Requirements string             `json:"requirements,omitempty"`
	OnlineLevel  string             `json:"online_level,omitempty"`
	Status       catalog.Status     `json:"status"`
	Version      int                `json:"version"`
	UpdatedAt    time.Time          `json:"updated_at"`
}

func (a *API) procedure(w http.ResponseWriter, r *http.Request) {
	code := strings.TrimSpace(r.PathValue("code"))
	p, err := a.procs.Procedure(r.Context(), code)
	if errors.Is(err, catalog.ErrNotFound) {
		httpx.JSON(w, http.StatusNotFound, map[string]string{"error": "no procedure with code " + code})
		return
	}
	if err != nil {
		a.log.Error("loading a procedure", "code", code, "error", err)
		httpx.Error(w, http.StatusInternalServerError, "could not load the procedure; retry later")
		return
	}
	nz := func(s string) string { return vntext.NFC(s) }
	out := procedureJSON{Code: p.Code, Name: p.Name, Kind: p.Kind, Field: p.Field, Level: p.Level, Steps: nz(p.Steps),
		Channels: p.Channels, Documents: p.Documents, Forms: p.Forms, Fee: p.Fee, Charge: p.Charge, TimeLimit: p.TimeLimit,
		Applicants: p.Applicants, Agency: p.Agency, Authority: p.Authority, Address: p.Address, Result: p.Result,
		LegalBases: p.LegalBases, Requirements: p.Requirements, OnlineLevel: p.OnlineLevel, Status: p.Status,
		Version: p.Version, UpdatedAt: p.UpdatedAt}
	if out.Documents == nil {
		out.Documents = []catalog.Document{}
	}
	if out.Forms == nil {
		out.Forms = []catalog.Form{}
	}
	if out.LegalBases == nil {
		out.LegalBases = []string{}
	}
	httpx.JSON(w, http.StatusOK, out)
}
