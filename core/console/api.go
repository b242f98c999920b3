package console

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/phone"
)

// Route is one API route, as the README lists it.
type Route struct {
	Method, Path string
	Roles        string
}

func (a access) roles() string {
	switch a {
	case readAny:
		return "admin, leader, officer, viewer (own agency when scoped)"
	case readOps:
		return "admin, leader, viewer without agency"
	case writeScope:
		return "admin; officer (own agency)"
	default:
		return "admin"
	}
}

type routeDef struct {
	method, path string
	acc          access
	h            func(s *Server) apiHandler
}

// routeTable is every /console/api/v1 route.
var routeTable = []routeDef{
	{"GET", "/session", readAny, func(s *Server) apiHandler { return s.apiMe }},
	{"GET", "/dossiers", readAny, func(s *Server) apiHandler { return s.apiDossiers }},
	{"GET", "/dossiers/{code}", readAny, func(s *Server) apiHandler { return s.apiDossier }},
	{"GET", "/officers", readAny, func(s *Server) apiHandler { return s.apiOfficers }},
	{"POST", "/officers", writeScope, func(s *Server) apiHandler { return s.apiInvite }},
	{"GET", "/subscriptions", readOps, func(s *Server) apiHandler { return s.apiSubscriptions }},
	{"POST", "/subscriptions", writeAdmin, func(s *Server) apiHandler { return s.apiSubscribe }},
	{"DELETE", "/subscriptions/{kind}/{address}", writeAdmin, func(s *Server) apiHandler { return s.apiUnsubscribe }},
	{"GET", "/sync/runs", readOps, func(s *Server) apiHandler { return s.apiSyncRuns }},
	{"GET", "/sync/skipped", readOps, func(s *Server) apiHandler { return s.apiSyncSkips }},
	{"GET", "/outbox", readOps, func(s *Server) apiHandler { return s.apiOutbox }},
	{"POST", "/outbox/{id}/retry", writeAdmin, func(s *Server) apiHandler { return s.apiOutboxRetry }},
	{"POST", "/outbox/{id}/cancel", writeAdmin, func(s *Server) apiHandler { return s.apiOutboxCancel }},
	{"GET", "/optouts", readOps, func(s *Server) apiHandler { return s.apiOptOuts }},
	{"POST", "/optouts", writeAdmin, func(s *Server) apiHandler { return s.apiOptOutAdd }},
	{"DELETE", "/optouts/{phone}", writeAdmin, func(s *Server) apiHandler { return s.apiOptOutRemove }},
	{"GET", "/health", readOps, func(s *Server) apiHandler { return s.apiHealth }},
	{"GET", "/search/misses", readOps, func(s *Server) apiHandler { return s.apiMisses }},
	{"GET", "/search/overrides", readOps, func(s *Server) apiHandler { return s.apiOverrides }},
	{"POST", "/search/overrides", writeAdmin, func(s *Server) apiHandler { return s.apiOverrideAdd }},
	{"DELETE", "/search/overrides/{id}", writeAdmin, func(s *Server) apiHandler { return s.apiOverrideDelete }},
	{"GET", "/audit", readAdmin, func(s *Server) apiHandler { return s.apiAudit }},
	{"GET", "/accounts", readAdmin, func(s *Server) apiHandler { return s.apiAccounts }},
	{"POST", "/accounts", writeAdmin, func(s *Server) apiHandler { return s.apiAccountCreate }},
	{"PATCH", "/accounts/{id}", writeAdmin, func(s *Server) apiHandler { return s.apiAccountUpdate }},
	{"GET", "/apikeys", readAdmin, func(s *Server) apiHandler { return s.apiKeys }},
	{"POST", "/apikeys", writeAdmin, func(s *Server) apiHandler { return s.apiKeyCreate }},
	{"DELETE", "/apikeys/{id}", writeAdmin, func(s *Server) apiHandler { return s.apiKeyRevoke }},
}

// Routes lists the JSON API for the README, the sign-in routes first.
func Routes() []Route {
	out := []Route{
		{"POST", "/console/api/v1/session", "anyone (e-mail and password; sets the session cookie)"},
		{"DELETE", "/console/api/v1/session", "anyone signed in (signs out)"},
		{"GET", "/console/api/v1/audit.csv", "admin"},
	}
	for _, d := range routeTable {
		out = append(out, Route{d.method, "/console/api/v1" + d.path, d.acc.roles()})
	}
	return out
}

