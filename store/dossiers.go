package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/dvcbot/dvcbot/core/dossier"
)

// dossierRow is also read as JSON (row_to_json) when it is fetched with an
// inbound claim, hence the json tags.
type dossierRow struct {
	bun.BaseModel `bun:"table:dossiers,alias:d"`

	Code           string     `bun:"code,pk" json:"code"`
	ProcedureCode  string     `bun:"procedure_code" json:"procedure_code"`
	ProcedureName  string     `bun:"procedure_name" json:"procedure_name"`
	Agency         string     `bun:"agency" json:"agency"`
	ApplicantName  string     `bun:"applicant_name" json:"applicant_name"`
	ApplicantPhone string     `bun:"applicant_phone" json:"applicant_phone"`
	ApplicantEmail string     `bun:"applicant_email" json:"applicant_email"`
	SubmittedVia   string     `bun:"submitted_via" json:"submitted_via"`
	ReceivedAt     *time.Time `bun:"received_at" json:"received_at"`
	DueAt          *time.Time `bun:"due_at" json:"due_at"`
	FinishedAt     *time.Time `bun:"finished_at" json:"finished_at"`
	ReturnedAt     *time.Time `bun:"returned_at" json:"returned_at"`
	Officer        string     `bun:"officer" json:"officer"`
	Status         int        `bun:"status" json:"status"`
	Note           string     `bun:"note" json:"note"`
	StatusAt       time.Time  `bun:"status_at" json:"status_at"`
	StatusSeq      int64      `bun:"status_seq" json:"status_seq"` // dossier_events.id of the event that set Status
	LastEventID    string     `bun:"last_event_id" json:"last_event_id"`
	CreatedAt      time.Time  `bun:"created_at" json:"created_at"`
	UpdatedAt      time.Time  `bun:"updated_at" json:"updated_at"`
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
		ApplicantName: r.ApplicantName, ApplicantPhone: r.ApplicantPhone, ApplicantEmail: r.ApplicantEmail, SubmittedVia: r.SubmittedVia,
		ReceivedAt: utcPtr(r.ReceivedAt), DueAt: utcPtr(r.DueAt), FinishedAt: utcPtr(r.FinishedAt),
		ReturnedAt: utcPtr(r.ReturnedAt), Officer: r.Officer, Status: dossier.Status(r.Status),
		Note: r.Note, StatusAt: r.StatusAt.UTC(), LastEventID: r.LastEventID, UpdatedAt: r.UpdatedAt.UTC(),
	}
}

// DossierTimeout bounds every database call of the dossier store, so that a
// stalled database cannot hold a request for ever: the call fails with
// dossier.ErrUnavailable (the API answers 503 and the sender retries).
const DossierTimeout = 5 * time.Second

// Dossiers returns the dossier repository.
func (db *DB) Dossiers() dossier.Store {
	return dossierStore{db: db, timeout: DossierTimeout, notices: db.notices}
}

// DossiersWithTimeout returns the dossier repository with another deadline
// per database call (tests of a stalled database).
func (db *DB) DossiersWithTimeout(d time.Duration) dossier.Store {
	return dossierStore{db: db, timeout: d}
}

type dossierStore struct {
	db      *DB
	timeout time.Duration
	notices *NoticeStore // queues the notices of accepted events (nil: none)
}

// dossierUpdate lists what a newer event overwrites (created_at stays).
var dossierUpdate = []string{
	"procedure_code", "procedure_name", "agency", "applicant_name", "applicant_phone", "applicant_email", "submitted_via",
	"received_at", "due_at", "finished_at", "returned_at", "officer", "status", "note", "status_at",
	"status_seq", "last_event_id", "updated_at",
}

// newerEvent is the "never backwards" rule, evaluated inside the upsert so
// that concurrent requests (several replicas) cannot move a dossier back: the
// later occurred_at wins, and between equal ones the later arrival, that is
// the higher id of the event's history row.
const newerEvent = "d.status_at < EXCLUDED.status_at OR " +
	"(d.status_at = EXCLUDED.status_at AND d.status_seq < EXCLUDED.status_seq)"

// txTimeout bounds a whole ApplyEvents transaction: one call's deadline
// plus a share per event, so that a 500-event backfill on a healthy database
// (0.5 s here on Postgres; its budget is 15 s) is not cut short. Each
// statement inside also has the per-call deadline.
func (s dossierStore) txTimeout(events int) time.Duration {
	return s.timeout + time.Duration(events)*s.timeout/250
}

