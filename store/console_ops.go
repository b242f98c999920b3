package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/console"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/vntext"
)

func consoleDossier(r dossierRow) console.DossierRow {
	d := r.dossier()
	return console.DossierRow{Code: d.Code, ProcedureCode: d.ProcedureCode, ProcedureName: d.ProcedureName, Agency: d.Agency,
		Status: int(d.Status), StatusName: d.Status.Code(), ReceivedAt: d.ReceivedAt, DueAt: d.DueAt, StatusAt: d.StatusAt,
		Applicant: dossier.MaskName(d.ApplicantName)}
}

// Dossiers lists dossiers of an agency (every agency when empty), most
// recently changed first.
func (s *ConsoleStore) Dossiers(ctx context.Context, agency string, status, limit int) ([]console.DossierRow, error) {
	var rows []dossierRow
	q := s.db.bun.NewSelect().Model(&rows).OrderExpr("status_at DESC, code")
	if agency != "" {
		q = q.Where("agency = ?", agency)
	}
	if status > 0 {
		q = q.Where("status = ?", status)
	}
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing dossiers: %w", err)
	}
	out := make([]console.DossierRow, len(rows))
	for i, r := range rows {
		out[i] = consoleDossier(r)
	}
	return out, nil
}

// Dossier reads one dossier by its code (any spelling the bot accepts).
func (s *ConsoleStore) Dossier(ctx context.Context, code string) (console.DossierRow, error) {
	if c, err := vntext.NormalizeDossierCode(code, s.db.now()); err == nil {
		code = c
	}
	var row dossierRow
	if err := s.db.bun.NewSelect().Model(&row).Where("code = ?", code).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return console.DossierRow{}, console.ErrNotFound
		}
		return console.DossierRow{}, fmt.Errorf("reading dossier %s: %w", code, err)
	}
	return consoleDossier(row), nil
}

type officerAgencyRow struct {
	bun.BaseModel `bun:"table:officers,alias:of"`

	ID              int64      `bun:"id,pk,autoincrement"`
	Name            string     `bun:"name"`
	Email           string     `bun:"email"`
	Agency          string     `bun:"agency"`
	InviteCode      *string    `bun:"invite_code"`
	InviteExpiresAt *time.Time `bun:"invite_expires_at"`
	TelegramChatID  *int64     `bun:"telegram_chat_id"`
	CreatedAt       time.Time  `bun:"created_at"`
	LinkedAt        *time.Time `bun:"linked_at"`
}

func (r officerAgencyRow) officer() console.OfficerRow {
	return console.OfficerRow{ID: r.ID, Name: r.Name, Email: r.Email, Agency: r.Agency, Telegram: r.TelegramChatID != nil,
		InvitePends: r.InviteCode != nil, InviteEnds: utcPtr(r.InviteExpiresAt), LinkedAt: utcPtr(r.LinkedAt), CreatedAt: r.CreatedAt.UTC()}
}

func (s *ConsoleStore) Officers(ctx context.Context, agency string) ([]console.OfficerRow, error) {
	var rows []officerAgencyRow
	q := s.db.bun.NewSelect().Model(&rows).OrderExpr("id")
	if agency != "" {
		q = q.Where("agency = ?", agency)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing officers: %w", err)
	}
	out := make([]console.OfficerRow, len(rows))
	for i, r := range rows {
		out[i] = r.officer()
	}
	return out, nil
}

func (s *ConsoleStore) Officer(ctx context.Context, id int64) (console.OfficerRow, error) {
	var row officerAgencyRow
	if err := s.db.bun.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return console.OfficerRow{}, console.ErrNotFound
		}
		return console.OfficerRow{}, fmt.Errorf("reading officer %d: %w", id, err)
	}
	return row.officer(), nil
}

func (s *ConsoleStore) SetOfficerAgency(ctx context.Context, id int64, agency string) error {
	_, err := s.db.bun.NewUpdate().Model((*officerAgencyRow)(nil)).Set("agency = ?", agency).Where("id = ?", id).Exec(ctx)
	return err
}