func (s *Server) routes() {
	for _, d := range routeTable {
		s.api(d.method, d.path, d.acc, d.h(s))
	}
	s.mux.HandleFunc("POST /console/api/v1/session", s.apiSignIn)
	s.mux.HandleFunc("DELETE /console/api/v1/session", s.apiSignOut)
	s.mux.HandleFunc("GET /console/api/v1/audit.csv", s.auditCSV)
	s.mux.HandleFunc("/console/api/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"error":"no such route"}`, http.StatusNotFound)
	})
}

// --- sign-in -------------------------------------------------------------

var errBadCredentials = apiError{http.StatusUnauthorized, "wrong e-mail or password"}

// signIn checks a password with the throttles and returns a new session
// token.
func (s *Server) signIn(r *http.Request, email, password string) (Account, string, error) {
	ctx := r.Context()
	ip := clientIP(r)
	now := s.now().UTC()
	n, err := s.cfg.Store.FailedSignIns(ctx, ip, now.Add(-IPWindow))
	if err != nil {
		return Account{}, "", err
	}
	if n >= IPFailures {
		s.audit(r, Principal{}, "signin.throttled", email, "", "")
		return Account{}, "", apiError{http.StatusTooManyRequests, "too many failed sign-ins from your address; try again later"}
	}
	fail := func(a *Account, reason string) error {
		if err := s.cfg.Store.RecordSignIn(ctx, ip, false); err != nil {
			return err
		}
		s.audit(r, Principal{}, "signin.fail", email, "", reason)
		return errBadCredentials
	}
	addr, err := NormalizeEmail(email)
	if err != nil {
		VerifyPassword(dummyHash, password)
		return Account{}, "", fail(nil, "bad e-mail")
	}
	a, hash, err := s.cfg.Store.AccountByEmail(ctx, addr)
	if errors.Is(err, ErrNotFound) {
		VerifyPassword(dummyHash, password)
		return Account{}, "", fail(nil, "unknown account")
	}
	if err != nil {
		return Account{}, "", err
	}
	if a.LockedUntil != nil && a.LockedUntil.After(now) {
		_ = s.cfg.Store.RecordSignIn(ctx, ip, false)
		s.audit(r, Principal{}, "signin.fail", addr, "", "locked")
		return Account{}, "", apiError{http.StatusLocked, "this account is locked after repeated failures; try again in 15 minutes or ask an admin"}
	}
	if !VerifyPassword(hash, password) {
		locked, err := s.cfg.Store.SignInFailed(ctx, a.ID, MaxFailures, LockFor)
		if err != nil {
			return Account{}, "", err
		}
		if locked {
			s.audit(r, Principal{}, "account.locked", addr, "", "")
		}
		return Account{}, "", fail(&a, "wrong password")
	}
	if a.Closed {
		return Account{}, "", fail(&a, "closed account")
	}
	if err := s.cfg.Store.SignInSucceeded(ctx, a.ID); err != nil {
		return Account{}, "", err
	}
	_ = s.cfg.Store.RecordSignIn(ctx, ip, true)
	token := NewToken("")
	if err := s.cfg.Store.CreateSession(ctx, TokenHash(token), a.ID, now.Add(s.cfg.SessionTTL), ip); err != nil {
		return Account{}, "", err
	}
	s.audit(r, Principal{Kind: "account", ID: a.ID, Name: a.Email, Role: a.Role}, "signin.ok", a.Email, "", "")
	return a, token, nil
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/console", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.secure(r), MaxAge: int(s.cfg.SessionTTL.Seconds())})
}

func (s *Server) clearSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if p, ok, _ := s.authenticate(r); ok {
			s.audit(r, p, "signout", p.Name, "", "")
		}
		_ = s.cfg.Store.DeleteSession(r.Context(), TokenHash(c.Value))
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/console", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: s.secure(r), MaxAge: -1})
}

