package sms

import (
	"net/http"
	"strconv"

	"github.com/dvcbot/dvcbot/core/httpx"
)

// dlrStatus maps Kannel's DLR event bits (the %d of dlr-url) to what the
// outbox records. Vietnamese operators rarely report handset delivery, so
// "accepted" (8) is the usual best.
func dlrStatus(bits int) (string, bool) {
	switch bits {
	case 1:
		return "delivered", true
	case 2:
		return "undelivered", true
	case 4:
		return "queued", true
	case 8:
		return "accepted", true
	case 16:
		return "rejected", true
	}
	return "", false
}

// serveDLR records a delivery report: GET /channels/sms/dlr?id=<outbox id>&status=%d
// (Kannel's dlr-url, or the generic gateway's callback with the same
// parameters). It is protected like the MO route.
func (c *Channel) serveDLR(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if !c.allowed(r, q.Get("key")) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
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
	found, err := c.outbox.RecordDelivery(r.Context(), id, status)
	if err != nil {
		c.log.Error("recording a delivery report", "id", id, "error", err)
		httpx.Error(w, http.StatusInternalServerError, "could not record the report")
		return
	}
	if !found {
		httpx.JSON(w, http.StatusNotFound, map[string]string{"error": "no outbox message with this id"})
		return
	}
	c.log.Info("sms delivery report", "id", id, "status", status)
	httpx.JSON(w, http.StatusOK, map[string]string{"status": status})
}
