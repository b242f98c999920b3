package sms

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// maxMOBody bounds a Kannel request: a concatenated MO is a few KB at most.
const maxMOBody = 64 << 10

// serveKannel answers smsbox's get-url or post-url call. The reply is the
// HTTP body (text/plain; charset=utf-8); smsbox sends it as the MT. Any
// status but 200 makes Kannel send its own canned error to the citizen, so
// only refused callers get one.
func (c *Channel) serveKannel(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var body []byte
	if r.Method == http.MethodPost {
		var err error
		body, err = httpx.ReadBody(w, r, maxMOBody)
		if err != nil {
			c.mo.WithLabelValues("kannel", "too_large").Inc()
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct == "application/x-www-form-urlencoded" {
			form, err := url.ParseQuery(string(body))
			if err != nil {
				http.Error(w, "malformed form body", http.StatusBadRequest)
				return
			}
			for k, v := range form {
				q[k] = v
			}
			body = nil
		}
	}
	if !c.allowed(r, q.Get("key")) {
		c.mo.WithLabelValues("kannel", "refused").Inc()
		c.log.Warn("sms kannel call refused", "remote", r.RemoteAddr)
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	m, err := c.parseKannel(r, q, body)
	if err != nil {
		c.mo.WithLabelValues("kannel", "invalid").Inc()
		c.log.Warn("sms kannel request invalid", "error", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reply, outcome, err := c.receive(r.Context(), "kannel", m)
	c.mo.WithLabelValues("kannel", outcome).Inc()
	if err != nil {
		c.log.Warn("sms kannel request invalid", "error", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if outcome == inbound.Failed {
		// Neither recorded nor spooled: Kannel sends its own apology.
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if reply != "" && !vntext.IsGSM7(reply) {
		w.Header().Set("X-Kannel-Coding", "2") // UCS-2; needs accept-x-kannel-headers
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, reply)
}

// parseKannel reads sender, to, text, id, ts, coding and charset from the
// query (get-url) or the body and X-Kannel headers (post-url).
func (c *Channel) parseKannel(r *http.Request, q url.Values, body []byte) (mo, error) {
	m := mo{ID: q.Get("id"), From: q.Get("sender"), To: q.Get("to")}
	if m.From == "" {
		m.From = r.Header.Get("X-Kannel-From")
	}
	if m.To == "" {
		m.To = r.Header.Get("X-Kannel-To")
	}
	if m.From == "" {
		return mo{}, errors.New("sender is required (get-url: sender=%p)")
	}
	coding, charset := q.Get("coding"), q.Get("charset")
	raw := []byte(q.Get("text"))
	if body != nil {
		raw = body
		if _, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && params["charset"] != "" {
			charset = params["charset"]
		}
		if h := r.Header.Get("X-Kannel-Coding"); h != "" && coding == "" {
			coding = h
		}
	}
	text, err := decodeText(raw, coding, charset)
	if err != nil {
		return mo{}, err
	}
	m.Text = text
	m.Time = parseKannelTime(q.Get("ts"), r.Header.Get("X-Kannel-Time"))
	return m, nil
}

// decodeText turns an MO's bytes into text: UTF-8 (Kannel with mo-recode,
// the recommended set-up) or raw UTF-16BE UCS-2 (coding 2 without recoding).
func decodeText(b []byte, coding, charset string) (string, error) {
	cs := strings.ToUpper(strings.Trim(charset, `"`))
	if cs == "UTF-16BE" || cs == "UCS-2" || (coding == "2" && cs != "UTF-8") {
		if len(b)%2 != 0 {
			return "", errors.New("UCS-2 text has an odd number of bytes")
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		return string(utf16.Decode(u)), nil
	}
	if !utf8.Valid(b) {
		// 8-bit GSM or Latin-1 from a badly configured SMSC: keep what reads.
		return strings.ToValidUTF8(string(b), "?"), nil
	}
	return string(b), nil
}

// parseKannelTime reads %T (unix seconds), %t or X-Kannel-Time (UTC
// "YYYY-MM-DD HH:MM:SS"; Kannel 1.4.5 writes "+" for the space).
func parseKannelTime(ts, header string) time.Time {
	if n, err := strconv.ParseInt(ts, 10, 64); err == nil {
		return time.Unix(n, 0).UTC()
	}
	for _, v := range []string{ts, header} {
		v = strings.ReplaceAll(v, "+", " ")
		if t, err := time.Parse("2006-01-02 15:04:05", v); err == nil {
			return t.UTC()
		}
	}
	return time.Now().UTC()
}