func (s *Server) apiSignIn(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &in); err != nil {
		s.writeError(w, r, Principal{}, err)
		return
	}
	a, token, err := s.signIn(r, in.Email, in.Password)
	if err != nil {
		s.writeError(w, r, Principal{}, err)
		return
	}
	s.setSession(w, r, token)
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) apiSignOut(w http.ResponseWriter, r *http.Request) {
	s.clearSession(w, r)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiMe(r *http.Request, p Principal) (any, error) { return p, nil }

// --- dossiers and officers (agency-scoped) --------------------------------

// scopeAgency is the agency a list is limited to: the principal's own, or
// the one asked for when the principal sees every agency. Asking for
// another agency than one's own is refused.
func scopeAgency(r *http.Request, p Principal) (string, error) {
	asked := strings.TrimSpace(r.URL.Query().Get("agency"))
	if sc := p.Scope(); sc != "" {
		if asked != "" && asked != sc {
			return "", errForbidden
		}
		return sc, nil
	}
	return asked, nil
}

func limitOf(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 || n > 1000 {
		return defaultListLimit
	}
	return n
}

func (s *Server) dossiers(r *http.Request, p Principal) ([]DossierRow, string, error) {
	agency, err := scopeAgency(r, p)
	if err != nil {
		return nil, "", err
	}
	status := 0
	if v := r.URL.Query().Get("status"); v != "" {
		if status, err = strconv.Atoi(v); err != nil || status < 1 || status > 10 {
			return nil, "", errStatus(http.StatusBadRequest, "status must be 1 to 10")
		}
	}
	list, err := s.cfg.Ops.Dossiers(r.Context(), agency, status, limitOf(r))
	return list, agency, err
}

func (s *Server) apiDossiers(r *http.Request, p Principal) (any, error) {
	list, agency, err := s.dossiers(r, p)
	if err != nil {
		return nil, err
	}
	return map[string]any{"agency": agency, "dossiers": nonNil(list)}, nil
}

// dossier reads one dossier within the principal's scope; the look-up is
// audited like a channel's.
func (s *Server) dossier(r *http.Request, p Principal, code string) (DossierRow, error) {
	d, err := s.cfg.Ops.Dossier(r.Context(), code)
	if err != nil {
		return DossierRow{}, err
	}
	if !p.InScope(d.Agency) {
		return DossierRow{}, errForbidden
	}
	tier := 0
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.cfg.Store.AppendAudit(ctx, AuditEntry{At: s.now().UTC(), Actor: p.Actor(), Role: string(p.Role), Source: clientIP(r),
		Action: "dossier.view", Target: d.Code, Channel: "console", Dossier: d.Code, Agency: d.Agency, Tier: &tier}); err != nil {
		return DossierRow{}, err
	}
	return d, nil
}

func (s *Server) apiDossier(r *http.Request, p Principal) (any, error) {
	return s.dossier(r, p, r.PathValue("code"))
}

func (s *Server) apiOfficers(r *http.Request, p Principal) (any, error) {
	agency, err := scopeAgency(r, p)
	if err != nil {
		return nil, err
	}
	list, err := s.cfg.Ops.Officers(r.Context(), agency)
	if err != nil {
		return nil, err
	}
	return map[string]any{"agency": agency, "officers": nonNil(list)}, nil
}

// InviteRequest creates an officer and its Telegram link code.
type InviteRequest struct {
	Name   string `json:"name"`
	Email  string `json:"email"`
	Agency string `json:"agency"`
}

func (s *Server) invite(r *http.Request, p Principal, in InviteRequest) (map[string]any, error) {
	if s.cfg.Invite == nil {
		return nil, errStatus(http.StatusServiceUnavailable, "officer invites are not available")
	}
	in.Name, in.Agency = strings.TrimSpace(in.Name), strings.TrimSpace(in.Agency)
	if sc := p.Scope(); sc != "" {
		if in.Agency != "" && in.Agency != sc {
			return nil, errForbidden
		}
		in.Agency = sc
	}
	if in.Name == "" || len(in.Name) > 200 {
		return nil, errStatus(http.StatusBadRequest, "name is required (at most 200 characters)")
	}
	if in.Email != "" {
		e, err := NormalizeEmail(in.Email)
		if err != nil {
			return nil, errStatus(http.StatusBadRequest, "%v", err)
		}
		in.Email = e
	}
	id, code, err := s.cfg.Invite(r.Context(), in.Name, in.Email)
	if err != nil {
		return nil, err
	}
	if err := s.cfg.Ops.SetOfficerAgency(r.Context(), id, in.Agency); err != nil {
		return nil, err
	}
	o, err := s.cfg.Ops.Officer(r.Context(), id)
	if err != nil {
		return nil, err
	}
	s.audit(r, p, "officer.invite", fmt.Sprintf("officer:%d", id), "", asJSON(o))
	return map[string]any{"officer": o, "link_code": code,
		"instructions": "send /start " + code + " to the Telegram bot within 7 days; the code works once"}, nil
}

func (s *Server) apiInvite(r *http.Request, p Principal) (any, error) {
	var in InviteRequest
	if err := decode(nil, r, &in); err != nil {
		return nil, err
	}
	return s.invite(r, p, in)
}

// --- alert subscriptions ---------------------------------------------------

func (s *Server) apiSubscriptions(r *http.Request, p Principal) (any, error) {
	list, err := s.cfg.Ops.Subscriptions(r.Context())
	return map[string]any{"subscriptions": nonNil(list)}, err
}

// SubscriptionRequest adds an e-mail or SMS recipient of change alerts.
type SubscriptionRequest struct {
	Kind    string `json:"kind"`
	Address string `json:"address"`
	Name    string `json:"name"`
}

func (s *Server) subscribe(r *http.Request, p Principal, in SubscriptionRequest) (Subscription, error) {
	switch in.Kind {
	case notify.Email:
		a, err := NormalizeEmail(in.Address)
		if err != nil {
			return Subscription{}, errStatus(http.StatusBadRequest, "%v", err)
		}
		in.Address = a
	case notify.SMS:
		n, err := phone.Normalize(in.Address)
		if err != nil {
			return Subscription{}, errStatus(http.StatusBadRequest, "%q is not a Vietnamese phone number", in.Address)
		}
		in.Address = n
	default:
		return Subscription{}, errStatus(http.StatusBadRequest, "kind must be email or sms")
	}
	if err := s.cfg.Ops.Subscribe(r.Context(), in.Kind, in.Address, strings.TrimSpace(in.Name)); err != nil {
		return Subscription{}, err
	}
	sub := Subscription{Kind: in.Kind, Address: in.Address, Name: strings.TrimSpace(in.Name)}
	s.audit(r, p, "subscription.add", in.Kind+":"+in.Address, "", asJSON(sub))
	return sub, nil
}

func (s *Server) apiSubscribe(r *http.Request, p Principal) (any, error) {
	var in SubscriptionRequest
	if err := decode(nil, r, &in); err != nil {
		return nil, err
	}
	return s.subscribe(r, p, in)
}

func (s *Server) unsubscribe(r *http.Request, p Principal, kind, address string) error {
	ok, err := s.cfg.Ops.Unsubscribe(r.Context(), kind, address)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotFound
	}
	s.audit(r, p, "subscription.remove", kind+":"+address, asJSON(Subscription{Kind: kind, Address: address}), "")
	return nil
}

