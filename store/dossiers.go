package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/dossier"
)

type dossierRow struct {
	bun.BaseModel `bun:"table:dossiers,alias:d"`

	Code           string     `bun:"code,pk"`
	ProcedureCode  string     `bun:"procedure_code"`
	ProcedureName  string     `bun:"procedure_name"`
	Agency         string     `bun:"agency"`
	ApplicantName  string     `bun:"applicant_name"`
	ApplicantPhone string     `bun:"applicant_phone"`
	SubmittedVia   string     `bun:"submitted_via"`
	ReceivedAt     *time.Time `bun:"received_at"`
	DueAt          *time.Time `bun:"due_at"`
	FinishedAt     *time.Time `bun:"finished_at"`
	ReturnedAt     *time.Time `bun:"returned_at"`
	Officer        string     `bun:"officer"`
	Status         int        `bun:"status"`
	Note           string     `bun:"note"`
	StatusAt       time.Time  `bun:"status_at"`
	LastEventID    string     `bun:"last_event_id"`
	CreatedAt      time.Time  `bun:"created_at"`
	UpdatedAt      time.Time  `bun:"updated_at"`
}

type dossierEventRow struct {
	bun.BaseModel `bun:"table:dossier_events,alias:de"`

	ID          int64     `bun:"id,pk,autoincrement"`
	EventID     string    `bun:"event_id"`
	DossierCode string    `bun:"dossier_code"`
	Status      int       `bun:"status"`
	Note        string    `bun:"note"`
	OccurredAt  time.Time `bun:"occurred_at"`
	Result      string    `bun:"result"`
	Payload     string    `bun:"payload"`
	ReceivedAt  time.Time `bun:"received_at"`
}

func (r dossierRow) dossier() dossier.Dossier {
	return dossier.Dossier{
		Code: r.Code, ProcedureCode: r.ProcedureCode, ProcedureName: r.ProcedureName, Agency: r.Agency,
		ApplicantName: r.ApplicantName, ApplicantPhone: r.ApplicantPhone, SubmittedVia: r.SubmittedVia,
		ReceivedAt: utcPtr(r.ReceivedAt), DueAt: utcPtr(r.DueAt), FinishedAt: utcPtr(r.FinishedAt),
		ReturnedAt: utcPtr(r.ReturnedAt), Officer: r.Officer, Status: dossier.Status(r.Status),
		Note: r.Note, StatusAt: r.StatusAt.UTC(), LastEventID: r.LastEventID, UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// Dossiers returns the dossier repository.
func (db *DB) Dossiers() dossier.Store { return dossierStore{db} }

type dossierStore struct{ db *DB }

// dossierUpdate lists what a newer event overwrites (created_at stays).
var dossierUpdate = []string{
	"procedure_code", "procedure_name", "agency", "applicant_name", "applicant_phone", "submitted_via",
	"received_at", "due_at", "finished_at", "returned_at", "officer", "status", "note", "status_at",
	"last_event_id", "updated_at",
}

func (s dossierStore) ApplyEvents(ctx context.Context, events []dossier.Event) ([]dossier.Result, error) {
	results := make([]dossier.Result, len(events))
	now := s.db.utcNow()
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for i, ev := range events {
			results[i] = dossier.Result{EventID: ev.ID, Result: dossier.Accepted}
			er := dossierEventRow{
				EventID: ev.ID, DossierCode: ev.Dossier.Code, Status: int(ev.Status), Note: ev.Note,
				OccurredAt: ev.OccurredAt.UTC(), Result: string(dossier.Accepted), Payload: string(ev.Payload),
				ReceivedAt: now,
			}
			res, err := tx.NewInsert().Model(&er).On("CONFLICT (event_id) DO NOTHING").Exec(ctx)
			if err != nil {
				return fmt.Errorf("storing event %s: %w", ev.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				results[i].Result = dossier.Duplicate
				continue
			}
			d := ev.Dossier
			row := dossierRow{
				Code: d.Code, ProcedureCode: d.ProcedureCode, ProcedureName: d.ProcedureName, Agency: d.Agency,
				ApplicantName: d.ApplicantName, ApplicantPhone: d.ApplicantPhone, SubmittedVia: d.SubmittedVia,
				ReceivedAt: utcPtr(d.ReceivedAt), DueAt: utcPtr(d.DueAt), FinishedAt: utcPtr(d.FinishedAt),
				ReturnedAt: utcPtr(d.ReturnedAt), Officer: d.Officer, Status: int(ev.Status), Note: ev.Note,
				StatusAt: ev.OccurredAt.UTC(), LastEventID: ev.ID, CreatedAt: now, UpdatedAt: now,
			}
			// The newest occurred_at rules; the comparison happens in the upsert
			// itself so concurrent requests cannot move a dossier backwards.
			q := tx.NewInsert().Model(&row).On("CONFLICT (code) DO UPDATE")
			for _, col := range dossierUpdate {
				q = q.Set(col + " = EXCLUDED." + col)
			}
			res, err = q.Where("d.status_at <= EXCLUDED.status_at").Exec(ctx)
			if err != nil {
				return fmt.Errorf("updating dossier %s: %w", d.Code, err)
			}
			if n, _ := res.RowsAffected(); n == 0 {
				results[i].Result = dossier.Stale
				if _, err := tx.NewUpdate().Model((*dossierEventRow)(nil)).Set("result = ?", string(dossier.Stale)).
					Where("event_id = ?", ev.ID).Exec(ctx); err != nil {
					return fmt.Errorf("marking event %s stale: %w", ev.ID, err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (s dossierStore) Dossier(ctx context.Context, code string) (dossier.Dossier, error) {
	var row dossierRow
	err := s.db.bun.NewSelect().Model(&row).Where("code = ?", code).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return dossier.Dossier{}, dossier.ErrNotFound
	}
	if err != nil {
		return dossier.Dossier{}, fmt.Errorf("loading dossier %s: %w", code, err)
	}
	return row.dossier(), nil
}

func (s dossierStore) History(ctx context.Context, code string) ([]dossier.Event, error) {
	var rows []dossierEventRow
	if err := s.db.bun.NewSelect().Model(&rows).Where("dossier_code = ?", code).
		OrderExpr("occurred_at, id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("loading history of %s: %w", code, err)
	}
	out := make([]dossier.Event, len(rows))
	for i, r := range rows {
		out[i] = dossier.Event{ID: r.EventID, OccurredAt: r.OccurredAt.UTC(), Status: dossier.Status(r.Status),
			Note: r.Note, Payload: []byte(r.Payload)}
	}
	return out, nil
}
