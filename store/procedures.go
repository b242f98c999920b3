package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/search"
)

type procedureRow struct {
	bun.BaseModel `bun:"table:procedures,alias:p"`

	Code              string             `bun:"code,pk"`
	SystemID          *int64             `bun:"system_id"`
	Name              string             `bun:"name"`
	Kind              string             `bun:"kind"`
	Field             string             `bun:"field"`
	Level             string             `bun:"level"`
	Steps             string             `bun:"steps"`
	Channels          string             `bun:"channels"`
	Documents         []catalog.Document `bun:"documents,type:jsonb"`
	Forms             []catalog.Form     `bun:"forms,type:jsonb"`
	Fee               string             `bun:"fee"`
	Charge            string             `bun:"charge"`
	TimeLimit         string             `bun:"time_limit"`
	Applicants        string             `bun:"applicants"`
	Agency            string             `bun:"agency"`
	Authority         string             `bun:"authority"`
	Address           string             `bun:"address"`
	Result            string             `bun:"result"`
	LegalBases        []string           `bun:"legal_bases,type:jsonb"`
	Requirements      string             `bun:"requirements"`
	OnlineLevel       string             `bun:"online_level"`
	Status            string             `bun:"status"`
	ContentHash       string             `bun:"content_hash"`
	Version           int                `bun:"version"`
	Source            string             `bun:"source"`
	UpstreamUpdatedAt *time.Time         `bun:"upstream_updated_at"`
	CreatedAt         time.Time          `bun:"created_at"`
	UpdatedAt         time.Time          `bun:"updated_at"`
	CancelledAt       *time.Time         `bun:"cancelled_at"`
}

type procedureVersionRow struct {
	bun.BaseModel `bun:"table:procedure_versions,alias:pv"`

	ID            int64                 `bun:"id,pk,autoincrement"`
	ProcedureCode string                `bun:"procedure_code"`
	Version       int                   `bun:"version"`
	Status        string                `bun:"status"`
	ContentHash   string                `bun:"content_hash"`
	ChangeKind    string                `bun:"change_kind"`
	ChangedFields []catalog.FieldChange `bun:"changed_fields,type:jsonb"`
	Data          string                `bun:"data"`
	Source        string                `bun:"source"`
	Alerted       bool                  `bun:"alerted"`
	CreatedAt     time.Time             `bun:"created_at"`
}

func procedureToRow(p catalog.Procedure) procedureRow {
	r := procedureRow{
		Code: p.Code, Name: p.Name, Kind: p.Kind, Field: p.Field, Level: p.Level, Steps: p.Steps,
		Channels: p.Channels, Documents: p.Documents, Forms: p.Forms, Fee: p.Fee, Charge: p.Charge,
		TimeLimit: p.TimeLimit, Applicants: p.Applicants, Agency: p.Agency, Authority: p.Authority,
		Address: p.Address, Result: p.Result, LegalBases: p.LegalBases, Requirements: p.Requirements,
		OnlineLevel: p.OnlineLevel, Status: string(p.Status), ContentHash: p.ContentHash,
		Version: p.Version, Source: p.Source, UpstreamUpdatedAt: utcPtr(p.UpstreamUpdatedAt),
		CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(), CancelledAt: utcPtr(p.CancelledAt),
	}
	if p.SystemID != 0 {
		id := p.SystemID
		r.SystemID = &id
	}
	return r
}

func (r procedureRow) procedure() catalog.Procedure {
	p := catalog.Procedure{
		Code: r.Code, Name: r.Name, Kind: r.Kind, Field: r.Field, Level: r.Level, Steps: r.Steps,
		Channels: r.Channels, Documents: r.Documents, Forms: r.Forms, Fee: r.Fee, Charge: r.Charge,
		TimeLimit: r.TimeLimit, Applicants: r.Applicants, Agency: r.Agency, Authority: r.Authority,
		Address: r.Address, Result: r.Result, LegalBases: r.LegalBases, Requirements: r.Requirements,
		OnlineLevel: r.OnlineLevel, Status: catalog.Status(r.Status), ContentHash: r.ContentHash,
		Version: r.Version, Source: r.Source, UpstreamUpdatedAt: utcPtr(r.UpstreamUpdatedAt),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), CancelledAt: utcPtr(r.CancelledAt),
	}
	if r.SystemID != nil {
		p.SystemID = *r.SystemID
	}
	return p
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Catalog returns the catalogue repository.
func (db *DB) Catalog() catalog.Store { return catalogStore{db} }

type catalogStore struct{ db *DB }

type catalogTx struct {
	tx      bun.Tx
	changed *bool
}

// CatalogTx runs fn in a transaction and bumps the catalogue version when fn
// stored anything, so every replica's search index notices.
func (s catalogStore) CatalogTx(ctx context.Context, fn func(context.Context, catalog.Tx) error) error {
	return s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		changed := false
		if err := fn(ctx, catalogTx{tx, &changed}); err != nil {
			return err
		}
		if !changed {
			return nil
		}
		_, err := tx.ExecContext(ctx, "UPDATE catalog_state SET version = version + 1, updated_at = ? WHERE id = 1", s.db.utcNow())
		return err
	})
}

