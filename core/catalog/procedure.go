// Package catalog owns the procedure catalogue: the procedure record of the
// national procedures database, its content hash and field-level diff, the
// versioned apply used by import and sync, and the JSONL importer.
package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// ErrNotFound is returned for an unknown procedure code.
var ErrNotFound = errors.New("procedure not found")

// SourceSync marks changes made by the sync from the national database:
// only those raise change alerts.
const SourceSync = "sync"

// Status of a procedure in the national database.
type Status string

const (
	Published Status = "published" // cong_bo
	Cancelled Status = "cancelled" // huy_bo: leaves search, keeps history
)

// Document is one entry of thành phần hồ sơ.
type Document struct {
	Name      string `json:"ten"`
	Originals int    `json:"ban_chinh,omitempty"`
	Copies    int    `json:"ban_sao,omitempty"`
	Required  bool   `json:"bat_buoc,omitempty"`
}

// Form is a mẫu đơn, tờ khai.
type Form struct {
	Name string `json:"ten"`
	URL  string `json:"url,omitempty"`
}

// Procedure is one administrative procedure with every field of the upstream
// contract (nationaldb-api.md). Texts are stored as received, NFC-normalised.
type Procedure struct {
	Code         string // maso
	SystemID     int64  // id_hethong, 0 when unknown
	Name         string // ten
	Kind         string // loai
	Field        string // linh_vuc
	Level        string // cap_thuc_hien
	Steps        string // trinh_tu
	Channels     string // cach_thuc
	Documents    []Document
	Forms        []Form
	Fee          string // phi
	Charge       string // le_phi
	TimeLimit    string // thoi_han
	Applicants   string // doi_tuong
	Agency       string // co_quan_thuc_hien
	Authority    string // co_quan_tham_quyen
	Address      string // dia_chi_tiep_nhan
	Result       string // ket_qua
	LegalBases   []string
	Requirements string // yeu_cau_dieu_kien
	OnlineLevel  string // muc_do
	Status       Status
	// UpstreamUpdatedAt is ngay_cap_nhat, in UTC.
	UpstreamUpdatedAt *time.Time

	// Bookkeeping, set by Apply and the store.
	ContentHash string
	Version     int
	Source      string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	CancelledAt *time.Time
}

// Field is one comparable field of a procedure, in its normalised form.
type Field struct {
	Name  string // the upstream field name, e.g. "phi"
	Value string
}

// Fields lists the content fields in a fixed order, each normalised (HTML
// removed, NFC, whitespace squeezed) so formatting noise is not a change.
func (p Procedure) Fields() []Field {
	docs := make([]string, len(p.Documents))
	for i, d := range p.Documents {
		docs[i] = vntext.Clean(d.Name) + " (" + strconv.Itoa(d.Originals) + "/" + strconv.Itoa(d.Copies) + "/" + strconv.FormatBool(d.Required) + ")"
	}
	forms := make([]string, len(p.Forms))
	for i, f := range p.Forms {
		forms[i] = vntext.Clean(f.Name) + " " + strings.TrimSpace(f.URL)
	}
	bases := make([]string, len(p.LegalBases))
	for i, b := range p.LegalBases {
		bases[i] = vntext.Clean(b)
	}
	return []Field{
		{"ten", vntext.Clean(p.Name)},
		{"loai", vntext.Clean(p.Kind)},
		{"linh_vuc", vntext.Clean(p.Field)},
		{"cap_thuc_hien", vntext.Clean(p.Level)},
		{"trinh_tu", vntext.Clean(p.Steps)},
		{"cach_thuc", vntext.Clean(p.Channels)},
		{"thanh_phan_ho_so", strings.Join(docs, "\n")},
		{"mau_don", strings.Join(forms, "\n")},
		{"phi", vntext.Clean(p.Fee)},
		{"le_phi", vntext.Clean(p.Charge)},
		{"thoi_han", vntext.Clean(p.TimeLimit)},
		{"doi_tuong", vntext.Clean(p.Applicants)},
		{"co_quan_thuc_hien", vntext.Clean(p.Agency)},
		{"co_quan_tham_quyen", vntext.Clean(p.Authority)},
		{"dia_chi_tiep_nhan", vntext.Clean(p.Address)},
		{"ket_qua", vntext.Clean(p.Result)},
		{"can_cu_phap_ly", strings.Join(bases, "\n")},
		{"yeu_cau_dieu_kien", vntext.Clean(p.Requirements)},
		{"muc_do", vntext.Clean(p.OnlineLevel)},
		{"trang_thai", string(p.Status)},
	}
}

