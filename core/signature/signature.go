// Package signature signs and verifies webhook bodies the way the one-stop
// system and the generic SMS gateway do: HMAC-SHA256 over
// timestamp + "." + raw body, sent as "sha256=<lowercase hex>".
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// Window is how far a timestamp may be from now.
const Window = 300 * time.Second

var (
	ErrMissing   = errors.New("missing signature or timestamp")
	ErrTimestamp = errors.New("timestamp is not unix seconds or is more than 300 s away from now")
	ErrMismatch  = errors.New("signature does not match")
	ErrNoSecret  = errors.New("no secret configured")
)

// Sign returns the header value for body signed at ts.
func Sign(secret []byte, ts int64, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(secret, strconv.FormatInt(ts, 10), body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a timestamp header and a signature header against body, in
// constant time.
func Verify(secret []byte, tsHeader, sigHeader string, body []byte, now time.Time) error {
	if len(secret) == 0 {
		return ErrNoSecret
	}
	tsHeader, sigHeader = strings.TrimSpace(tsHeader), strings.TrimSpace(sigHeader)
	if tsHeader == "" || sigHeader == "" {
		return ErrMissing
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return ErrTimestamp
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Window || d < -Window {
		return ErrTimestamp
	}
	got, err := hex.DecodeString(strings.TrimPrefix(sigHeader, "sha256="))
	if err != nil || !strings.HasPrefix(sigHeader, "sha256=") {
		return ErrMismatch
	}
	if !hmac.Equal(got, mac(secret, tsHeader, body)) {
		return ErrMismatch
	}
	return nil
}