func (s *Server) apiUnsubscribe(r *http.Request, p Principal) (any, error) {
	return nil, s.unsubscribe(r, p, r.PathValue("kind"), r.PathValue("address"))
}

// --- sync, outbox, opt-outs, health ----------------------------------------

func (s *Server) apiSyncRuns(r *http.Request, p Principal) (any, error) {
	runs, err := s.cfg.Ops.SyncRuns(r.Context(), limitOf(r))
	return map[string]any{"runs": nonNil(runs)}, err
}

func (s *Server) apiSyncSkips(r *http.Request, p Principal) (any, error) {
	skips, err := s.cfg.Ops.SyncSkips(r.Context())
	return map[string]any{"skipped": nonNil(skips)}, err
}

var outboxStates = map[string]bool{"": true, notify.Pending: true, notify.Sending: true, notify.Sent: true, notify.Failed: true, "cancelled": true, "inflight": true}

func (s *Server) outbox(r *http.Request) ([]OutboxMessage, error) {
	state := r.URL.Query().Get("state")
	if !outboxStates[state] {
		return nil, errStatus(http.StatusBadRequest, "state must be pending, sending, inflight, sent, failed or cancelled")
	}
	return s.cfg.Ops.Outbox(r.Context(), state, limitOf(r))
}

func (s *Server) apiOutbox(r *http.Request, p Principal) (any, error) {
	list, err := s.outbox(r)
	return map[string]any{"messages": nonNil(list)}, err
}

