package lookup

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/vntext"
)

//go:embed page.html
var pageFS embed.FS

var pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{
	// vnDate writes a YYYY-MM-DD date the Vietnamese way, dd/mm/yyyy.
	"vnDate": func(ymd string) string {
		t, err := time.Parse(time.DateOnly, ymd)
		if err != nil {
			return ymd
		}
		return t.Format("02/01/2006")
	},
}).ParseFS(pageFS, "page.html"))

// Register adds the routes: the page, its QR code and the read API.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /tra-cuu/{token}", s.page)
	mux.HandleFunc("GET /tra-cuu/{token}/qr.png", s.qr)
	mux.HandleFunc("GET /api/v1/dossiers/{code}", s.api)
}

// pageData is all the page template sees: the tier-0 status and the links.
type pageData struct {
	Found       bool
	S           Status
	QRPath      string
	WebChatURL  string
	ZaloURL     string
	TelegramURL string
}

func (s *Service) page(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	d, err := s.resolve(r.Context(), token)
	data := pageData{WebChatURL: s.cfg.PublicURL + "/", ZaloURL: s.cfg.ZaloURL, TelegramURL: s.cfg.TelegramURL}
	status := http.StatusOK
	switch {
	case errors.Is(err, dossier.ErrNotFound):
		status = http.StatusNotFound
	case err != nil:
		s.log.Error("look-up page", "error", err)
		httpx.Error(w, http.StatusServiceUnavailable, "database unavailable; retry later")
		return
	default:
		data.Found, data.S = true, s.publicStatus(d)
		data.QRPath = "/tra-cuu/" + strings.ToLower(token) + "/qr.png"
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, data); err != nil {
		s.log.Error("rendering the look-up page", "error", err)
		httpx.Error(w, http.StatusInternalServerError, "could not render the page")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	// The token is the key to the page: it must not leave in a Referer
	// when a button is followed, nor be indexed.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex, nofollow")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (s *Service) qr(w http.ResponseWriter, r *http.Request) {
	token := strings.ToLower(r.PathValue("token"))
	if _, err := s.resolve(r.Context(), token); err != nil {
		if errors.Is(err, dossier.ErrNotFound) {
			httpx.Error(w, http.StatusNotFound, "unknown look-up link")
			return
		}
		s.log.Error("look-up QR code", "error", err)
		httpx.Error(w, http.StatusServiceUnavailable, "database unavailable; retry later")
		return
	}
	png, err := QR(s.cfg.PublicURL + "/tra-cuu/" + token)
	if err != nil {
		s.log.Error("drawing a QR code", "error", err)
		httpx.Error(w, http.StatusInternalServerError, "could not draw the QR code")
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Robots-Tag", "noindex")
	_, _ = w.Write(png)
}

// QR draws text as a PNG QR code: error correction M (15%), 8 pixels a
// module, with the standard quiet zone.
func QR(text string) ([]byte, error) {
	return qrcode.Encode(text, qrcode.Medium, -8)
}

// api answers GET /api/v1/dossiers/{code}: the tier-0 status as JSON, to a
// caller with an API key.
func (s *Service) api(w http.ResponseWriter, r *http.Request) {
	if s.keys == nil {
		httpx.Error(w, http.StatusServiceUnavailable, "no API keys configured")
		return
	}
	ok, err := s.authenticate(r.Context(), r.Header.Get("Authorization"))
	if err != nil {
		s.log.Error("checking an API key", "error", err)
		httpx.Error(w, http.StatusServiceUnavailable, "could not check the API key; retry later")
		return
	}
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dvcbot"`)
		httpx.Error(w, http.StatusUnauthorized, "an API key is required: Authorization: Bearer <key>")
		return
	}
	code, err := vntext.NormalizeDossierCode(r.PathValue("code"), s.now())
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "not a dossier code: "+err.Error())
		return
	}
	d, err := s.dossiers.Dossier(r.Context(), code)
	if errors.Is(err, dossier.ErrNotFound) {
		httpx.Error(w, http.StatusNotFound, "dossier not found")
		return
	}
	if err != nil {
		s.log.Error("dossier read API", "error", err)
		w.Header().Set("Retry-After", "5")
		httpx.Error(w, http.StatusServiceUnavailable, "database unavailable; retry later")
		return
	}
	out := s.publicStatus(d)
	if l, err := s.Link(r.Context(), d.Code); err == nil {
		out.LookupURL = l.URL
	} else {
		s.log.Warn("no look-up link for the read API", "error", err)
	}
	w.Header().Set("Cache-Control", "no-store")
	httpx.JSON(w, http.StatusOK, out)
}

func (s *Service) authenticate(ctx context.Context, header string) (bool, error) {
	scheme, key, found := strings.Cut(strings.TrimSpace(header), " ")
	key = strings.TrimSpace(key)
	if !found || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return false, nil
	}
	return s.keys.Authenticate(ctx, key)
}
