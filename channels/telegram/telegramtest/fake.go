// Package telegramtest fakes the Telegram Bot API for tests, on its wire
// format: POST /bot<token>/<method> with multipart forms, {"ok", "result"}
// answers, long-polled getUpdates.
package telegramtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dvcbot/dvcbot/channels/channeltest"
)

// Sent is one sendMessage call.
type Sent struct {
	ChatID  int64
	Text    string
	Buttons []Button
}

// Button is an inline keyboard button.
type Button struct {
	Text, Data string
}

// Fake is the Bot API.
type Fake struct {
	Token string

	channeltest.Changes // Await a state of the fake

	mu        sync.Mutex
	updates   []json.RawMessage
	nextID    int64
	sent      []Sent
	Webhook   map[string]string // the last setWebhook form
	Commands  []string
	Answered  []string // callback query ids
	calls     map[string]int
	Forbidden map[int64]bool // chats that blocked the bot
	// Flood makes the next Flood sendMessage calls fail with 429 and
	// retry_after RetryAfter seconds (Telegram's flood control).
	Flood      int
	RetryAfter int
	floodAt    []time.Time // when each 429 was answered
	sentAt     []time.Time
}

// FloodAt returns when the 429 answers were given.
func (f *Fake) FloodAt() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.floodAt...)
}

// SentAt returns when each message was accepted.
func (f *Fake) SentAt() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.sentAt...)
}

func tooMany(w http.ResponseWriter, retryAfter int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusTooManyRequests)
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error_code": 429,
		"description": fmt.Sprintf("Too Many Requests: retry after %d", retryAfter),
		"parameters":  map[string]any{"retry_after": retryAfter}})
}

// New returns an empty fake.
func New(token string) *Fake {
	return &Fake{Token: token, nextID: 1000, calls: map[string]int{}, Forbidden: map[int64]bool{}}
}

// Server starts the fake.
func (f *Fake) Server() *httptest.Server { return httptest.NewServer(f) }

// Push queues an update for getUpdates and returns its update_id; body is
// the update without update_id.
func (f *Fake) Push(body map[string]any) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	body["update_id"] = f.nextID
	b, _ := json.Marshal(body)
	f.updates = append(f.updates, b)
	f.Notify()
	return f.nextID
}

// Sent returns the messages sent so far.
func (f *Fake) Sent() []Sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Sent(nil), f.sent...)
}

// Calls counts calls of a method.
func (f *Fake) Calls(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func ok(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

func fail(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error_code": code, "description": desc})
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer f.Notify() // whatever the call changed
	prefix := "/bot" + f.Token + "/"
	if !strings.HasPrefix(r.URL.Path, prefix) {
		fail(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	method := strings.TrimPrefix(r.URL.Path, prefix)
	if err := r.ParseMultipartForm(1 << 20); err != nil && !strings.Contains(err.Error(), "not multipart") && !strings.Contains(err.Error(), "EOF") {
		fail(w, http.StatusBadRequest, "Bad Request: "+err.Error())
		return
	}
	form := func(k string) string { return r.FormValue(k) }
	f.mu.Lock()
	f.calls[method]++
	f.mu.Unlock()
	switch method {
	case "getMe":
		ok(w, map[string]any{"id": 777000111, "is_bot": true, "first_name": "DVC", "username": "dvcbot_test_bot"})
	case "setMyCommands":
		var cmds []struct{ Command string }
		_ = json.Unmarshal([]byte(form("commands")), &cmds)
		f.mu.Lock()
		f.Commands = nil
		for _, c := range cmds {
			f.Commands = append(f.Commands, c.Command)
		}
		f.mu.Unlock()
		ok(w, true)
	case "setWebhook":
		f.mu.Lock()
		f.Webhook = map[string]string{"url": form("url"), "secret_token": form("secret_token")}
		f.mu.Unlock()
		ok(w, true)
	case "deleteWebhook":
		f.mu.Lock()
		f.Webhook = nil
		f.mu.Unlock()
		ok(w, true)
	case "getUpdates":
		f.getUpdates(r.Context(), w, form("offset"), form("timeout"))
	case "sendMessage":
		chat, _ := strconv.ParseInt(form("chat_id"), 10, 64)
		f.mu.Lock()
		if f.Forbidden[chat] {
			f.mu.Unlock()
			fail(w, http.StatusForbidden, "Forbidden: bot was blocked by the user")
			return
		}
		if f.Flood > 0 {
			f.Flood--
			f.floodAt = append(f.floodAt, time.Now())
			f.mu.Unlock()
			tooMany(w, f.RetryAfter)
			return
		}
		s := Sent{ChatID: chat, Text: form("text")}
		var markup struct {
			InlineKeyboard [][]struct {
				Text         string `json:"text"`
				CallbackData string `json:"callback_data"`
			} `json:"inline_keyboard"`
		}
		if rm := form("reply_markup"); rm != "" {
			_ = json.Unmarshal([]byte(rm), &markup)
		}
		for _, row := range markup.InlineKeyboard {
			for _, b := range row {
				s.Buttons = append(s.Buttons, Button{Text: b.Text, Data: b.CallbackData})
			}
		}
		if len(s.Text) == 0 || len([]rune(s.Text)) > 4096 {
			f.mu.Unlock()
			fail(w, http.StatusBadRequest, "Bad Request: message text is empty or too long")
			return
		}
		f.sent = append(f.sent, s)
		f.sentAt = append(f.sentAt, time.Now())
		id := len(f.sent)
		f.mu.Unlock()
		ok(w, map[string]any{"message_id": id, "date": time.Now().Unix(), "chat": map[string]any{"id": chat, "type": "private"}, "text": s.Text})
	case "answerCallbackQuery":
		f.mu.Lock()
		f.Answered = append(f.Answered, form("callback_query_id"))
		f.mu.Unlock()
		ok(w, true)
	default:
		fail(w, http.StatusNotFound, "Not Found: method not found")
	}
}

// getUpdates answers with the queued updates from offset, waiting up to the
// timeout (capped at 1 s here) for one to arrive.
func (f *Fake) getUpdates(ctx context.Context, w http.ResponseWriter, offsetS, timeoutS string) {
	offset, _ := strconv.ParseInt(offsetS, 10, 64)
	timeout, _ := strconv.Atoi(timeoutS)
	out := []json.RawMessage{}
	f.Await(ctx, min(time.Duration(timeout)*time.Second, time.Second), func() bool {
		out = f.updatesFrom(offset)
		return len(out) > 0
	})
	ok(w, out)
}

func (f *Fake) updatesFrom(offset int64) []json.RawMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := []json.RawMessage{}
	for _, u := range f.updates {
		var id struct {
			UpdateID int64 `json:"update_id"`
		}
		_ = json.Unmarshal(u, &id)
		if id.UpdateID >= offset {
			out = append(out, u)
		}
	}
	return out
}
