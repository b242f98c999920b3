// Package dossier holds dossier status: the ten national states, the dossier
// record and its derived flags, and ingestion of the one-stop system's status
// events (dossier-events.md).
package dossier

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Status is one of the ten national dossier states (domain.md §2.1).
type Status int

const (
	MoiDangKy          Status = 1
	DaTiepNhan         Status = 2
	KhongTiepNhan      Status = 3
	DangXuLy           Status = 4
	ChoBoSung          Status = 5
	ChoNghiaVuTaiChinh Status = 6
	DaRut              Status = 7
	DungXuLy           Status = 8
	DaXuLyXong         Status = 9
	DaTraKetQua        Status = 10
)

const firstStatus, lastStatus = MoiDangKy, DaTraKetQua

var statusCodes = [...]string{
	MoiDangKy:          "MOI_DANG_KY",
	DaTiepNhan:         "DA_TIEP_NHAN",
	KhongTiepNhan:      "KHONG_TIEP_NHAN",
	DangXuLy:           "DANG_XU_LY",
	ChoBoSung:          "CHO_BO_SUNG",
	ChoNghiaVuTaiChinh: "CHO_NGHIA_VU_TAI_CHINH",
	DaRut:              "DA_RUT",
	DungXuLy:           "DUNG_XU_LY",
	DaXuLyXong:         "DA_XU_LY_XONG",
	DaTraKetQua:        "DA_TRA_KET_QUA",
}

// AllStatuses lists the ten states in national order.
func AllStatuses() []Status {
	out := make([]Status, 0, lastStatus)
	for s := firstStatus; s <= lastStatus; s++ {
		out = append(out, s)
	}
	return out
}

// Valid reports whether s is one of the ten states.
func (s Status) Valid() bool { return s >= firstStatus && s <= lastStatus }

// Code is the contract's string name, e.g. "DANG_XU_LY".
func (s Status) Code() string {
	if !s.Valid() {
		return "UNKNOWN_" + strconv.Itoa(int(s))
	}
	return statusCodes[s]
}

func (s Status) String() string { return s.Code() }

// Final states end the dossier unless a later event re-opens it.
func (s Status) Final() bool { return s == KhongTiepNhan || s == DaRut || s == DaTraKetQua }

// Paused states stop the clock: a dossier in them is never overdue.
func (s Status) Paused() bool { return s == ChoBoSung || s == ChoNghiaVuTaiChinh || s == DungXuLy }

// HasResult is true once the result exists (9) or was handed over (10).
func (s Status) HasResult() bool { return s == DaXuLyXong || s == DaTraKetQua }

// Rateable states are those a citizen may rate the service in (domain.md §4.4).
func (s Status) Rateable() bool {
	return s == KhongTiepNhan || s == DaRut || s == DungXuLy || s.HasResult()
}

// ParseStatus reads a status as the contract allows: its string code (any
// case) or its number, as a JSON string or number.
func ParseStatus(raw json.RawMessage) (Status, error) {
	var n int
	if err := json.Unmarshal(raw, &n); err == nil {
		if s := Status(n); s.Valid() {
			return s, nil
		}
		return 0, fmt.Errorf("unknown status number %d", n)
	}
	var str string
	if err := json.Unmarshal(raw, &str); err != nil {
		return 0, fmt.Errorf("status must be a string code or a number 1-10")
	}
	return ParseStatusCode(str)
}

// ParseStatusCode reads "DANG_XU_LY" or "4".
func ParseStatusCode(str string) (Status, error) {
	str = strings.ToUpper(strings.TrimSpace(str))
	if n, err := strconv.Atoi(str); err == nil && Status(n).Valid() {
		return Status(n), nil
	}
	for s := firstStatus; s <= lastStatus; s++ {
		if statusCodes[s] == str {
			return s, nil
		}
	}
	return 0, fmt.Errorf("unknown status %q", str)
}
