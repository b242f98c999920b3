package console

import (
	"embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/vntext"
)

//go:embed web
var webFS embed.FS

func writeJSON(w http.ResponseWriter, status int, v any) { httpx.JSON(w, status, v) }

// page is one server-rendered page and the API data behind it.
type page struct {
	key    string
	acc    access
	data   func(s *Server, r *http.Request, p Principal) (any, error)
	action func(s *Server, r *http.Request, p Principal) (flash string, err error) // POST
	doAcc  map[string]access                                                       // access per form action
}

type navItem struct {
	Key, Href string
	Current   bool
}

type pageData struct {
	Lang, Other, OtherHref string
	P                      *Principal
	Page                   string
	Nav                    []navItem
	Flash, Error           string
	Data                   any
	Q                      url.Values
	Path                   string
	Next                   string
}

func (s *Server) pageList() []page {
	return append([]page{
		{key: "home", acc: readAny, data: func(s *Server, r *http.Request, p Principal) (any, error) { return nil, nil }},
		{key: "dossiers", acc: readAny, data: func(s *Server, r *http.Request, p Principal) (any, error) {
			list, agency, err := s.dossiers(r, p)
			return map[string]any{"Dossiers": list, "Agency": agency}, err
		}},
		{key: "officers", acc: readAny, data: pageOfficers, action: actOfficers,
			doAcc: map[string]access{"invite": writeScope, "subscribe": writeAdmin, "unsubscribe": writeAdmin}},
		{key: "sync", acc: readOps, data: func(s *Server, r *http.Request, p Principal) (any, error) {
			runs, err := s.cfg.Ops.SyncRuns(r.Context(), limitOf(r))
			if err != nil {
				return nil, err
			}
			skips, err := s.cfg.Ops.SyncSkips(r.Context())
			return map[string]any{"Runs": runs, "Skips": skips}, err
		}},
		{key: "outbox", acc: readOps, data: func(s *Server, r *http.Request, p Principal) (any, error) { return s.outbox(r) },
			action: actOutbox, doAcc: map[string]access{"retry": writeAdmin, "cancel": writeAdmin}},
		{key: "optouts", acc: readOps, data: func(s *Server, r *http.Request, p Principal) (any, error) { return s.cfg.Ops.OptOuts(r.Context()) },
			action: actOptOuts, doAcc: map[string]access{"add": writeAdmin, "remove": writeAdmin}},
		{key: "health", acc: readOps, data: func(s *Server, r *http.Request, p Principal) (any, error) { return s.health(r.Context()) }},
		{key: "search", acc: readOps, data: pageSearch, action: actSearch,
			doAcc: map[string]access{"add": writeAdmin, "delete": writeAdmin}},
		{key: "audit", acc: readAdmin, data: func(s *Server, r *http.Request, p Principal) (any, error) {
			f, err := auditFilter(r)
			if err != nil {
				return nil, err
			}
			return s.cfg.Store.Audit(r.Context(), f)
		}},
		{key: "accounts", acc: readAdmin, data: func(s *Server, r *http.Request, p Principal) (any, error) {
			return s.cfg.Store.Accounts(r.Context())
		}, action: actAccounts, doAcc: map[string]access{"create": writeAdmin, "update": writeAdmin, "close": writeAdmin, "reopen": writeAdmin}},
		{key: "apikeys", acc: readAdmin, data: func(s *Server, r *http.Request, p Principal) (any, error) {
			return s.cfg.Store.APIKeys(r.Context())
		}, action: actKeys, doAcc: map[string]access{"create": writeAdmin, "revoke": writeAdmin}},
	}, append(s.reportPages(), s.inboxPages()...)...)
}

var pageTemplates *template.Template

