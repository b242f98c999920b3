// Package httpx holds the few HTTP helpers every handler shares: reading a
// bounded body and writing JSON.
package httpx

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// ErrTooLarge is returned by ReadBody when the body exceeds its limit.
var ErrTooLarge = errors.New("request body too large")

// ReadBody reads at most limit bytes of r's body.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, ErrTooLarge
	}
	return body, err
}

// JSON writes v with the given status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Error writes {"error": msg} with the given status.
func Error(w http.ResponseWriter, status int, msg string) {
	JSON(w, status, map[string]string{"error": msg})
}
