package webchat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
)

// SessionKeeper issues and checks the web chat's session ids; the citizen
// bot implements it over the session store. Only an id the server issued is
// accepted: a made-up or planted cookie value gets a new, empty session, and
// the id changes when the user verifies, so a cookie planted before cannot
// share the verified view.
type SessionKeeper = channels.SessionKeeper

// WithSessions makes the channel accept only server-issued session ids.
// Without it ids are random but any well-formed cookie value is accepted.
func WithSessions(k SessionKeeper) Option {
	return func(c *Channel) { c.sessions = k }
}

// Rotator gives a session a new id when its user verifies, as
// SessionKeeper.RotateSession does. The hand-off desk (core/ticket.Desk) is
// one that moves the citizen's tickets to the new id in the same
// transaction, so an officer's answer reaches the page after the rotation
// and the old id keeps nothing.
type Rotator interface {
	RotateSession(ctx context.Context, channel, id string) (newID, ticket string, err error)
}

// WithRotator makes r rotate session ids instead of the SessionKeeper
// (which WithSessions still needs: it issues, checks and redeems).
func WithRotator(r Rotator) Option {
	return func(c *Channel) { c.rotator = r }
}

func (c *Channel) keeper() SessionKeeper { return c.sessions }

// sessionID returns the session of the request and, when it is new, the
// Set-Cookie header for it. A ?ticket= from a rotation is redeemed first (it
// carries the new id of a session that just verified); then a known cookie
// is kept; anything else gets a newly issued id.
func (c *Channel) sessionID(w http.ResponseWriter, r *http.Request) (string, http.Header) {
	ctx := r.Context()
	k := c.keeper()
	if k != nil {
		if t := r.URL.Query().Get("ticket"); t != "" {
			id, err := k.RedeemSessionTicket(ctx, message.WebChat, t)
			if err != nil {
				c.log.Error("redeeming a web chat session ticket", "error", err)
			}
			if id != "" {
				return id, c.cookieHeader(id)
			}
		}
	}
	if ck, err := r.Cookie(CookieName); err == nil && validID(ck.Value) {
		if k == nil {
			return ck.Value, nil
		}
		known, err := k.KnownSession(ctx, message.WebChat, ck.Value)
		if err != nil {
			c.log.Error("checking a web chat session", "error", err)
		}
		if known {
			return ck.Value, nil
		}
	}
	id := ""
	if k != nil {
		var err error
		if id, err = k.IssueSession(ctx, message.WebChat); err != nil {
			// The database is away: a random id still works for this
			// conversation, and becomes known when its session is saved.
			c.log.Error("issuing a web chat session", "error", err)
			id = ""
		}
	}
	if id == "" {
		b := make([]byte, 16)
		_, _ = rand.Read(b)
		id = hex.EncodeToString(b)
	}
	return id, c.cookieHeader(id)
}

func (c *Channel) cookieHeader(id string) http.Header {
	ck := &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true, Secure: c.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: 30 * 24 * 3600}
	h := http.Header{}
	h.Add("Set-Cookie", ck.String())
	return h
}

func validID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// rotateSession gives the session of user a new id after the user verified
// (a reply with RotateSession). serveWS then answers as newID and sends the
// ticket to the page ({"session": ticket}); the page reconnects with
// ?ticket=… and sessionID sets the cookie of newID on that upgrade. The old
// id is forgotten: whoever else holds it starts over. The rotator (when
// set) moves the user's hand-off along. Without a keeper, or when the store
// fails (logged), it returns user and no ticket.
func (c *Channel) rotateSession(ctx context.Context, user string) (newID, ticket string) {
	k := c.keeper()
	if k == nil {
		return user, ""
	}
	var r Rotator = k
	if c.rotator != nil {
		r = c.rotator
	}
	newID, ticket, err := r.RotateSession(ctx, message.WebChat, user)
	if err != nil {
		c.log.Error("rotating a web chat session", "error", err)
		return user, ""
	}
	return newID, ticket
}

// pageTexts are the page's own words in every language, so the page can
// switch when the user changes language in the conversation.
type pageTexts struct {
	Title        string `json:"title"`
	Intro        string `json:"intro"`
	Label        string `json:"label"`
	Log          string `json:"log"`
	Choices      string `json:"choices"`
	Placeholder  string `json:"placeholder"`
	Send         string `json:"send"`
	Connecting   string `json:"connecting"`
	Reconnecting string `json:"reconnecting"`
	Offline      string `json:"offline"`
}

type pageData struct {
	Lang string
	pageTexts
	All map[string]pageTexts
}

func (c *Channel) texts(lang string) pageTexts {
	t := func(id string) string { return c.tr.T(lang, id) }
	return pageTexts{Title: t("web_title"), Intro: t("web_intro"), Label: t("web_input_label"), Log: t("web_log_label"),
		Choices: t("web_choices_label"), Placeholder: t("hint_start"), Send: t("web_send"), Connecting: t("web_connecting"),
		Reconnecting: t("web_reconnecting"), Offline: t("web_offline")}
}

// servePage renders the page in ?lang= when given (and keeps it in the
// session, so the greeting follows), else in the session's language.
func (c *Channel) servePage(w http.ResponseWriter, r *http.Request) {
	id, h := c.sessionID(w, r)
	for _, v := range h.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", v)
	}
	lang := r.URL.Query().Get("lang")
	k := c.keeper()
	switch {
	case i18n.Supported(lang) && k != nil:
		if err := k.SetSessionLang(r.Context(), message.WebChat, id, lang); err != nil {
			c.log.Error("storing the web chat language", "error", err)
		}
	case i18n.Supported(lang):
	case k != nil:
		lang = k.SessionLang(r.Context(), message.WebChat, id)
	default:
		lang = i18n.Default
	}
	all := map[string]pageTexts{}
	for _, l := range i18n.Languages() {
		all[l] = c.texts(l)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self' ws: wss:")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := c.page.Execute(w, pageData{Lang: lang, pageTexts: all[lang], All: all}); err != nil {
		c.log.Error("rendering the web chat page", "error", err)
	}
}