func (s dossierStore) ApplyEvents(ctx context.Context, events []dossier.Event) ([]dossier.Result, error) {
	results := make([]dossier.Result, len(events))
	now := s.db.utcNow()
	txCtx, cancel := context.WithTimeout(ctx, s.txTimeout(len(events)))
	defer cancel()
	err := s.db.bun.RunInTx(txCtx, nil, func(txCtx context.Context, tx bun.Tx) error {
		var accepted []dossier.Event // their notices are queued in this transaction
		for i, ev := range events {
			results[i] = dossier.Result{EventID: ev.ID, Result: dossier.Accepted}
			er := dossierEventRow{
				EventID: ev.ID, DossierCode: ev.Dossier.Code, Status: int(ev.Status), Note: ev.Note,
				OccurredAt: ev.OccurredAt.UTC(), Result: string(dossier.Accepted), Payload: string(ev.Payload),
				ReceivedAt: now,
			}
			var inserted int64
			err := s.call(txCtx, func(ctx context.Context) error {
				// RETURNING id (both dialects) fills er.ID: the arrival order.
				res, err := tx.NewInsert().Model(&er).On("CONFLICT (event_id) DO NOTHING").Exec(ctx)
				if err == nil {
					inserted, _ = res.RowsAffected()
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("storing event %s: %w", ev.ID, err)
			}
			if inserted == 0 {
				results[i].Result = dossier.Duplicate
				continue
			}
			if er.ID == 0 {
				return fmt.Errorf("storing event %s: the database returned no id", ev.ID)
			}
			d := ev.Dossier
			row := dossierRow{
				Code: d.Code, ProcedureCode: d.ProcedureCode, ProcedureName: d.ProcedureName, Agency: d.Agency,
				ApplicantName: d.ApplicantName, ApplicantPhone: d.ApplicantPhone, ApplicantEmail: d.ApplicantEmail, SubmittedVia: d.SubmittedVia,
				ReceivedAt: utcPtr(d.ReceivedAt), DueAt: utcPtr(d.DueAt), FinishedAt: utcPtr(d.FinishedAt),
				ReturnedAt: utcPtr(d.ReturnedAt), Officer: d.Officer, Status: int(ev.Status), Note: ev.Note,
				StatusAt: ev.OccurredAt.UTC(), StatusSeq: er.ID, LastEventID: ev.ID, CreatedAt: now, UpdatedAt: now,
			}
			var updated int64
			err = s.call(txCtx, func(ctx context.Context) error {
				q := tx.NewInsert().Model(&row).On("CONFLICT (code) DO UPDATE")
				for _, col := range dossierUpdate {
					q = q.Set(col + " = EXCLUDED." + col)
				}
				res, err := q.Where(newerEvent).Exec(ctx)
				if err == nil {
					updated, _ = res.RowsAffected()
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("updating dossier %s: %w", d.Code, err)
			}
			if updated == 0 {
				results[i].Result = dossier.Stale
				err := s.call(txCtx, func(ctx context.Context) error {
					_, err := tx.NewUpdate().Model((*dossierEventRow)(nil)).Set("result = ?", string(dossier.Stale)).
						Where("id = ?", er.ID).Exec(ctx)
					return err
				})
				if err != nil {
					return fmt.Errorf("marking event %s stale: %w", ev.ID, err)
				}
				continue
			}
			accepted = append(accepted, ev)
		}
		return s.call(txCtx, func(ctx context.Context) error { return s.notices.queueEvents(ctx, tx, accepted, now) })
	})
	if err != nil {
		return nil, unavailable(txCtx, err)
	}
	return results, nil
}

// call runs one database call under the per-call deadline.
func (s dossierStore) call(ctx context.Context, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	return unavailable(ctx, fn(ctx))
}

// unavailable wraps err in dossier.ErrUnavailable when it means the database
// cannot be used now: ctx's deadline passed (a stalled database; drivers
// report it in their own words, so ctx decides), or the connection failed.
func unavailable(ctx context.Context, err error) error {
	if err == nil || errors.Is(err, dossier.ErrUnavailable) {
		return err
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	var liteErr *sqlite.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.As(err, &netErr), errors.As(err, &connErr), pgconn.Timeout(err),
		errors.As(err, &liteErr) && liteErr.Code()&0xff == sqlite3.SQLITE_BUSY:
		return fmt.Errorf("%w: %w", dossier.ErrUnavailable, err)
	}
	return err
}

func (s dossierStore) Dossier(ctx context.Context, code string) (dossier.Dossier, error) {
	if d, known, found := dossier.Prefetched(ctx, code); known {
		if !found {
			return dossier.Dossier{}, dossier.ErrNotFound
		}
		return d, nil
	}
	var row dossierRow
	q := s.db.stmt("dossier by code", func() string {
		return s.db.bun.NewSelect().Model((*dossierRow)(nil)).Where("code = $1").String()
	})
	err := s.call(ctx, func(ctx context.Context) error { return s.db.getOne(ctx, q, &row, code) })
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
	// id breaks ties between equal occurred_at: the order of arrival.
	if err := s.call(ctx, func(ctx context.Context) error {
		return s.db.bun.NewSelect().Model(&rows).Where("dossier_code = ?", code).
			OrderExpr("occurred_at, id").Scan(ctx)
	}); err != nil {
		return nil, fmt.Errorf("loading history of %s: %w", code, err)
	}
	out := make([]dossier.Event, len(rows))
	for i, r := range rows {
		out[i] = dossier.Event{ID: r.EventID, OccurredAt: r.OccurredAt.UTC(), Status: dossier.Status(r.Status),
			Note: r.Note, Payload: []byte(r.Payload)}
	}
	return out, nil
}