// CatalogVersion changes whenever the catalogue does.
func (db *DB) CatalogVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := db.bun.QueryRowContext(ctx, "SELECT version FROM catalog_state WHERE id = 1").Scan(&v); err != nil {
		return 0, fmt.Errorf("reading the catalogue version: %w", err)
	}
	return v, nil
}

// SearchDocs returns the published procedures projected onto what the
// search index reads (no steps, forms or legal texts: less memory).
func (db *DB) SearchDocs(ctx context.Context) ([]search.Doc, error) {
	var rows []procedureRow
	err := db.bun.NewSelect().Model(&rows).Column("code", "name", "field", "agency", "result", "documents").
		Where("status = ?", string(catalog.Published)).OrderExpr("code").Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading procedures to index: %w", err)
	}
	out := make([]search.Doc, len(rows))
	for i, r := range rows {
		out[i] = search.DocOf(r.procedure())
	}
	return out, nil
}

func (t catalogTx) ProceduresByCode(ctx context.Context, codes []string) (map[string]catalog.Procedure, error) {
	out := make(map[string]catalog.Procedure, len(codes))
	if len(codes) == 0 {
		return out, nil
	}
	var rows []procedureRow
	if err := t.tx.NewSelect().Model(&rows).Where("code IN (?)", bun.List(codes)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading procedures: %w", err)
	}
	for _, r := range rows {
		out[r.Code] = r.procedure()
	}
	return out, nil
}

// insertChunk bounds the rows of one INSERT (SQLite caps a statement's size).
const insertChunk = 250

func (t catalogTx) SaveProcedures(ctx context.Context, saved []catalog.Saved) error {
	last := make(map[string]int, len(saved))
	for i, sv := range saved {
		last[sv.Procedure.Code] = i
	}
	// A first version is inserted plainly, so a row someone else created
	// meanwhile fails the transaction instead of being overwritten.
	var created, updated []procedureRow
	versions := make([]procedureVersionRow, len(saved))
	for i, sv := range saved {
		p, ch := sv.Procedure, sv.Change
		row := procedureToRow(p)
		data, err := json.Marshal(row)
		if err != nil {
			return err
		}
		versions[i] = procedureVersionRow{
			ProcedureCode: p.Code, Version: p.Version, Status: string(p.Status), ContentHash: p.ContentHash,
			ChangeKind: string(ch.Kind), ChangedFields: ch.Fields, Data: string(data), Source: p.Source,
			Alerted: p.Source != catalog.SourceSync, CreatedAt: p.UpdatedAt.UTC(),
		}
		switch {
		case last[p.Code] != i: // a later version of it follows in this batch
		case p.Version == 1:
			created = append(created, row)
		default:
			updated = append(updated, row)
		}
	}
	for _, rows := range [][]procedureRow{created, updated} {
		for chunk := range slices.Chunk(rows, insertChunk) {
			q := t.tx.NewInsert().Model(&chunk)
			if chunk[0].Version > 1 {
				q = q.On("CONFLICT (code) DO UPDATE")
			}
			if _, err := q.Exec(ctx); err != nil {
				return fmt.Errorf("saving procedures %s…: %w", chunk[0].Code, err)
			}
		}
	}
	for chunk := range slices.Chunk(versions, insertChunk) {
		if _, err := t.tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
			return fmt.Errorf("recording versions of procedures %s…: %w", chunk[0].ProcedureCode, err)
		}
	}
	*t.changed = true
	return nil
}

func (s catalogStore) Procedure(ctx context.Context, code string) (catalog.Procedure, error) {
	var row procedureRow
	err := s.db.bun.NewSelect().Model(&row).Where("code = ?", code).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return catalog.Procedure{}, catalog.ErrNotFound
	}
	if err != nil {
		return catalog.Procedure{}, fmt.Errorf("loading procedure %s: %w", code, err)
	}
	return row.procedure(), nil
}

func (s catalogStore) PublishedProcedures(ctx context.Context) ([]catalog.Procedure, error) {
	var rows []procedureRow
	if err := s.db.bun.NewSelect().Model(&rows).Where("status = ?", string(catalog.Published)).OrderExpr("code").Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading published procedures: %w", err)
	}
	out := make([]catalog.Procedure, len(rows))
	for i, r := range rows {
		out[i] = r.procedure()
	}
	return out, nil
}

func (s catalogStore) CountProcedures(ctx context.Context) (int, error) {
	n, err := s.db.bun.NewSelect().Model((*procedureRow)(nil)).Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("counting procedures: %w", err)
	}
	return int(n), nil
}

// ProcedureVersion is one stored version of a procedure (history views, tests).
type ProcedureVersion struct {
	Version       int
	Status        string
	ChangeKind    string
	ChangedFields []catalog.FieldChange
	CreatedAt     time.Time
}

// ProcedureVersions returns a procedure's versions, oldest first.
func (db *DB) ProcedureVersions(ctx context.Context, code string) ([]ProcedureVersion, error) {
	var rows []procedureVersionRow
	if err := db.bun.NewSelect().Model(&rows).Where("procedure_code = ?", code).OrderExpr("version").Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading versions of %s: %w", code, err)
	}
	out := make([]ProcedureVersion, len(rows))
	for i, r := range rows {
		out[i] = ProcedureVersion{r.Version, r.Status, r.ChangeKind, r.ChangedFields, r.CreatedAt.UTC()}
	}
	return out, nil
}