func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, errStatus(http.StatusBadRequest, "id must be a positive number")
	}
	return id, nil
}

func (s *Server) outboxAction(r *http.Request, p Principal, id int64, retry bool) (OutboxMessage, error) {
	before, err := s.cfg.Ops.OutboxMessage(r.Context(), id)
	if err != nil {
		return OutboxMessage{}, err
	}
	var after OutboxMessage
	action := "outbox.cancel"
	if retry {
		action = "outbox.retry"
		after, err = s.cfg.Ops.RetryOutbox(r.Context(), id)
	} else {
		after, err = s.cfg.Ops.CancelOutbox(r.Context(), id)
	}
	if errors.Is(err, ErrConflict) {
		return OutboxMessage{}, errStatus(http.StatusConflict, "only a failed message can be retried or cancelled (this one is %s)", before.State)
	}
	if err != nil {
		return OutboxMessage{}, err
	}
	s.audit(r, p, action, fmt.Sprintf("outbox:%d", id), asJSON(outboxAudit(before)), asJSON(outboxAudit(after)))
	return after, nil
}

// outboxAudit is what the audit log keeps of a message: no payload.
func outboxAudit(m OutboxMessage) map[string]any {
	return map[string]any{"state": m.State, "attempts": m.Attempts, "last_error": m.LastError}
}

func (s *Server) apiOutboxRetry(r *http.Request, p Principal) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return s.outboxAction(r, p, id, true)
}

func (s *Server) apiOutboxCancel(r *http.Request, p Principal) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return s.outboxAction(r, p, id, false)
}

func (s *Server) apiOptOuts(r *http.Request, p Principal) (any, error) {
	list, err := s.cfg.Ops.OptOuts(r.Context())
	return map[string]any{"optouts": nonNil(list)}, err
}

func (s *Server) setOptOut(r *http.Request, p Principal, number string, out bool) (OptOut, error) {
	n, err := phone.Normalize(number)
	if err != nil {
		return OptOut{}, errStatus(http.StatusBadRequest, "%q is not a Vietnamese phone number", number)
	}
	if err := s.cfg.Ops.SetOptOut(r.Context(), n, out); err != nil {
		return OptOut{}, err
	}
	if out {
		s.audit(r, p, "optout.add", n, "", `{"opted_out":true}`)
	} else {
		s.audit(r, p, "optout.remove", n, `{"opted_out":true}`, `{"opted_out":false}`)
	}
	return OptOut{Phone: n, CreatedAt: s.now().UTC()}, nil
}

func (s *Server) apiOptOutAdd(r *http.Request, p Principal) (any, error) {
	var in struct {
		Phone string `json:"phone"`
	}
	if err := decode(nil, r, &in); err != nil {
		return nil, err
	}
	return s.setOptOut(r, p, in.Phone, true)
}

func (s *Server) apiOptOutRemove(r *http.Request, p Principal) (any, error) {
	_, err := s.setOptOut(r, p, r.PathValue("phone"), false)
	return nil, err
}

func (s *Server) health(ctx context.Context) (ChannelHealth, error) {
	var h ChannelHealth
	now := s.now().UTC()
	exp, refreshed, found, err := s.cfg.Ops.CredentialTimes(ctx, s.cfg.ZaloCredential)
	if err != nil {
		return h, err
	}
	if found {
		h.Zalo.Configured = true
		h.Zalo.ExpiresAt, h.Zalo.LastRefresh = &exp, &refreshed
		h.Zalo.ExpiresInSec = int64(exp.Sub(now).Seconds())
	}
	if h.LastInbound, err = s.cfg.Ops.LastInbound(ctx, now.Add(-24*time.Hour)); err != nil {
		return h, err
	}
	h.LastInbound = nonNil(h.LastInbound)
	if s.cfg.Spool != nil {
		h.Spool.Records, h.Spool.Bytes = s.cfg.Spool()
	}
	if s.cfg.Telegram != nil {
		if h.Telegram, err = s.cfg.Telegram(ctx); err != nil {
			h.Telegram = map[string]string{"error": err.Error()}
		}
	}
	return h, nil
}

func (s *Server) apiHealth(r *http.Request, p Principal) (any, error) { return s.health(r.Context()) }

// --- search misses and overrides -------------------------------------------

