package sms

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/notify"
)

// dlrStatus maps Kannel's DLR event bits (the %d of dlr-url) to what the
// outbox records. Vietnamese operators rarely report handset delivery, so
// "accepted" (8) is the usual best.
func dlrStatus(bits int) (string, bool) {
	switch bits {
	case 1:
		return notify.Delivered, true
	case 2:
		return notify.Undelivered, true
	case 4:
		return notify.Queued, true
	case 8:
		return notify.Accepted, true
	case 16:
		return notify.Rejected, true
	}
	return "", false
}

// DLR serves delivery reports: GET ?id=<outbox id>&status=<Kannel bits>
// (Kannel's dlr-url, or the generic gateway's callback with the same
// parameters). Every report goes into the message's history; the row's
// status only moves forward (a late "accepted" after "delivered" changes
// nothing), and a report for a message still in flight or awaiting a retry
// completes it, so it is not sent again.
type DLR struct {
	Outbox Receipts
	// Allowed checks the caller (address, key parameter).
	Allowed func(r *http.Request, key string) bool
	Log     *slog.Logger
}

func (d DLR) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if d.Allowed == nil || !d.Allowed(r, q.Get("key")) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if d.Outbox == nil {
		httpx.Error(w, http.StatusServiceUnavailable, "delivery reports are not recorded here")
		return
	}
	log := d.Log
	if log == nil {
		log = slog.Default()
	}
	id, err := strconv.ParseInt(q.Get("id"), 10, 64)
	if err != nil || id <= 0 {
		httpx.JSON(w, http.StatusBadRequest, map[string]string{"error": "id must be an outbox message id", "field": "id"})
		return
	}
	bits, err := strconv.Atoi(q.Get("status"))
	status, ok := dlrStatus(bits)
	if err != nil || !ok {
		httpx.JSON(w, http.StatusBadRequest, map[string]string{"error": "status must be a Kannel DLR value (1, 2, 4, 8 or 16)", "field": "status"})
		return
	}
	found, err := d.Outbox.RecordDelivery(r.Context(), id, status)
	if err != nil {
		log.Error("recording a delivery report", "id", id, "status", status, "error", err)
		httpx.Error(w, http.StatusInternalServerError, "could not record the report")
		return
	}
	if !found {
		httpx.JSON(w, http.StatusNotFound, map[string]string{"error": "no outbox message with this id"})
		return
	}
	log.Info("sms delivery report", "id", id, "status", status)
	httpx.JSON(w, http.StatusOK, map[string]string{"status": status})
}

// serveDLR records a delivery report: GET /channels/sms/dlr?id=<outbox id>&status=%d.
// It is protected like the MO route.
func (c *Channel) serveDLR(w http.ResponseWriter, r *http.Request) {
	DLR{Outbox: c.receipts, Allowed: c.allowed, Log: c.log}.ServeHTTP(w, r)
}