func (s *ConsoleStore) Subscriptions(ctx context.Context) ([]console.Subscription, error) {
	var rows []subscriptionRow
	if err := s.db.bun.NewSelect().Model(&rows).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("reading alert subscriptions: %w", err)
	}
	out := make([]console.Subscription, len(rows))
	for i, r := range rows {
		out[i] = console.Subscription{ID: r.ID, Kind: r.Kind, Address: r.Recipient, Name: r.Name, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

func (s *ConsoleStore) Subscribe(ctx context.Context, kind, address, name string) error {
	return s.db.Sync().Subscribe(ctx, kind, address, name)
}

func (s *ConsoleStore) Unsubscribe(ctx context.Context, kind, address string) (bool, error) {
	return s.db.Sync().Unsubscribe(ctx, kind, address)
}

func (s *ConsoleStore) SyncRuns(ctx context.Context, limit int) ([]console.SyncRun, error) {
	var rows []syncRunRow
	q := s.db.bun.NewSelect().Model(&rows).OrderExpr("id DESC")
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing sync runs: %w", err)
	}
	out := make([]console.SyncRun, len(rows))
	for i, r := range rows {
		run := r.run()
		out[i] = console.SyncRun{ID: run.ID, StartedAt: run.StartedAt, FinishedAt: run.FinishedAt, WindowStart: run.WindowStart,
			WindowEnd: run.WindowEnd, State: run.State, Fetched: run.Fetched, New: run.New, Modified: run.Modified,
			Cancelled: run.Cancelled, Restored: run.Restored, Alerts: run.Alerts, Skipped: run.Skipped, Error: run.Error}
	}
	return out, nil
}

// SyncSkips lists the procedures the portal would not serve.
func (s *ConsoleStore) SyncSkips(ctx context.Context) ([]catalogsync.Skip, error) {
	return s.db.Sync().Skips(ctx)
}

func consoleOutbox(m notify.Message) console.OutboxMessage {
	return console.OutboxMessage{ID: m.ID, Kind: m.Kind, Recipient: m.Recipient, State: m.State, Attempts: m.Attempts,
		LastError: m.LastError, DeliveryStatus: m.DeliveryStatus, CreatedAt: m.CreatedAt, NextAttemptAt: m.NextAttemptAt,
		SentAt: m.SentAt, InFlight: m.State == notify.Sending && m.InFlightAt != nil, Subject: m.Payload.Subject}
}

func (s *ConsoleStore) Outbox(ctx context.Context, state string, limit int) ([]console.OutboxMessage, error) {
	list, err := s.db.Outbox().List(ctx, state, limit)
	if err != nil {
		return nil, err
	}
	out := make([]console.OutboxMessage, len(list))
	for i, m := range list {
		out[i] = consoleOutbox(m)
	}
	return out, nil
}

func (s *ConsoleStore) OutboxMessage(ctx context.Context, id int64) (console.OutboxMessage, error) {
	m, ok, err := s.db.Outbox().Message(ctx, id)
	if err != nil {
		return console.OutboxMessage{}, err
	}
	if !ok {
		return console.OutboxMessage{}, console.ErrNotFound
	}
	return consoleOutbox(m), nil
}

func outboxResult(m notify.Message, err error) (console.OutboxMessage, error) {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return console.OutboxMessage{}, console.ErrNotFound
	case errors.Is(err, ErrNotFailed):
		return consoleOutbox(m), console.ErrConflict
	case err != nil:
		return console.OutboxMessage{}, err
	}
	return consoleOutbox(m), nil
}

func (s *ConsoleStore) RetryOutbox(ctx context.Context, id int64) (console.OutboxMessage, error) {
	return outboxResult(s.db.Outbox().Requeue(ctx, id))
}

func (s *ConsoleStore) CancelOutbox(ctx context.Context, id int64) (console.OutboxMessage, error) {
	return outboxResult(s.db.Outbox().Cancel(ctx, id))
}

func (s *ConsoleStore) OptOuts(ctx context.Context) ([]console.OptOut, error) {
	var rows []optOutRow
	if err := s.db.bun.NewSelect().Model(&rows).OrderExpr("created_at DESC, phone").Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing opt-outs: %w", err)
	}
	out := make([]console.OptOut, len(rows))
	for i, r := range rows {
		out[i] = console.OptOut{Phone: r.Phone, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

func (s *ConsoleStore) SetOptOut(ctx context.Context, phone string, out bool) error {
	return s.db.SMSOptOuts().SetOptOut(ctx, phone, out)
}

// LastInbound is the last message per channel and gateway (the source an
// SMS gateway names), with the count of the last 24 hours.
func (s *ConsoleStore) LastInbound(ctx context.Context, since time.Time) ([]console.LastInbound, error) {
	var rows []struct {
		Channel string    `bun:"channel"`
		At      time.Time `bun:"at"`
	}
	if err := s.db.bun.NewRaw(`SELECT channel, MAX(received_at) AS at FROM inbound GROUP BY channel ORDER BY channel`).Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("reading the last inbound messages: %w", err)
	}
	out := make([]console.LastInbound, 0, len(rows))
	for _, r := range rows {
		n, err := s.db.bun.NewSelect().Table("inbound").Where("channel = ? AND received_at > ?", r.Channel, since.UTC()).Count(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, console.LastInbound{Channel: r.Channel, At: r.At.UTC(), Count24: int(n)})
	}
	return out, nil
}

// CredentialTimes reads a channel credential's expiry and last refresh.
func (s *ConsoleStore) CredentialTimes(ctx context.Context, name string) (time.Time, time.Time, bool, error) {
	var row credentialRow
	err := s.db.bun.NewSelect().Model(&row).Where("name = ?", name).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, time.Time{}, false, fmt.Errorf("reading credential %s: %w", name, err)
	}
	exp := time.Time{}
	if row.ExpiresAt != nil {
		exp = row.ExpiresAt.UTC()
	}
	return exp, row.UpdatedAt.UTC(), true, nil
}