func (s *Server) apiMisses(r *http.Request, p Principal) (any, error) {
	list, err := s.cfg.Ops.Misses(r.Context(), limitOf(r))
	return map[string]any{"misses": nonNil(list)}, err
}

func (s *Server) apiOverrides(r *http.Request, p Principal) (any, error) {
	list, err := s.cfg.Ops.Overrides(r.Context())
	return map[string]any{"overrides": nonNil(list)}, err
}

func (s *Server) addOverride(r *http.Request, p Principal, o Override) (Override, error) {
	o.Term, o.Replacement = strings.TrimSpace(o.Term), strings.TrimSpace(o.Replacement)
	switch {
	case o.Kind != Synonym && o.Kind != StopWord:
		return Override{}, errStatus(http.StatusBadRequest, "kind must be synonym or stopword")
	case o.Term == "" || len(o.Term) > 100 || len(o.Replacement) > 200:
		return Override{}, errStatus(http.StatusBadRequest, "term is required (at most 100 characters; replacement at most 200)")
	case o.Kind == Synonym && o.Replacement == "":
		return Override{}, errStatus(http.StatusBadRequest, "a synonym needs a replacement: what the term means")
	case o.Kind == StopWord && o.Replacement != "":
		return Override{}, errStatus(http.StatusBadRequest, "a stop-word has no replacement")
	}
	o.CreatedBy, o.CreatedAt = p.Actor(), s.now().UTC()
	out, err := s.cfg.Ops.AddOverride(r.Context(), o)
	if err != nil {
		return Override{}, err
	}
	s.audit(r, p, "search.override.add", fmt.Sprintf("override:%d", out.ID), "", asJSON(out))
	s.refreshTuner(r.Context())
	return out, nil
}

// refreshTuner applies an edit on this replica at once; the others pick
// it up on their next refresh.
func (s *Server) refreshTuner(ctx context.Context) {
	if s.cfg.Tuner != nil {
		if _, err := s.cfg.Tuner.Refresh(ctx); err != nil {
			s.log.Warn("search overrides: refresh failed", "error", err)
		}
	}
}

func (s *Server) apiOverrideAdd(r *http.Request, p Principal) (any, error) {
	var o Override
	var in struct {
		Kind        string `json:"kind"`
		Term        string `json:"term"`
		Replacement string `json:"replacement"`
	}
	if err := decode(nil, r, &in); err != nil {
		return nil, err
	}
	o.Kind, o.Term, o.Replacement = in.Kind, in.Term, in.Replacement
	return s.addOverride(r, p, o)
}

func (s *Server) deleteOverride(r *http.Request, p Principal, id int64) error {
	before, err := s.cfg.Ops.DeleteOverride(r.Context(), id)
	if err != nil {
		return err
	}
	s.audit(r, p, "search.override.delete", fmt.Sprintf("override:%d", id), asJSON(before), "")
	s.refreshTuner(r.Context())
	return nil
}

func (s *Server) apiOverrideDelete(r *http.Request, p Principal) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return nil, s.deleteOverride(r, p, id)
}

// --- audit log ------------------------------------------------------------

func auditFilter(r *http.Request) (AuditFilter, error) {
	q := r.URL.Query()
	f := AuditFilter{Actor: q.Get("actor"), Action: q.Get("action"), Dossier: q.Get("dossier"), Channel: q.Get("channel"),
		User: q.Get("user"), Limit: limitOf(r)}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		v := q.Get(t.name)
		if v == "" {
			continue
		}
		tm, err := time.Parse(time.RFC3339, v)
		if err != nil {
			if tm, err = time.ParseInLocation(time.DateOnly, v, time.UTC); err != nil {
				return f, errStatus(http.StatusBadRequest, "%s must be a date (2026-01-31) or an RFC 3339 time", t.name)
			}
			if t.name == "to" {
				tm = tm.Add(24 * time.Hour)
			}
		}
		*t.dst = tm.UTC()
	}
	if v := q.Get("before_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return f, errStatus(http.StatusBadRequest, "before_id must be a number")
		}
		f.BeforeID = id
	}
	if f.User != "" {
		f.User = UserHash(f.Channel, f.User)
	}
	return f, nil
}