// Hash is the normalised content hash: equal for records that differ only in
// HTML, Unicode form or whitespace.
func (p Procedure) Hash() string {
	h := sha256.New()
	for _, f := range p.Fields() {
		h.Write([]byte(f.Name))
		h.Write([]byte{0})
		h.Write([]byte(f.Value))
		h.Write([]byte{0x1e})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// FieldChange is one changed field with short excerpts of both sides.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// ChangeKind classifies a stored change.
type ChangeKind string

const (
	ChangeNew       ChangeKind = "new"
	ChangeModified  ChangeKind = "modified"
	ChangeCancelled ChangeKind = "cancelled"
	ChangeRestored  ChangeKind = "restored" // a cancelled procedure published again
)

// Change is what Apply did to one procedure.
type Change struct {
	Kind    ChangeKind    `json:"kind"`
	Code    string        `json:"code"`
	Name    string        `json:"name"`
	Version int           `json:"version"`
	Fields  []FieldChange `json:"fields,omitempty"`
}

// ExcerptLen is the longest old/new excerpt a FieldChange carries, in runes.
const ExcerptLen = 80

// Diff lists the fields that differ between old and new, with excerpts
// centred on the first difference.
func Diff(old, new Procedure) []FieldChange {
	of, nf := old.Fields(), new.Fields()
	var out []FieldChange
	for i := range of {
		if of[i].Value == nf[i].Value || of[i].Name == "trang_thai" {
			continue
		}
		o, n := excerpts(of[i].Value, nf[i].Value, ExcerptLen)
		out = append(out, FieldChange{Field: of[i].Name, Old: o, New: n})
	}
	return out
}

// excerpts cuts a and b around the first rune where they differ.
func excerpts(a, b string, n int) (string, string) {
	ra, rb := []rune(a), []rune(b)
	p := 0
	for p < len(ra) && p < len(rb) && ra[p] == rb[p] {
		p++
	}
	start := max(0, p-n/4)
	return cut(ra, start, n), cut(rb, start, n)
}

func cut(r []rune, start, n int) string {
	if start >= len(r) {
		start = max(0, len(r)-n)
	}
	end := min(len(r), start+n)
	s := string(r[start:end])
	if start > 0 {
		s = "…" + s
	}
	if end < len(r) {
		s += "…"
	}
	return s
}

// Store persists the catalogue.
type Store interface {
	// CatalogTx runs fn in one transaction.
	CatalogTx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error
	// Procedure returns one procedure, published or cancelled, or ErrNotFound.
	Procedure(ctx context.Context, code string) (Procedure, error)
	// PublishedProcedures returns every published procedure.
	PublishedProcedures(ctx context.Context) ([]Procedure, error)
	// CountProcedures counts procedures of any status.
	CountProcedures(ctx context.Context) (int, error)
}

// Tx is the part of the store Apply works on inside a transaction.
type Tx interface {
	// ProceduresByCode returns the stored procedures among codes.
	ProceduresByCode(ctx context.Context, codes []string) (map[string]Procedure, error)
	// SaveProcedures inserts or updates the procedures and records their
	// versions, in order: a code may come twice (version n, then n+1).
	SaveProcedures(ctx context.Context, saved []Saved) error
}

// Saved is one procedure Apply stores and the change it records.
type Saved struct {
	Procedure Procedure
	Change    Change
}

// Apply stores incoming procedures as of now: a new code becomes version 1, a
// changed content hash or status a new version; an unchanged record changes
// nothing. It returns the changes made, in input order.
func Apply(ctx context.Context, tx Tx, incoming []Procedure, source string, now time.Time) ([]Change, error) {
	codes := make([]string, len(incoming))
	for i, p := range incoming {
		codes[i] = p.Code
	}
	stored, err := tx.ProceduresByCode(ctx, codes)
	if err != nil {
		return nil, err
	}
	now = now.UTC()
	var saved []Saved
	for _, p := range incoming {
		p = p.normalized()
		p.ContentHash = p.Hash()
		p.Source = source
		p.UpdatedAt = now
		old, exists := stored[p.Code]
		var ch Change
		switch {
		case !exists:
			p.Version, p.CreatedAt = 1, now
			ch = Change{Kind: ChangeNew, Fields: nil}
			if p.Status == Cancelled {
				ch.Kind = ChangeCancelled
			}
		case old.ContentHash == p.ContentHash:
			continue
		default:
			p.Version, p.CreatedAt, p.CancelledAt = old.Version+1, old.CreatedAt, old.CancelledAt
			ch = Change{Kind: ChangeModified, Fields: Diff(old, p)}
			switch {
			case p.Status == Cancelled && old.Status != Cancelled:
				ch.Kind = ChangeCancelled
			case p.Status == Published && old.Status == Cancelled:
				ch.Kind = ChangeRestored
			}
		}
		if p.Status == Cancelled && p.CancelledAt == nil {
			p.CancelledAt = &now
		}
		if p.Status == Published {
			p.CancelledAt = nil
		}
		ch.Code, ch.Name, ch.Version = p.Code, p.Name, p.Version
		stored[p.Code] = p
		saved = append(saved, Saved{p, ch})
	}
	if len(saved) == 0 {
		return nil, nil
	}
	// One write per batch, not two per procedure: a sync stores thousands.
	if err := tx.SaveProcedures(ctx, saved); err != nil {
		return nil, err
	}
	changes := make([]Change, len(saved))
	for i, sv := range saved {
		changes[i] = sv.Change
	}
	return changes, nil
}

// normalized returns p with every text NFC-normalised and trimmed, as stored.
func (p Procedure) normalized() Procedure {
	for _, s := range []*string{&p.Code, &p.Name, &p.Kind, &p.Field, &p.Level, &p.Steps, &p.Channels,
		&p.Fee, &p.Charge, &p.TimeLimit, &p.Applicants, &p.Agency, &p.Authority, &p.Address,
		&p.Result, &p.Requirements, &p.OnlineLevel} {
		*s = strings.TrimSpace(vntext.NFC(*s))
	}
	docs := make([]Document, len(p.Documents))
	for i, d := range p.Documents {
		d.Name = strings.TrimSpace(vntext.NFC(d.Name))
		docs[i] = d
	}
	p.Documents = docs
	forms := make([]Form, len(p.Forms))
	for i, f := range p.Forms {
		f.Name = strings.TrimSpace(vntext.NFC(f.Name))
		forms[i] = f
	}
	p.Forms = forms
	bases := make([]string, len(p.LegalBases))
	for i, b := range p.LegalBases {
		bases[i] = strings.TrimSpace(vntext.NFC(b))
	}
	p.LegalBases = bases
	if p.Status == "" {
		p.Status = Published
	}
	return p
}

// Validate reports what makes p unusable.
func (p Procedure) Validate() error {
	switch {
	case strings.TrimSpace(p.Code) == "":
		return errors.New("missing code (maso)")
	case strings.TrimSpace(p.Name) == "":
		return errors.New("missing name (ten)")
	case !utf8.ValidString(p.Name):
		return errors.New("name is not valid UTF-8")
	case p.Status != "" && p.Status != Published && p.Status != Cancelled:
		return errors.New("unknown status " + string(p.Status))
	}
	return nil
}
