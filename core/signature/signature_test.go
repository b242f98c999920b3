package signature

import (
	"errors"
	"strconv"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	secret := []byte("s3cret")
	now := time.Unix(1732250000, 0)
	body := []byte(`{"event_id":"x"}`)
	good := Sign(secret, now.Unix(), body)
	ts := strconv.FormatInt(now.Unix(), 10)
	tests := []struct {
		name    string
		secret  []byte
		ts, sig string
		body    []byte
		want    error
	}{
		{"valid", secret, ts, good, body, nil},
		{"no secret", nil, ts, good, body, ErrNoSecret},
		{"missing sig", secret, ts, "", body, ErrMissing},
		{"missing ts", secret, "", good, body, ErrMissing},
		{"old ts", secret, strconv.FormatInt(now.Unix()-301, 10), Sign(secret, now.Unix()-301, body), body, ErrTimestamp},
		{"future ts", secret, strconv.FormatInt(now.Unix()+301, 10), Sign(secret, now.Unix()+301, body), body, ErrTimestamp},
		{"edge ts", secret, strconv.FormatInt(now.Unix()-300, 10), Sign(secret, now.Unix()-300, body), body, nil},
		{"bad ts", secret, "yesterday", good, body, ErrTimestamp},
		{"tampered body", secret, ts, good, []byte(`{"event_id":"y"}`), ErrMismatch},
		{"wrong secret", []byte("other"), ts, good, body, ErrMismatch},
		{"no prefix", secret, ts, good[len("sha256="):], body, ErrMismatch},
		{"not hex", secret, ts, "sha256=zz", body, ErrMismatch},
		{"ts not signed", secret, strconv.FormatInt(now.Unix()-1, 10), good, body, ErrMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := Verify(tc.secret, tc.ts, tc.sig, tc.body, now); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}
