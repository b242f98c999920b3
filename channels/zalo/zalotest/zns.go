package zalotest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/dvcbot/dvcbot/channels/channeltest"
)

// ZNSSent is one template message ZNS accepted.
type ZNSSent struct {
	Phone, TemplateID, TrackingID, MsgID, Mode string
	Data                                       map[string]string
}

// ZNS fakes Zalo Notification Service (zns.md): POST /message/template with
// the OA's access token (the Fake's token pair), answering from a table
// per phone, and pushes signed delivery events back to the bot.
type ZNS struct {
	channeltest.Changes

	f  *Fake
	mu sync.Mutex
	// Answers maps a phone to the error code ZNS answers for it
	// (e.g. -118 no Zalo account, -144 quota); absent: success.
	Answers map[string]int
	// ExpireOnce answers the next request -124 (expired token) once.
	ExpireOnce bool
	// Params lists the declared parameters of each template: a request
	// with a missing or extra one is refused (-1xx); absent: any.
	Params   map[string][]string
	sent     []ZNSSent
	requests int
}

// NewZNS returns the ZNS side of the fake, checking f's access tokens.
func (f *Fake) NewZNS() *ZNS {
	return &ZNS{f: f, Answers: map[string]int{}, Params: map[string][]string{}}
}

// Server serves /message/template.
func (z *ZNS) Server() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /message/template", z.template)
	return httptest.NewServer(mux)
}

// Sent lists the accepted messages.
func (z *ZNS) Sent() []ZNSSent {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]ZNSSent(nil), z.sent...)
}

// Requests counts every request, refused ones included.
func (z *ZNS) Requests() int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return z.requests
}

func (z *ZNS) template(w http.ResponseWriter, r *http.Request) {
	defer z.Notify()
	var body struct {
		Phone        string            `json:"phone"`
		TemplateID   string            `json:"template_id"`
		TemplateData map[string]string `json:"template_data"`
		TrackingID   string            `json:"tracking_id"`
		Mode         string            `json:"mode"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeJSON(w, map[string]any{"error": -100, "message": "body is invalid"})
		return
	}
	z.f.mu.Lock()
	tokenOK := r.Header.Get("access_token") != "" && r.Header.Get("access_token") == z.f.access && time.Now().Before(z.f.accessExpiry)
	z.f.mu.Unlock()
	z.mu.Lock()
	defer z.mu.Unlock()
	z.requests++
	if !tokenOK || z.ExpireOnce {
		z.ExpireOnce = false
		writeJSON(w, map[string]any{"error": -124, "message": "Access token is invalid"})
		return
	}
	if len(body.Phone) < 10 || body.Phone[:2] != "84" {
		writeJSON(w, map[string]any{"error": -108, "message": "Phone number is invalid"})
		return
	}
	if len(body.TrackingID) > 48 {
		writeJSON(w, map[string]any{"error": -100, "message": "tracking_id is too long"})
		return
	}
	if want, ok := z.Params[body.TemplateID]; ok {
		if len(want) != len(body.TemplateData) {
			writeJSON(w, map[string]any{"error": -131, "message": "template data does not match the template's parameters"})
			return
		}
		for _, p := range want {
			if _, ok := body.TemplateData[p]; !ok {
				writeJSON(w, map[string]any{"error": -131, "message": "missing parameter " + p})
				return
			}
		}
	}
	if code, ok := z.Answers[body.Phone]; ok && code != 0 {
		writeJSON(w, map[string]any{"error": code, "message": fmt.Sprintf("refused (%d)", code)})
		return
	}
	s := ZNSSent{Phone: body.Phone, TemplateID: body.TemplateID, TrackingID: body.TrackingID, Mode: body.Mode,
		Data: body.TemplateData, MsgID: fmt.Sprintf("zns%017d", len(z.sent)+1)}
	z.sent = append(z.sent, s)
	writeJSON(w, map[string]any{"error": 0, "message": "Success", "data": map[string]any{
		"msg_id": s.MsgID, "sent_time": strconv.FormatInt(time.Now().UnixMilli(), 10),
		"quota": map[string]string{"dailyQuota": "500", "remainingQuota": strconv.Itoa(500 - len(z.sent))}}})
}

// DeliveryEvent is the signed webhook request ZNS posts when a message
// reached the phone: event user_received_message with the message's
// msg_id and tracking_id, header X-ZEvent-Server: ZNS.
func DeliveryEvent(webhookURL, appID, oaID, oaSecret string, s ZNSSent, at time.Time) *http.Request {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	raw, _ := json.Marshal(map[string]any{
		"app_id": appID, "event_name": "user_received_message", "timestamp": ts,
		"sender": map[string]string{"id": oaID}, "recipient": map[string]string{"id": s.Phone},
		"message": map[string]string{"msg_id": s.MsgID, "tracking_id": s.TrackingID, "delivery_time": ts},
	})
	h := sha256.Sum256([]byte(appID + string(raw) + ts + oaSecret))
	req, _ := http.NewRequest(http.MethodPost, webhookURL, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-ZEvent-Signature", "mac="+hex.EncodeToString(h[:]))
	req.Header.Set("X-ZEvent-Server", "ZNS")
	return req
}
