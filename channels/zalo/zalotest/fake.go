// Package zalotest fakes the Zalo platform for tests, speaking its wire
// format: the OAuth v4 endpoint with single-use rotating refresh tokens, and
// the OA API's consultation messages with its error envelope.
package zalotest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/dvcbot/dvcbot/channels/channeltest"
)

// Sent is one consultation message the OA sent.
type Sent struct {
	UserID  string
	Text    string
	Buttons []Button
}

// Button is a quick-reply button.
type Button struct {
	Title, Type, Payload string
}

// Fake is the Zalo side.
type Fake struct {
	channeltest.Changes // Await a state of the fake

	AppID, AppSecret string
	mu               sync.Mutex
	access           string
	accessExpiry     time.Time
	refresh          string
	generation       int
	Refreshes        int
	Unreachable      map[string]bool // user ids answered -230
	RejectTemplates  bool            // answer -233 to button messages
	sent             []Sent
	OAuthDelay       time.Duration
}

// New returns a fake whose first refresh token is "rt-0".
func New(appID, appSecret string) *Fake {
	return &Fake{AppID: appID, AppSecret: appSecret, refresh: "rt-0", Unreachable: map[string]bool{}}
}

// RefreshToken is the refresh token Zalo currently honours.
func (f *Fake) RefreshToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refresh
}

// AccessToken is the access token Zalo currently honours.
func (f *Fake) AccessToken() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.access
}

// ExpireAccess makes the current access token invalid (as after 25 h).
func (f *Fake) ExpireAccess() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accessExpiry = time.Now().Add(-time.Second)
}

// Sent returns the messages sent so far.
func (f *Fake) Sent() []Sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Sent(nil), f.sent...)
}

// Server serves both hosts (OAuth and OA API) on one test server.
func (f *Fake) Server() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v4/oa/access_token", f.oauth)
	mux.HandleFunc("POST /v3.0/oa/message/cs", f.cs)
	return httptest.NewServer(mux)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (f *Fake) oauth(w http.ResponseWriter, r *http.Request) {
	if f.OAuthDelay > 0 {
		time.Sleep(f.OAuthDelay)
	}
	if err := r.ParseForm(); err != nil || r.Header.Get("secret_key") != f.AppSecret || r.PostForm.Get("app_id") != f.AppID {
		writeJSON(w, map[string]any{"error": -14002, "error_name": "Invalid appId", "error_reason": "app_id or secret_key is wrong"})
		return
	}
	if r.PostForm.Get("grant_type") != "refresh_token" {
		writeJSON(w, map[string]any{"error": -14001, "error_name": "Invalid grant_type"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.PostForm.Get("refresh_token") != f.refresh {
		writeJSON(w, map[string]any{"error": -14020, "error_name": "Invalid refresh token", "error_reason": "refresh token already used or revoked"})
		return
	}
	f.generation++
	f.Refreshes++
	f.access = fmt.Sprintf("at-%d", f.generation)
	f.refresh = fmt.Sprintf("rt-%d", f.generation) // the old one is burnt
	f.accessExpiry = time.Now().Add(25 * time.Hour)
	writeJSON(w, map[string]any{"access_token": f.access, "refresh_token": f.refresh, "expires_in": "90000"})
}

func (f *Fake) cs(w http.ResponseWriter, r *http.Request) {
	defer f.Notify()
	var body struct {
		Recipient struct {
			UserID string `json:"user_id"`
		} `json:"recipient"`
		Message struct {
			Text       string `json:"text"`
			Attachment *struct {
				Type    string `json:"type"`
				Payload struct {
					Buttons []struct {
						Title   string `json:"title"`
						Type    string `json:"type"`
						Payload string `json:"payload"`
					} `json:"buttons"`
				} `json:"payload"`
			} `json:"attachment"`
		} `json:"message"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, map[string]any{"error": -201, "message": "body is invalid!"})
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if tok := r.Header.Get("access_token"); tok == "" || tok != f.access || time.Now().After(f.accessExpiry) {
		writeJSON(w, map[string]any{"error": -216, "message": "Access token is invalid"})
		return
	}
	if f.Unreachable[body.Recipient.UserID] {
		writeJSON(w, map[string]any{"error": -230, "message": "User has not interacted with the OA in the past 7 days"})
		return
	}
	if len([]rune(body.Message.Text)) > 2000 {
		writeJSON(w, map[string]any{"error": -210, "message": "Parameter exceeds allowable limit"})
		return
	}
	s := Sent{UserID: body.Recipient.UserID, Text: body.Message.Text}
	if a := body.Message.Attachment; a != nil {
		if f.RejectTemplates {
			writeJSON(w, map[string]any{"error": -233, "message": "message type is invalid or not support"})
			return
		}
		if len(a.Payload.Buttons) > 5 {
			writeJSON(w, map[string]any{"error": -210, "message": "Parameter exceeds allowable limit"})
			return
		}
		for _, b := range a.Payload.Buttons {
			s.Buttons = append(s.Buttons, Button{Title: b.Title, Type: b.Type, Payload: b.Payload})
		}
	}
	f.sent = append(f.sent, s)
	writeJSON(w, map[string]any{"error": 0, "message": "Success", "data": map[string]any{
		"message_id": fmt.Sprintf("%020x", len(f.sent)), "user_id": body.Recipient.UserID}})
}
