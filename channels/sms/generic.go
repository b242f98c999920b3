package sms

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/signature"
)

// genericMO is the generic gateway's MO: {"id", "from", "to", "text", "ts"}.
type genericMO struct {
	ID   *string         `json:"id"`
	From *string         `json:"from"`
	To   string          `json:"to"`
	Text *string         `json:"text"`
	TS   json.RawMessage `json:"ts"`
}

// serveGeneric answers POST /channels/sms/generic, signed like the dossier
// API (X-DVC-Timestamp, X-DVC-Signature with DVCBOT_SMS_SECRET), with
// {"reply": "…"} ("" when nothing must be sent).
func (c *Channel) serveGeneric(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Secret == "" {
		httpx.Error(w, http.StatusServiceUnavailable, "the generic SMS gateway is disabled: DVCBOT_SMS_SECRET is not set")
		return
	}
	body, err := httpx.ReadBody(w, r, maxMOBody)
	if errors.Is(err, httpx.ErrTooLarge) {
		httpx.Error(w, http.StatusRequestEntityTooLarge, "body larger than 64 KiB")
		return
	}
	if err != nil {
		httpx.Error(w, http.StatusBadRequest, "could not read body")
		return
	}
	if err := signature.Verify([]byte(c.cfg.Secret), r.Header.Get("X-DVC-Timestamp"), r.Header.Get("X-DVC-Signature"), body, c.now()); err != nil {
		c.mo.WithLabelValues("generic", "refused").Inc()
		c.log.Warn("sms generic call refused", "remote", r.RemoteAddr, "reason", err.Error())
		httpx.Error(w, http.StatusUnauthorized, err.Error())
		return
	}
	var g genericMO
	if err := json.Unmarshal(body, &g); err != nil {
		httpx.JSON(w, http.StatusBadRequest, map[string]string{"error": "not a JSON object", "field": "body"})
		return
	}
	bad := func(field, msg string) {
		c.mo.WithLabelValues("generic", "invalid").Inc()
		httpx.JSON(w, http.StatusBadRequest, map[string]string{"error": msg, "field": field})
	}
	switch {
	case g.ID == nil || *g.ID == "":
		bad("id", "id is required: it makes retries idempotent")
		return
	case g.From == nil || *g.From == "":
		bad("from", "from is required")
		return
	case g.Text == nil:
		bad("text", "text is required")
		return
	}
	m := mo{ID: *g.ID, From: *g.From, To: g.To, Text: *g.Text, Time: c.now().UTC()}
	if len(g.TS) > 0 && string(g.TS) != "null" {
		t, ok := parseGenericTime(g.TS)
		if !ok {
			bad("ts", "ts must be unix seconds or RFC 3339")
			return
		}
		m.Time = t
	}
	reply, outcome, err := c.receive(r.Context(), "generic", m)
	c.mo.WithLabelValues("generic", outcome).Inc()
	var fe *inbound.FieldError
	switch {
	case errors.As(err, &fe):
		field := map[string]string{"message_id": "id", "user_id": "from"}[fe.Field]
		bad(field, fe.Error())
		return
	case outcome == outBadPhone:
		bad("from", "from is not a valid Vietnamese phone number")
		return
	case outcome == inbound.Failed:
		httpx.Error(w, http.StatusServiceUnavailable, "could not record the message; retry")
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]string{"reply": reply})
}

func parseGenericTime(raw json.RawMessage) (time.Time, bool) {
	var n int64
	if err := json.Unmarshal(raw, &n); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), true
	}
	t, err := time.Parse(time.RFC3339, s)
	return t.UTC(), err == nil
}