// UserHash is how the audit log keeps a channel's user id: a hash, so the
// log names no phone number, yet a known user can be looked up.
func UserHash(channel, user string) string {
	return TokenHash(channel + ":" + user)[:20]
}

func (s *Server) apiAudit(r *http.Request, p Principal) (any, error) {
	f, err := auditFilter(r)
	if err != nil {
		return nil, err
	}
	list, err := s.cfg.Store.Audit(r.Context(), f)
	return map[string]any{"entries": nonNil(list)}, err
}

func (s *Server) auditCSV(w http.ResponseWriter, r *http.Request) {
	p, ok, err := s.authenticate(r)
	switch {
	case err != nil:
		s.writeError(w, r, p, err)
		return
	case !ok:
		s.writeError(w, r, p, errNotSignedI)
		return
	case p.Role != Admin:
		s.writeError(w, r, p, errForbidden)
		return
	}
	f, err := auditFilter(r)
	if err != nil {
		s.writeError(w, r, p, err)
		return
	}
	if r.URL.Query().Get("limit") == "" {
		f.Limit = 100000
	}
	list, err := s.cfg.Store.Audit(r.Context(), f)
	if err != nil {
		s.writeError(w, r, p, err)
		return
	}
	s.audit(r, p, "audit.export", r.URL.RawQuery, "", strconv.Itoa(len(list))+" entries")
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="dvcbot-audit.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "at", "actor", "role", "source", "action", "target", "before", "after", "channel", "user", "dossier", "agency", "tier"})
	for _, e := range list {
		tier := ""
		if e.Tier != nil {
			tier = strconv.Itoa(*e.Tier)
		}
		_ = cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.Format(time.RFC3339), csvSafe(e.Actor), e.Role, e.Source, e.Action,
			csvSafe(e.Target), csvSafe(e.Before), csvSafe(e.After), e.Channel, e.User, csvSafe(e.Dossier), csvSafe(e.Agency), tier})
	}
	cw.Flush()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// --- accounts and API keys --------------------------------------------------

func (s *Server) apiAccounts(r *http.Request, p Principal) (any, error) {
	list, err := s.cfg.Store.Accounts(r.Context())
	return map[string]any{"accounts": nonNil(list)}, err
}

// AccountRequest creates or changes an account; absent fields keep their
// value on PATCH.
type AccountRequest struct {
	Email    string  `json:"email"`
	Name     *string `json:"name"`
	Role     *string `json:"role"`
	Agency   *string `json:"agency"`
	Password *string `json:"password"`
	Closed   *bool   `json:"closed"`
}

func (s *Server) createAccount(r *http.Request, p Principal, in AccountRequest) (Account, error) {
	email, err := NormalizeEmail(in.Email)
	if err != nil {
		return Account{}, errStatus(http.StatusBadRequest, "%v", err)
	}
	a := Account{Email: email, Role: Viewer}
	if in.Name != nil {
		a.Name = strings.TrimSpace(*in.Name)
	}
	if in.Role != nil {
		a.Role = Role(*in.Role)
	}
	if in.Agency != nil {
		a.Agency = strings.TrimSpace(*in.Agency)
	}
	if err := ValidateAccount(a); err != nil {
		return Account{}, errStatus(http.StatusBadRequest, "%v", err)
	}
	if in.Password == nil {
		return Account{}, errStatus(http.StatusBadRequest, "password is required")
	}
	hash, err := HashPassword(*in.Password)
	if err != nil {
		return Account{}, errStatus(http.StatusBadRequest, "%v", err)
	}
	out, err := s.cfg.Store.CreateAccount(r.Context(), a, hash)
	if err != nil {
		return Account{}, err
	}
	s.audit(r, p, "account.create", out.Email, "", asJSON(accountAudit(out)))
	return out, nil
}

func accountAudit(a Account) map[string]any {
	return map[string]any{"email": a.Email, "name": a.Name, "role": a.Role, "agency": a.Agency, "closed": a.Closed}
}

func (s *Server) apiAccountCreate(r *http.Request, p Principal) (any, error) {
	var in AccountRequest
	if err := decode(nil, r, &in); err != nil {
		return nil, err
	}
	return s.createAccount(r, p, in)
}

