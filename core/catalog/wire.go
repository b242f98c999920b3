package catalog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// UpstreamTimeLayout is how the national database writes times (PHP Y-m-d H:i:s,
// Asia/Ho_Chi_Minh).
const UpstreamTimeLayout = "2006-01-02 15:04:05"

// UpstreamRecord is the detail object of getThutuc (nationaldb-api.md §2).
// Unknown fields are ignored; loosely typed fields are decoded leniently.
type UpstreamRecord struct {
	SystemID     flexInt       `json:"id_hethong"`
	Code         string        `json:"maso"`
	Name         string        `json:"ten"`
	Kind         string        `json:"loai"`
	Field        string        `json:"linh_vuc"`
	Level        string        `json:"cap_thuc_hien"`
	Steps        string        `json:"trinh_tu"`
	Channels     string        `json:"cach_thuc"`
	Documents    []upstreamDoc `json:"thanh_phan_ho_so"`
	Forms        []Form        `json:"mau_don"`
	Fee          string        `json:"phi"`
	Charge       string        `json:"le_phi"`
	TimeLimit    string        `json:"thoi_han"`
	Applicants   string        `json:"doi_tuong"`
	Agency       string        `json:"co_quan_thuc_hien"`
	Authority    string        `json:"co_quan_tham_quyen"`
	Address      string        `json:"dia_chi_tiep_nhan"`
	Result       string        `json:"ket_qua"`
	LegalBases   []string      `json:"can_cu_phap_ly"`
	Requirements string        `json:"yeu_cau_dieu_kien"`
	OnlineLevel  flexString    `json:"muc_do"`
	Status       string        `json:"trang_thai"`
	UpdatedAt    string        `json:"ngay_cap_nhat"`
}

type upstreamDoc struct {
	Name      string   `json:"ten"`
	Originals flexInt  `json:"ban_chinh"`
	Copies    flexInt  `json:"ban_sao"`
	Required  flexBool `json:"bat_buoc"`
}

// ParseUpstreamStatus maps trang_thai to a Status.
func ParseUpstreamStatus(s string) (Status, error) {
	switch strings.TrimSpace(s) {
	case "cong_bo", "":
		return Published, nil
	case "huy_bo":
		return Cancelled, nil
	}
	return "", fmt.Errorf("unknown trang_thai %q", s)
}

// ParseUpstreamTime reads ngay_cap_nhat (local time) as UTC.
func ParseUpstreamTime(s string) (time.Time, error) {
	t, err := time.ParseInLocation(UpstreamTimeLayout, strings.TrimSpace(s), vntext.VietnamTime())
	if err != nil {
		return time.Time{}, fmt.Errorf("ngay_cap_nhat %q is not yyyy-mm-dd HH:MM:SS", s)
	}
	return t.UTC(), nil
}

// Procedure converts the record; texts are kept as received (NFC happens in Apply).
func (r UpstreamRecord) Procedure() (Procedure, error) {
	st, err := ParseUpstreamStatus(r.Status)
	if err != nil {
		return Procedure{}, err
	}
	p := Procedure{
		Code: r.Code, SystemID: int64(r.SystemID), Name: r.Name, Kind: r.Kind, Field: r.Field,
		Level: r.Level, Steps: r.Steps, Channels: r.Channels, Forms: r.Forms, Fee: r.Fee,
		Charge: r.Charge, TimeLimit: r.TimeLimit, Applicants: r.Applicants, Agency: r.Agency,
		Authority: r.Authority, Address: r.Address, Result: r.Result, LegalBases: r.LegalBases,
		Requirements: r.Requirements, OnlineLevel: string(r.OnlineLevel), Status: st,
	}
	for _, d := range r.Documents {
		p.Documents = append(p.Documents, Document{Name: d.Name, Originals: int(d.Originals), Copies: int(d.Copies), Required: bool(d.Required)})
	}
	if r.UpdatedAt != "" {
		t, err := ParseUpstreamTime(r.UpdatedAt)
		if err != nil {
			return Procedure{}, err
		}
		p.UpstreamUpdatedAt = &t
	}
	return p, p.Validate()
}

// flexInt accepts 3, "3", "", null.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(bytes.TrimSpace(b)), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*f = flexInt(n)
	return nil
}

// flexBool accepts true, 1, "1", "true", "Có", "x".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	s := strings.ToLower(strings.Trim(string(bytes.TrimSpace(b)), `"`))
	switch vntext.Fold(s) {
	case "true", "1", "co", "x", "yes":
		*f = true
	default:
		*f = false
	}
	return nil
}

// flexString accepts a string or a number (muc_do may be 2, 3, 4).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	if string(b) == "null" {
		*f = ""
		return nil
	}
	*f = flexString(b)
	return nil
}