func (s *Server) pages() error {
	loc := vntext.VietnamTime()
	funcs := template.FuncMap{
		"t":    tr,
		"time": func(t any) string { return fmtTime(t, loc) },
		"role": func(lang string, r any) string { return tr(lang, "role."+fmt.Sprint(r)) },
		"q":    url.QueryEscape,
		"list": func() []string { return []string{"", "pending", "sending", "inflight", "sent", "failed", "cancelled"} },
	}
	tpl, err := template.New("").Funcs(funcs).ParseFS(webFS, "web/*.html")
	if err != nil {
		return err
	}
	pageTemplates = tpl
	s.mux.HandleFunc("GET /console/static/console.css", func(w http.ResponseWriter, r *http.Request) {
		b, _ := webFS.ReadFile("web/console.css")
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(b)
	})
	s.mux.HandleFunc("GET /console/signin", s.signInPage)
	s.mux.HandleFunc("POST /console/signin", s.signInForm)
	s.mux.HandleFunc("POST /console/signout", func(w http.ResponseWriter, r *http.Request) {
		s.clearSession(w, r)
		http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
	})
	for _, pg := range s.pageList() {
		path := "/console/" + pg.key
		if pg.key == "home" {
			path = "/console"
			s.mux.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "/console", http.StatusSeeOther)
			})
		}
		s.mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) { s.servePage(w, r, pg, "", http.StatusOK) })
		if pg.action != nil {
			s.mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) { s.postPage(w, r, pg) })
		}
	}
	return nil
}

func fmtTime(v any, loc *time.Location) string {
	switch t := v.(type) {
	case time.Time:
		if t.IsZero() {
			return ""
		}
		return t.In(loc).Format("02/01/2006 15:04")
	case *time.Time:
		if t == nil {
			return ""
		}
		return fmtTime(*t, loc)
	}
	return ""
}

// lang picks the page language: ?lang=, then the cookie, then Vietnamese.
func lang(w http.ResponseWriter, r *http.Request) string {
	if l := r.URL.Query().Get("lang"); l == langVI || l == langEN {
		if w != nil {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: l, Path: "/console", SameSite: http.SameSiteStrictMode, MaxAge: 365 * 86400})
		}
		return l
	}
	if c, err := r.Cookie(langCookie); err == nil && c.Value == langEN {
		return langEN
	}
	return langVI
}

func (s *Server) base(w http.ResponseWriter, r *http.Request, p *Principal, key string) pageData {
	l := lang(w, r)
	other := langEN
	if l == langEN {
		other = langVI
	}
	q := r.URL.Query()
	q.Set("lang", other)
	d := pageData{Lang: l, Other: other, OtherHref: r.URL.Path + "?" + q.Encode(), P: p, Page: key, Q: r.URL.Query(), Path: r.URL.Path}
	if p != nil {
		for _, pg := range s.pageList() {
			if pg.acc.allows(*p) {
				href := "/console/" + pg.key
				if pg.key == "home" {
					href = "/console"
				}
				d.Nav = append(d.Nav, navItem{Key: pg.key, Href: href, Current: pg.key == key})
			}
		}
	}
	return d
}

func (s *Server) render(w http.ResponseWriter, name string, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pageTemplates.ExecuteTemplate(w, name, d); err != nil {
		s.log.Error("console: rendering", "page", name, "error", err)
	}
}

// pageAuth authenticates a page request; it redirects to the sign-in page
// or answers 403 itself when it returns false.
func (s *Server) pageAuth(w http.ResponseWriter, r *http.Request, pg page) (Principal, bool) {
	p, ok, err := s.authenticate(r)
	if err != nil {
		http.Error(w, "the database did not answer", http.StatusServiceUnavailable)
		return p, false
	}
	if !ok || p.Kind != "account" {
		http.Redirect(w, r, "/console/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return p, false
	}
	if !pg.acc.allows(p) {
		s.audit(r, p, "request.forbidden", r.Method+" "+r.URL.Path, "", "")
		d := s.base(w, r, &p, pg.key)
		d.Error = tr(d.Lang, "forbidden")
		s.render(w, "error", http.StatusForbidden, d)
		return p, false
	}
	return p, true
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request, pg page, flash string, status int) {
	p, ok := s.pageAuth(w, r, pg)
	if !ok {
		return
	}
	s.renderPage(w, r, pg, p, flash, "", status)
}

func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, pg page, p Principal, flash, errMsg string, status int) {
	d := s.base(w, r, &p, pg.key)
	d.Flash, d.Error = flash, errMsg
	if r.URL.Query().Get("ok") == "1" && flash == "" {
		d.Flash = tr(d.Lang, "done")
	}
	data, err := pg.data(s, r, p)
	if err != nil {
		st, msg := s.pageError(r, p, err, d.Lang)
		d.Error = msg
		s.render(w, "error", st, d)
		return
	}
	d.Data = data
	s.render(w, pg.key, status, d)
}