func (s *Server) updateAccount(r *http.Request, p Principal, id int64, in AccountRequest) (Account, error) {
	before, err := s.cfg.Store.Account(r.Context(), id)
	if err != nil {
		return Account{}, err
	}
	a := before
	if in.Name != nil {
		a.Name = strings.TrimSpace(*in.Name)
	}
	if in.Role != nil {
		a.Role = Role(*in.Role)
	}
	if in.Agency != nil {
		a.Agency = strings.TrimSpace(*in.Agency)
	}
	if in.Closed != nil {
		a.Closed = *in.Closed
	}
	if err := ValidateAccount(a); err != nil {
		return Account{}, errStatus(http.StatusBadRequest, "%v", err)
	}
	if p.Kind == "account" && p.ID == id && (a.Closed || a.Role != Admin) {
		return Account{}, errStatus(http.StatusConflict, "you cannot close your own account or take away your own admin role")
	}
	hash := ""
	if in.Password != nil {
		if hash, err = HashPassword(*in.Password); err != nil {
			return Account{}, errStatus(http.StatusBadRequest, "%v", err)
		}
	}
	out, err := s.cfg.Store.UpdateAccount(r.Context(), a, hash)
	if err != nil {
		return Account{}, err
	}
	after := accountAudit(out)
	if hash != "" {
		after["password"] = "changed"
	}
	s.audit(r, p, "account.update", out.Email, asJSON(accountAudit(before)), asJSON(after))
	return out, nil
}

func (s *Server) apiAccountUpdate(r *http.Request, p Principal) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	var in AccountRequest
	if err := decode(nil, r, &in); err != nil {
		return nil, err
	}
	if in.Email != "" {
		return nil, errStatus(http.StatusBadRequest, "the e-mail of an account cannot change; close it and create another")
	}
	return s.updateAccount(r, p, id, in)
}

func (s *Server) apiKeys(r *http.Request, p Principal) (any, error) {
	list, err := s.cfg.Store.APIKeys(r.Context())
	return map[string]any{"keys": nonNil(list)}, err
}

// CreateAPIKey stores a new key and returns it with its secret (shown once).
func CreateAPIKey(ctx context.Context, st Store, name string, role Role, agency string) (APIKey, string, error) {
	name, agency = strings.TrimSpace(name), strings.TrimSpace(agency)
	if name == "" || len(name) > 100 {
		return APIKey{}, "", errStatus(http.StatusBadRequest, "name is required (at most 100 characters)")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return APIKey{}, "", errStatus(http.StatusBadRequest, "%v", err)
	}
	if role == Officer && agency == "" {
		return APIKey{}, "", errStatus(http.StatusBadRequest, "an officer key needs an agency")
	}
	secret := NewToken(APIKeyPrefix)
	k, err := st.CreateAPIKey(ctx, APIKey{Name: name, Role: role, Agency: agency, Prefix: secret[:len(APIKeyPrefix)+6]}, TokenHash(secret))
	return k, secret, err
}

func (s *Server) createKey(r *http.Request, p Principal, name, role, agency string) (map[string]any, error) {
	k, secret, err := CreateAPIKey(r.Context(), s.cfg.Store, name, Role(role), agency)
	if err != nil {
		return nil, err
	}
	s.audit(r, p, "apikey.create", k.Name, "", asJSON(k))
	return map[string]any{"key": k, "secret": secret}, nil
}

func (s *Server) apiKeyCreate(r *http.Request, p Principal) (any, error) {
	var in struct {
		Name   string `json:"name"`
		Role   string `json:"role"`
		Agency string `json:"agency"`
	}
	if err := decode(nil, r, &in); err != nil {
		return nil, err
	}
	return s.createKey(r, p, in.Name, in.Role, in.Agency)
}

func (s *Server) revokeKey(r *http.Request, p Principal, id int64) (APIKey, error) {
	k, err := s.cfg.Store.RevokeAPIKey(r.Context(), id)
	if err != nil {
		return APIKey{}, err
	}
	s.audit(r, p, "apikey.revoke", k.Name, `{"revoked":false}`, `{"revoked":true}`)
	return k, nil
}

func (s *Server) apiKeyRevoke(r *http.Request, p Principal) (any, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return s.revokeKey(r, p, id)
}

// IsBadRequest reports whether err says the input was wrong.
func IsBadRequest(err error) bool {
	var ae apiError
	return errors.As(err, &ae) && ae.status == http.StatusBadRequest
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