func (s *Server) pageError(r *http.Request, p Principal, err error, l string) (int, string) {
	var ae apiError
	switch {
	case errors.As(err, &ae) && ae.status == http.StatusForbidden:
		s.audit(r, p, "request.forbidden", r.Method+" "+r.URL.Path, "", "")
		return http.StatusForbidden, tr(l, "forbidden")
	case errors.As(err, &ae):
		return ae.status, ae.msg
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, tr(l, "notfound")
	case errors.Is(err, ErrExists):
		return http.StatusConflict, "already exists / đã tồn tại"
	case errors.Is(err, ErrConflict):
		return http.StatusConflict, err.Error()
	}
	s.log.Error("console: page failed", "path", r.URL.Path, "error", err)
	return http.StatusInternalServerError, "internal error"
}

func (s *Server) postPage(w http.ResponseWriter, r *http.Request, pg page) {
	p, ok := s.pageAuth(w, r, pg)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	acc, known := pg.doAcc[r.PostForm.Get("do")]
	if !known {
		http.Error(w, "unknown action", http.StatusBadRequest)
		return
	}
	if !acc.allows(p) {
		s.audit(r, p, "request.forbidden", "POST "+r.URL.Path+" do="+r.PostForm.Get("do"), "", "")
		d := s.base(w, r, &p, pg.key)
		d.Error = tr(d.Lang, "forbidden")
		s.render(w, "error", http.StatusForbidden, d)
		return
	}
	flash, err := pg.action(s, r, p)
	if err != nil {
		l := lang(w, r)
		st, msg := s.pageError(r, p, err, l)
		s.renderPage(w, r, pg, p, "", msg, st)
		return
	}
	if flash != "" {
		s.renderPage(w, r, pg, p, flash, "", http.StatusOK)
		return
	}
	target := r.URL.Path + "?ok=1"
	if st := r.PostForm.Get("state"); st != "" {
		target += "&state=" + url.QueryEscape(st)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// --- sign-in page ----------------------------------------------------------

func safeNext(next string) string {
	if strings.HasPrefix(next, "/console") && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/console"
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	if p, ok, _ := s.authenticate(r); ok && p.Kind == "account" {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	d := s.base(w, r, nil, "signin")
	d.Next = safeNext(r.URL.Query().Get("next"))
	s.render(w, "signin", http.StatusOK, d)
}

func (s *Server) signInForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	_, token, err := s.signIn(r, r.PostForm.Get("email"), r.PostForm.Get("password"))
	if err != nil {
		d := s.base(w, r, nil, "signin")
		d.Next = safeNext(r.PostForm.Get("next"))
		d.Q = url.Values{"email": {r.PostForm.Get("email")}}
		var ae apiError
		status := http.StatusInternalServerError
		d.Error = "internal error"
		if errors.As(err, &ae) {
			status = ae.status
			switch ae.status {
			case http.StatusLocked:
				d.Error = tr(d.Lang, "signin.locked")
			case http.StatusTooManyRequests:
				d.Error = tr(d.Lang, "signin.throttled")
			default:
				d.Error = tr(d.Lang, "signin.bad")
			}
		} else {
			s.log.Error("console: sign-in", "error", err)
		}
		s.render(w, "signin", status, d)
		return
	}
	s.setSession(w, r, token)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

// --- page data and form actions ---------------------------------------------

func pageOfficers(s *Server, r *http.Request, p Principal) (any, error) {
	agency, err := scopeAgency(r, p)
	if err != nil {
		return nil, err
	}
	list, err := s.cfg.Ops.Officers(r.Context(), agency)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"Officers": list, "Agency": agency}
	if p.SeesOperations() {
		subs, err := s.cfg.Ops.Subscriptions(r.Context())
		if err != nil {
			return nil, err
		}
		out["Subscriptions"] = subs
	}
	return out, nil
}

func actOfficers(s *Server, r *http.Request, p Principal) (string, error) {
	f := r.PostForm
	switch f.Get("do") {
	case "invite":
		res, err := s.invite(r, p, InviteRequest{Name: f.Get("name"), Email: f.Get("email"), Agency: f.Get("agency")})
		if err != nil {
			return "", err
		}
		return tr(lang(nil, r), "invite.done") + " /start " + res["link_code"].(string), nil
	case "subscribe":
		_, err := s.subscribe(r, p, SubscriptionRequest{Kind: f.Get("kind"), Address: f.Get("address"), Name: f.Get("name")})
		return "", err
	default:
		return "", s.unsubscribe(r, p, f.Get("kind"), f.Get("address"))
	}
}

func formID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PostForm.Get("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errStatus(http.StatusBadRequest, "id must be a positive number")
	}
	return id, nil
}

func actOutbox(s *Server, r *http.Request, p Principal) (string, error) {
	id, err := formID(r)
	if err != nil {
		return "", err
	}
	_, err = s.outboxAction(r, p, id, r.PostForm.Get("do") == "retry")
	return "", err
}

func actOptOuts(s *Server, r *http.Request, p Principal) (string, error) {
	_, err := s.setOptOut(r, p, r.PostForm.Get("phone"), r.PostForm.Get("do") == "add")
	return "", err
}

func pageSearch(s *Server, r *http.Request, p Principal) (any, error) {
	misses, err := s.cfg.Ops.Misses(r.Context(), limitOf(r))
	if err != nil {
		return nil, err
	}
	ov, err := s.cfg.Ops.Overrides(r.Context())
	return map[string]any{"Misses": misses, "Overrides": ov}, err
}

func actSearch(s *Server, r *http.Request, p Principal) (string, error) {
	f := r.PostForm
	if f.Get("do") == "delete" {
		id, err := formID(r)
		if err != nil {
			return "", err
		}
		return "", s.deleteOverride(r, p, id)
	}
	_, err := s.addOverride(r, p, Override{Kind: f.Get("kind"), Term: f.Get("term"), Replacement: f.Get("replacement")})
	return "", err
}

func actAccounts(s *Server, r *http.Request, p Principal) (string, error) {
	f := r.PostForm
	str := func(k string) *string {
		if _, ok := f[k]; !ok {
			return nil
		}
		v := f.Get(k)
		return &v
	}
	switch f.Get("do") {
	case "create":
		_, err := s.createAccount(r, p, AccountRequest{Email: f.Get("email"), Name: str("name"), Role: str("role"), Agency: str("agency"), Password: str("password")})
		return "", err
	case "update":
		id, err := formID(r)
		if err != nil {
			return "", err
		}
		in := AccountRequest{Name: str("name"), Role: str("role"), Agency: str("agency")}
		if pw := f.Get("password"); pw != "" {
			in.Password = &pw
		}
		_, err = s.updateAccount(r, p, id, in)
		return "", err
	default:
		id, err := formID(r)
		if err != nil {
			return "", err
		}
		closed := f.Get("do") == "close"
		_, err = s.updateAccount(r, p, id, AccountRequest{Closed: &closed})
		return "", err
	}
}

func actKeys(s *Server, r *http.Request, p Principal) (string, error) {
	f := r.PostForm
	if f.Get("do") == "revoke" {
		id, err := formID(r)
		if err != nil {
			return "", err
		}
		_, err = s.revokeKey(r, p, id)
		return "", err
	}
	res, err := s.createKey(r, p, f.Get("name"), f.Get("role"), f.Get("agency"))
	if err != nil {
		return "", err
	}
	return tr(lang(nil, r), "key.once") + " " + res["secret"].(string), nil
}
