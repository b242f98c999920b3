package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notice"
	"github.com/dvcbot/dvcbot/core/notify"
)

// Proactive notices (issue 12): the notices table describes each notice
// the outbox carries (dossier, kind, whom it was meant for, coalescing
// order); subscriptions, opt-outs and their audit; the shared send pace.

type noticeRow struct {
	bun.BaseModel `bun:"table:notices,alias:n"`

	ID            int64      `bun:"outbox_id,pk"` // the outbox row that carries it
	DossierCode   string     `bun:"dossier_code"`
	Kind          string     `bun:"kind"`
	Status        int        `bun:"status"`
	DueDate       string     `bun:"due_date"`
	OutboxKind    string     `bun:"outbox_kind"`
	Recipient     string     `bun:"recipient"`
	Identity      string     `bun:"identity"`
	Lane          string     `bun:"lane"`
	State         string     `bun:"state"`
	EventAt       time.Time  `bun:"event_at"`
	QueuedAt      time.Time  `bun:"queued_at"`
	HeldUntil     *time.Time `bun:"held_until"`
	FallbackPhone string     `bun:"fallback_phone"`
	FallbackText  string     `bun:"fallback_text"`
}

func (r noticeRow) record() notice.Record {
	return notice.Record{ID: r.ID, OutboxID: r.ID, DossierCode: r.DossierCode, Kind: r.Kind, Status: r.Status,
		DueDate: r.DueDate, OutboxKind: r.OutboxKind, Recipient: r.Recipient, Identity: r.Identity, State: r.State,
		EventAt: r.EventAt.UTC(), QueuedAt: r.QueuedAt.UTC(), HeldUntil: utcPtr(r.HeldUntil),
		FallbackPhone: r.FallbackPhone, FallbackText: r.FallbackText}
}

type noticeSubRow struct {
	bun.BaseModel `bun:"table:notice_subscriptions,alias:ns"`

	Channel     string    `bun:"channel,pk"`
	UserID      string    `bun:"user_id,pk"`
	DossierCode string    `bun:"dossier_code,pk"` // "": every dossier of Phone
	Phone       string    `bun:"phone"`
	Active      bool      `bun:"active"`
	CreatedAt   time.Time `bun:"created_at"`
	UpdatedAt   time.Time `bun:"updated_at"`
}

type noticeOptOutRow struct {
	bun.BaseModel `bun:"table:notice_optouts,alias:no"`

	Identity  string    `bun:"identity,pk"`
	CreatedAt time.Time `bun:"created_at"`
}

type noticeAuditRow struct {
	bun.BaseModel `bun:"table:notice_audit,alias:na"`

	ID          int64     `bun:"id,pk,autoincrement"`
	Channel     string    `bun:"channel"`
	UserID      string    `bun:"user_id"`
	Action      string    `bun:"action"`
	DossierCode string    `bun:"dossier_code"`
	Detail      string    `bun:"detail"`
	CreatedAt   time.Time `bun:"created_at"`
}

// NoticeStore keeps notices, subscriptions and opt-outs.
type NoticeStore struct {
	db      *DB
	policy  *notice.Policy
	metrics *notice.Metrics
}

// Notices returns the notice repository; policy plans notices (the
// overdue job), metrics counts what is queued (both may be nil for
// read-only use).
func (db *DB) Notices(policy *notice.Policy, metrics *notice.Metrics) *NoticeStore {
	return &NoticeStore{db: db, policy: policy, metrics: metrics}
}

var _ notice.Store = (*NoticeStore)(nil)

// EnableNotices makes Dossiers() queue the notices of accepted events
// with policy (call it before serving).
func (db *DB) EnableNotices(policy *notice.Policy, metrics *notice.Metrics) *NoticeStore {
	db.notices = db.Notices(policy, metrics)
	return db.notices
}

// DossiersWithNotices returns the dossier repository that queues the
// notices of accepted events in their own transaction.
func (db *DB) DossiersWithNotices(policy *notice.Policy, metrics *notice.Metrics) dossier.Store {
	return dossierStore{db: db, timeout: DossierTimeout, notices: &NoticeStore{db: db, policy: policy, metrics: metrics}}
}

func identityOf(channel, user string) string { return channel + ":" + user }

// lane groups the notices that coalesce: the chat channels together (one
// citizen), e-mail apart.
func lane(outboxKind string) string {
	if outboxKind == notify.Email {
		return "email"
	}
	return "chat"
}

// queueEvents plans and queues the notices of the accepted events of one
// ApplyEvents transaction: a few statements per batch, not per event.
func (s *NoticeStore) queueEvents(ctx context.Context, tx bun.IDB, events []dossier.Event, now time.Time) error {
	if s == nil || s.policy == nil {
		return nil
	}
	var subjects []notice.Subject
	for _, ev := range events {
		if !s.policy.Notifies(ev.Status) {
			continue
		}
		subjects = append(subjects, notice.Subject{Dossier: ev.Dossier, Email: ev.Dossier.ApplicantEmail,
			Kind: notice.KindOf(ev.Status), EventAt: ev.OccurredAt})
	}
	_, err := s.queue(ctx, tx, subjects, now)
	return err
}

// queue writes the notices of subjects (outbox rows and their notice rows)
// and returns how many new notices it queued.
func (s *NoticeStore) queue(ctx context.Context, tx bun.IDB, subjects []notice.Subject, now time.Time) (int, error) {
	if len(subjects) == 0 {
		return 0, nil
	}
	ids, smsOK, err := s.recipients(ctx, tx, subjects)
	if err != nil {
		return 0, err
	}
	var planned []notice.Notice
	for _, sub := range subjects {
		d := sub.Dossier
		phone := ""
		if d.ApplicantPhone != "" && smsOK[d.ApplicantPhone] {
			phone = d.ApplicantPhone
		}
		planned = append(planned, s.policy.Plan(sub, ids[d.Code], phone, now)...)
	}
	return s.insert(ctx, tx, planned, now)
}

// recipients loads, for every subject's dossier, the identities that may
// get its notices (subscriptions, successful verifications, Zalo users who
// shared the dossier's phone) with when each last wrote and the language
// each chose in the dialog, leaving out those who opted out; smsOK says
// which dossier phones did not.
func (s *NoticeStore) recipients(ctx context.Context, tx bun.IDB, subjects []notice.Subject) (map[string][]notice.Identity, map[string]bool, error) {
	codeSet, phoneSet := map[string]bool{}, map[string]bool{}
	for _, sub := range subjects {
		codeSet[sub.Dossier.Code] = true
		if p := sub.Dossier.ApplicantPhone; p != "" {
			phoneSet[p] = true
		}
	}
	codes, phones := keys(codeSet), keys(phoneSet)
	// Explicit subscriptions (THEO DOI, HUY) and phone links (Zalo
	// user_submit_info).
	var subs []noticeSubRow
	q := tx.NewSelect().Model(&subs).Where("ns.dossier_code IN (?)", bun.List(codes))
	if len(phones) > 0 {
		q = q.WhereOr("ns.dossier_code = '' AND ns.phone IN (?)", bun.List(phones))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, nil, fmt.Errorf("loading notice subscriptions: %w", err)
	}
	// Identities that proved they are the applicant (XACMINH).
	var verified []struct {
		DossierCode string `bun:"dossier_code"`
		Channel     string `bun:"channel"`
		UserID      string `bun:"user_id"`
	}
	if err := tx.NewSelect().Table("verify_attempts").ColumnExpr("DISTINCT dossier_code, channel, user_id").
		Where("failed = ? AND dossier_code IN (?)", false, bun.List(codes)).Scan(ctx, &verified); err != nil {
		return nil, nil, fmt.Errorf("loading verified identities: %w", err)
	}
	var found []noticeIdent
	cancelled := map[string]bool{} // code|identity with HUY
	for _, r := range subs {
		if r.DossierCode != "" && !r.Active {
			cancelled[r.DossierCode+"|"+identityOf(r.Channel, r.UserID)] = true
		}
	}
	for _, r := range subs {
		switch {
		case !r.Active:
		case r.DossierCode != "":
			found = append(found, noticeIdent{r.DossierCode, r.Channel, r.UserID, r.Phone})
		default: // a phone link: every dossier of that phone
			found = append(found, noticeIdent{"sms:" + r.Phone, r.Channel, r.UserID, r.Phone})
		}
	}
	for _, v := range verified {
		found = append(found, noticeIdent{v.DossierCode, v.Channel, v.UserID, ""})
	}
	// Opt-outs of every identity and every dossier phone, and the
	// language of each one's session, in one query.
	pairs := map[string][2]string{}
	for _, f := range found {
		pairs[identityOf(f.channel, f.user)] = [2]string{f.channel, f.user}
	}
	for _, p := range phones {
		pairs[identityOf(message.SMS, p)] = [2]string{message.SMS, p}
	}
	optedOut, langs, err := s.optOutsAndLangs(ctx, tx, pairs)
	if err != nil {
		return nil, nil, err
	}
	smsOK := map[string]bool{}
	for _, p := range phones {
		smsOK[p] = !optedOut[identityOf(message.SMS, p)]
	}
	out := map[string][]notice.Identity{}
	if len(found) == 0 {
		// Only the dossiers' phones: they carry the language their SMS
		// session chose, if any.
		for _, sub := range subjects {
			p := sub.Dossier.ApplicantPhone
			if l := langs[identityOf(message.SMS, p)]; p != "" && smsOK[p] && l != "" {
				out[sub.Dossier.Code] = []notice.Identity{{Channel: message.SMS, UserID: p, Lang: l}}
			}
		}
		return out, smsOK, nil
	}
	// When each identity (and each dossier phone) last wrote.
	seen, err := s.lastSeen(ctx, tx, found, phones)
	if err != nil {
		return nil, nil, err
	}
	byCode := map[string][]noticeIdent{}
	for _, f := range found {
		byCode[f.code] = append(byCode[f.code], f)
	}
	for _, sub := range subjects {
		code, p := sub.Dossier.Code, sub.Dossier.ApplicantPhone
		if _, done := out[code]; done {
			continue
		}
		list := []notice.Identity{}
		dup := map[string]bool{}
		cands := byCode[code]
		if p != "" {
			cands = append(cands, byCode["sms:"+p]...)
			// The phone's own last message, so that a citizen who last
			// wrote by SMS gets SMS, and its session's language.
			pid := identityOf(message.SMS, p)
			t, ok := seen[pid]
			if (ok || langs[pid] != "") && smsOK[p] {
				list = append(list, notice.Identity{Channel: message.SMS, UserID: p, LastSeen: t, Lang: langs[pid]})
				dup[pid] = true
			}
		}
		for _, f := range cands {
			idt := identityOf(f.channel, f.user)
			if optedOut[idt] || cancelled[code+"|"+idt] || dup[idt] {
				continue
			}
			dup[idt] = true
			list = append(list, notice.Identity{Channel: f.channel, UserID: f.user, Phone: f.phone, LastSeen: seen[idt], Lang: langs[idt]})
		}
		out[code] = list
	}
	return out, smsOK, nil
}

// optOutsAndLangs reads, for identities keyed "channel:user", which opted
// out of notices and which language each one's session chose (sessions.lang
// set by EN/VI or the web chat's ?lang=en; absent when none was chosen or
// the session was purged), in one statement: the language rides the
// opt-out query that runs for every batch anyway, so it costs no round
// trip. The sessions are found by their primary key (channel, user_id).
func (s *NoticeStore) optOutsAndLangs(ctx context.Context, tx bun.IDB, pairs map[string][2]string) (map[string]bool, map[string]string, error) {
	optedOut, langs := map[string]bool{}, map[string]string{}
	if len(pairs) == 0 {
		return optedOut, langs, nil
	}
	byChannel := map[string][]string{}
	for _, k := range keys(mapKeys(pairs)) {
		p := pairs[k]
		byChannel[p[0]] = append(byChannel[p[0]], p[1])
	}
	var sb strings.Builder
	args := []any{bun.List(keys(mapKeys(pairs)))}
	sb.WriteString("SELECT 'o' AS src, identity AS ident, '' AS lang FROM notice_optouts WHERE identity IN (?)" +
		" UNION ALL SELECT 's' AS src, channel || ':' || user_id AS ident, lang FROM sessions WHERE lang <> '' AND (")
	for i, ch := range keys(mapKeys(byChannel)) {
		if i > 0 {
			sb.WriteString(" OR ")
		}
		sb.WriteString("(channel = ? AND user_id IN (?))")
		args = append(args, ch, bun.List(byChannel[ch]))
	}
	sb.WriteString(")")
	var rows []struct {
		Src   string `bun:"src"`
		Ident string `bun:"ident"`
		Lang  string `bun:"lang"`
	}
	if err := tx.NewRaw(sb.String(), args...).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, nil, fmt.Errorf("loading notice opt-outs and languages: %w", err)
	}
	for _, r := range rows {
		if r.Src == "o" {
			optedOut[r.Ident] = true
		} else {
			langs[r.Ident] = r.Lang
		}
	}
	return optedOut, langs, nil
}

// noticeIdent is an identity found for a dossier (code "sms:<phone>":
// every dossier of that phone).
type noticeIdent struct{ code, channel, user, phone string }

// lastSeen reads when each identity, and each dossier phone on SMS, last
// wrote (the inbound log).
func (s *NoticeStore) lastSeen(ctx context.Context, tx bun.IDB, found []noticeIdent, phones []string) (map[string]time.Time, error) {
	pairs := map[string][2]string{}
	for _, f := range found {
		pairs[identityOf(f.channel, f.user)] = [2]string{f.channel, f.user}
	}
	for _, p := range phones {
		pairs[identityOf(message.SMS, p)] = [2]string{message.SMS, p}
	}
	var rows []struct {
		Channel string    `bun:"channel"`
		Sender  string    `bun:"sender"`
		Last    time.Time `bun:"last"`
	}
	q := tx.NewSelect().Table("inbound").ColumnExpr("channel, sender, MAX(received_at) AS last").GroupExpr("channel, sender")
	q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		for _, k := range keys(mapKeys(pairs)) {
			p := pairs[k]
			q = q.WhereOr("(channel = ? AND sender = ?)", p[0], p[1])
		}
		return q
	})
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("reading when identities last wrote: %w", err)
	}
	out := map[string]time.Time{}
	for _, r := range rows {
		out[identityOf(r.Channel, r.Sender)] = r.Last.UTC()
	}
	return out, nil
}

func mapKeys[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// insert queues planned notices: outbox rows (a dedupe key already there
// means the notice was queued before: nothing happens) and, for the new
// ones, their notice rows. Two statements for the whole batch.
func (s *NoticeStore) insert(ctx context.Context, tx bun.IDB, planned []notice.Notice, now time.Time) (int, error) {
	if len(planned) == 0 {
		return 0, nil
	}
	var sb strings.Builder
	args := make([]any, 0, len(planned)*7)
	sb.WriteString("INSERT INTO outbox (kind, recipient, payload, dedupe_key, state, next_attempt_at, created_at) VALUES ")
	seen := map[string]bool{}
	byKey := map[string]notice.Notice{}
	for _, n := range planned {
		if seen[n.DedupeKey] {
			continue
		}
		seen[n.DedupeKey] = true
		byKey[n.DedupeKey] = n
		if len(args) > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("(?, ?, ?, ?, ?, ?, ?)")
		next := now
		if !n.HeldUntil.IsZero() {
			next = n.HeldUntil
		}
		next = next.Add(n.After)
		args = append(args, n.OutboxKind, n.Recipient, notify.MarshalPayload(n.Payload), n.DedupeKey, notify.Pending, next.UTC(), now)
	}
	sb.WriteString(" ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key")
	var got []struct {
		ID        int64  `bun:"id"`
		DedupeKey string `bun:"dedupe_key"`
	}
	if err := tx.NewRaw(sb.String(), args...).Scan(ctx, &got); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("queuing notices: %w", err)
	}
	if len(got) == 0 {
		return 0, nil
	}
	rows := make([]noticeRow, 0, len(got))
	for _, g := range got {
		n := byKey[g.DedupeKey]
		rows = append(rows, s.row(n, g.ID, now))
	}
	if _, err := tx.NewInsert().Model(&rows).Exec(ctx); err != nil {
		return 0, fmt.Errorf("recording notices: %w", err)
	}
	for _, r := range rows {
		res := notice.ResultQueued
		if r.HeldUntil != nil {
			res = notice.ResultHeld
		}
		s.metrics.Count(r.Kind, r.OutboxKind, res)
	}
	return len(rows), nil
}

func (s *NoticeStore) row(n notice.Notice, outboxID int64, now time.Time) noticeRow {
	r := noticeRow{ID: outboxID, DossierCode: n.DossierCode, Kind: n.Kind, Status: n.Status, DueDate: n.DueDate,
		OutboxKind: n.OutboxKind, Recipient: n.Recipient, Identity: n.Identity, Lane: lane(n.OutboxKind),
		State: notice.StateQueued, EventAt: n.EventAt.UTC(), QueuedAt: now, FallbackPhone: n.FallbackPhone, FallbackText: n.FallbackText}
	if !n.HeldUntil.IsZero() {
		h := n.HeldUntil.UTC()
		r.HeldUntil = &h
	}
	return r
}

// NoticeByOutbox implements notice.Store.
func (s *NoticeStore) NoticeByOutbox(ctx context.Context, outboxID int64) (notice.Record, bool, error) {
	var r noticeRow
	err := s.db.bun.NewSelect().Model(&r).Where("outbox_id = ?", outboxID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return notice.Record{}, false, nil
	}
	if err != nil {
		return notice.Record{}, false, fmt.Errorf("reading the notice of outbox message %d: %w", outboxID, err)
	}
	return r.record(), true, nil
}

// Newer implements notice.Store: a notice of the same dossier and lane from
// a later event (or, for "received", a result notice), other than a rating
// invitation, that was not superseded and did not fail.
func (s *NoticeStore) Newer(ctx context.Context, r notice.Record) (bool, error) {
	n, err := s.db.bun.NewSelect().Model((*noticeRow)(nil)).
		Join("JOIN outbox AS o ON o.id = n.outbox_id").
		Where("n.dossier_code = ? AND n.lane = ? AND n.outbox_id <> ? AND n.kind <> ? AND n.state <> ? AND o.state <> ?",
			r.DossierCode, lane(r.OutboxKind), r.ID, notice.Rating, notice.StateSuperseded, notify.Failed).
		WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			q = q.Where("n.event_at > ?", r.EventAt).WhereOr("n.event_at = ? AND n.outbox_id > ? AND n.kind <> ?", r.EventAt, r.ID, r.Kind)
			if r.Kind == notice.Received {
				q = q.WhereOr("n.kind IN (?)", bun.List([]string{notice.Ready, notice.Returned}))
			}
			return q
		}).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("looking for newer notices of %s: %w", r.DossierCode, err)
	}
	return n > 0, nil
}

// SetState implements notice.Store.
func (s *NoticeStore) SetState(ctx context.Context, id int64, state string) error {
	if _, err := s.db.bun.NewUpdate().Model((*noticeRow)(nil)).Set("state = ?", state).Where("outbox_id = ?", id).Exec(ctx); err != nil {
		return fmt.Errorf("recording notice %d as %s: %w", id, state, err)
	}
	return nil
}

// OptedOut implements notice.Store.
func (s *NoticeStore) OptedOut(ctx context.Context, identity string) (bool, error) {
	n, err := s.db.bun.NewSelect().Model((*noticeOptOutRow)(nil)).Where("identity = ?", identity).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("reading the opt-out of %s: %w", identity, err)
	}
	return n > 0, nil
}

// Rated implements notice.Store.
func (s *NoticeStore) Rated(ctx context.Context, code string) (bool, error) {
	n, err := s.db.bun.NewSelect().Model((*ratingRow)(nil)).Where("dossier_code = ?", code).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("reading the rating of %s: %w", code, err)
	}
	return n > 0, nil
}

// QueueFallback implements notice.Store.
func (s *NoticeStore) QueueFallback(ctx context.Context, r notice.Record, notBefore time.Time) (bool, error) {
	now := s.db.utcNow()
	n := notice.Notice{DossierCode: r.DossierCode, Kind: r.Kind, Status: r.Status, DueDate: r.DueDate, OutboxKind: notify.SMS,
		Recipient: r.FallbackPhone, Payload: notify.Payload{Text: r.FallbackText}, EventAt: r.EventAt,
		Identity: identityOf(message.SMS, r.FallbackPhone)}
	n.DedupeKey = notice.DedupeKey(r.DossierCode, r.Status, r.DueDate, notify.SMS, r.FallbackPhone, r.Kind) + "|fallback"
	if notBefore.After(now) {
		n.HeldUntil = notBefore
	}
	var queued int
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if queued, err = s.insert(ctx, tx, []notice.Notice{n}, now); err != nil || queued == 0 {
			return err
		}
		_, err = tx.NewUpdate().Model((*noticeRow)(nil)).Set("state = ?", notice.StateFallback).Where("outbox_id = ?", r.ID).Exec(ctx)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("queuing the SMS fallback of notice %d: %w", r.ID, err)
	}
	return queued > 0, nil
}

// ReserveSlot implements notice.Store: one row per pace holds the next free
// slot (unix microseconds); each call takes it and moves it one interval
// on, atomically, whichever replica asks.
func (s *NoticeStore) ReserveSlot(ctx context.Context, name string, interval time.Duration, now time.Time) (time.Time, error) {
	nowUs, step := now.UnixMicro(), interval.Microseconds()
	var next int64
	err := s.db.bun.NewRaw(`INSERT INTO notice_pace (name, next_us) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET next_us = CASE WHEN notice_pace.next_us > ? THEN notice_pace.next_us ELSE ? END + ?
		RETURNING next_us`, name, nowUs+step, nowUs, nowUs, step).Scan(ctx, &next)
	if err != nil {
		return time.Time{}, fmt.Errorf("reserving a send slot: %w", err)
	}
	return time.UnixMicro(next - step), nil
}

// Audit actions of notice_audit.
const (
	AuditSubscribe   = "subscribe"
	AuditUnsubscribe = "unsubscribe"
	AuditOptOut      = "opt_out"
	AuditOptIn       = "opt_in"
	AuditPhoneLink   = "phone_link"
)

func (s *NoticeStore) audit(ctx context.Context, tx bun.IDB, channel, user, action, code, detail string) error {
	_, err := tx.NewInsert().Model(&noticeAuditRow{Channel: channel, UserID: user, Action: action, DossierCode: code,
		Detail: detail, CreatedAt: s.db.utcNow()}).Exec(ctx)
	return err
}

// Subscribe subscribes (on) or unsubscribes (off) an identity from one
// dossier's notices, and audits it.
func (s *NoticeStore) Subscribe(ctx context.Context, channel, user, code string, on bool) error {
	now := s.db.utcNow()
	action := AuditSubscribe
	if !on {
		action = AuditUnsubscribe
	}
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		row := noticeSubRow{Channel: channel, UserID: user, DossierCode: code, Active: on, CreatedAt: now, UpdatedAt: now}
		if _, err := tx.NewInsert().Model(&row).On("CONFLICT (channel, user_id, dossier_code) DO UPDATE").
			Set("active = EXCLUDED.active").Set("updated_at = EXCLUDED.updated_at").Exec(ctx); err != nil {
			return err
		}
		return s.audit(ctx, tx, channel, user, action, code, "")
	})
	if err != nil {
		return fmt.Errorf("recording the subscription of %s to %s: %w", identityOf(channel, user), code, err)
	}
	return nil
}

// LinkPhone records that an identity shared its phone (Zalo
// user_submit_info): it gets the notices of every dossier of that phone.
func (s *NoticeStore) LinkPhone(ctx context.Context, channel, user, phone string) error {
	now := s.db.utcNow()
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		row := noticeSubRow{Channel: channel, UserID: user, DossierCode: "", Phone: phone, Active: true, CreatedAt: now, UpdatedAt: now}
		if _, err := tx.NewInsert().Model(&row).On("CONFLICT (channel, user_id, dossier_code) DO UPDATE").
			Set("phone = EXCLUDED.phone").Set("active = EXCLUDED.active").Set("updated_at = EXCLUDED.updated_at").Exec(ctx); err != nil {
			return err
		}
		return s.audit(ctx, tx, channel, user, AuditPhoneLink, "", phone)
	})
	if err != nil {
		return fmt.Errorf("linking %s to a phone: %w", identityOf(channel, user), err)
	}
	return nil
}

// LinkedPhone is the phone an identity shared, if any.
func (s *NoticeStore) LinkedPhone(ctx context.Context, channel, user string) (string, error) {
	var phone string
	err := s.db.bun.NewSelect().Model((*noticeSubRow)(nil)).Column("phone").
		Where("channel = ? AND user_id = ? AND dossier_code = '' AND active", channel, user).Scan(ctx, &phone)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return phone, err
}

// SetOptOut stops (out) or resumes every notice to an identity on its
// channel, and audits it. On SMS the phone's opt-out is also the one the
// SMS sender checks (sms_optouts).
func (s *NoticeStore) SetOptOut(ctx context.Context, channel, user string, out bool) error {
	now := s.db.utcNow()
	idt := identityOf(channel, user)
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		action := AuditOptOut
		if out {
			_, err = tx.NewInsert().Model(&noticeOptOutRow{Identity: idt, CreatedAt: now}).On("CONFLICT (identity) DO NOTHING").Exec(ctx)
			if err == nil && channel == message.SMS {
				_, err = tx.NewInsert().Model(&optOutRow{Phone: user, CreatedAt: now}).On("CONFLICT (phone) DO NOTHING").Exec(ctx)
			}
		} else {
			action = AuditOptIn
			_, err = tx.NewDelete().Model((*noticeOptOutRow)(nil)).Where("identity = ?", idt).Exec(ctx)
			if err == nil && channel == message.SMS {
				_, err = tx.NewDelete().Model((*optOutRow)(nil)).Where("phone = ?", user).Exec(ctx)
			}
		}
		if err != nil {
			return err
		}
		return s.audit(ctx, tx, channel, user, action, "", "")
	})
	if err != nil {
		return fmt.Errorf("recording the opt-out of %s: %w", idt, err)
	}
	return nil
}

// Verified reports whether an identity proved it is the dossier's applicant
// (a successful XACMINH).
func (s *NoticeStore) Verified(ctx context.Context, channel, user, code string) (bool, error) {
	n, err := s.db.bun.NewSelect().Table("verify_attempts").
		Where("failed = ? AND dossier_code = ? AND channel = ? AND user_id = ?", false, code, channel, user).Count(ctx)
	if err != nil {
		return false, fmt.Errorf("reading verifications: %w", err)
	}
	return n > 0, nil
}

// AuditEntry is one row of the subscription audit.
type AuditEntry struct {
	Channel, UserID, Action, DossierCode, Detail string
	At                                           time.Time
}

// Audit lists the audit rows of an identity (all when channel is ""),
// oldest first.
func (s *NoticeStore) Audit(ctx context.Context, channel, user string) ([]AuditEntry, error) {
	var rows []noticeAuditRow
	q := s.db.bun.NewSelect().Model(&rows).OrderExpr("id")
	if channel != "" {
		q = q.Where("channel = ? AND user_id = ?", channel, user)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("reading the notice audit: %w", err)
	}
	out := make([]AuditEntry, len(rows))
	for i, r := range rows {
		out[i] = AuditEntry{Channel: r.Channel, UserID: r.UserID, Action: r.Action, DossierCode: r.DossierCode, Detail: r.Detail, At: r.CreatedAt.UTC()}
	}
	return out, nil
}

type noticeViewRow struct {
	noticeRow      `bun:",extend"`
	OState         string     `bun:"o_state"`
	DeliveryStatus string     `bun:"o_delivery"`
	LastError      string     `bun:"o_error"`
	NextAttemptAt  time.Time  `bun:"o_next"`
	SentAt         *time.Time `bun:"o_sent_at"`
	DeliveredAt    *time.Time `bun:"o_delivered_at"`
}

// viewState maps a notice and its outbox row to the API's states:
// queued|held|sent|accepted|delivered|undelivered|failed.
func viewState(r noticeViewRow, now time.Time) (state, reason string) {
	switch {
	case r.State == notice.StateSuperseded:
		return "failed", "superseded"
	case r.OState == notify.Failed:
		if r.State == notice.StateFallback {
			return "failed", "fell back to SMS"
		}
		return "failed", r.LastError
	case r.OState == notify.Pending || r.OState == notify.Sending:
		if r.HeldUntil != nil && r.NextAttemptAt.After(now) && !r.HeldUntil.Before(r.NextAttemptAt) {
			return "held", ""
		}
		return "queued", ""
	}
	switch r.DeliveryStatus {
	case notify.Accepted, notify.Queued:
		return "accepted", ""
	case notify.Delivered:
		return "delivered", ""
	case notify.Undelivered, notify.Rejected:
		return "undelivered", ""
	}
	return "sent", ""
}

// List returns notices, oldest first: of one dossier, or (code "") the
// latest limit ones.
func (s *NoticeStore) List(ctx context.Context, code string, limit int) ([]notice.View, error) {
	var rows []noticeViewRow
	q := s.db.bun.NewSelect().Model(&rows).
		ColumnExpr("n.*").
		ColumnExpr("o.state AS o_state, o.delivery_status AS o_delivery, o.last_error AS o_error, o.next_attempt_at AS o_next, o.sent_at AS o_sent_at").
		ColumnExpr("(SELECT MIN(r.received_at) FROM outbox_receipts AS r WHERE r.outbox_id = o.id AND r.status = ? AND r.applied) AS o_delivered_at", notify.Delivered).
		Join("JOIN outbox AS o ON o.id = n.outbox_id")
	if code != "" {
		q = q.Where("n.dossier_code = ?", code).OrderExpr("n.outbox_id")
	} else {
		q = q.OrderExpr("n.outbox_id DESC")
	}
	if limit > 0 {
		q = q.Limit(int64(limit))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing notices: %w", err)
	}
	if code == "" {
		for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
			rows[i], rows[j] = rows[j], rows[i]
		}
	}
	now := s.db.utcNow()
	out := make([]notice.View, len(rows))
	for i, r := range rows {
		state, reason := viewState(r, now)
		out[i] = notice.View{ID: r.ID, DossierCode: r.DossierCode, Kind: r.Kind, Channel: notice.Channel(r.OutboxKind), State: state,
			Reason: reason, QueuedAt: r.QueuedAt.UTC(), HeldUntil: utcPtr(r.HeldUntil), SentAt: utcPtr(r.SentAt),
			DeliveredAt: utcPtr(r.DeliveredAt), Recipient: r.Recipient}
		if state != "held" {
			out[i].HeldUntil = nil
		}
	}
	return out, nil
}

// Stats counts notices queued since since by kind, channel and state.
func (s *NoticeStore) Stats(ctx context.Context, since time.Time) ([]notice.StatsRow, error) {
	var rows []noticeViewRow
	if err := s.db.bun.NewSelect().Model(&rows).
		ColumnExpr("n.*").
		ColumnExpr("o.state AS o_state, o.delivery_status AS o_delivery, o.last_error AS o_error, o.next_attempt_at AS o_next, o.sent_at AS o_sent_at").
		Join("JOIN outbox AS o ON o.id = n.outbox_id").Where("n.queued_at >= ?", since.UTC()).Scan(ctx); err != nil {
		return nil, fmt.Errorf("counting notices: %w", err)
	}
	now := s.db.utcNow()
	counts := map[[3]string]int{}
	for _, r := range rows {
		st, _ := viewState(r, now)
		counts[[3]string{r.Kind, notice.Channel(r.OutboxKind), st}]++
	}
	out := make([]notice.StatsRow, 0, len(counts))
	for k, n := range counts {
		out = append(out, notice.StatsRow{Kind: k[0], Channel: k[1], State: k[2], Count: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Channel != b.Channel {
			return a.Channel < b.Channel
		}
		return a.State < b.State
	})
	return out, nil
}

// QueueOverdue is the daily job: dossiers past their appointment without
// a result (in progress, 2 or 4; never the paused 5, 6, 8) that got no
// apology since their last change get one, once per appointment date
// (the dedupe key holds the date). It returns how many it queued.
func (s *NoticeStore) QueueOverdue(ctx context.Context, now time.Time, batch int) (int, error) {
	if s.policy == nil || !s.policy.Config().Statuses.Overdue {
		return 0, nil
	}
	if batch <= 0 {
		batch = 500
	}
	total := 0
	after := ""
	for {
		var rows []dossierRow
		err := s.db.bun.NewSelect().Model(&rows).
			Where("d.status IN (?) AND d.due_at < ? AND d.code > ?", bun.List([]int{int(dossier.DaTiepNhan), int(dossier.DangXuLy)}), now.UTC(), after).
			Where("NOT EXISTS (SELECT 1 FROM notices AS n WHERE n.dossier_code = d.code AND n.kind = ? AND n.queued_at >= d.updated_at)", notice.Overdue).
			OrderExpr("d.code").Limit(int64(batch)).Scan(ctx)
		if err != nil {
			return total, fmt.Errorf("finding overdue dossiers: %w", err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		subjects := make([]notice.Subject, 0, len(rows))
		for _, r := range rows {
			d := r.dossier()
			if t, _ := d.Timing(now); t != dossier.TimingOverdue {
				continue
			}
			subjects = append(subjects, notice.OverdueSubject(d, now))
		}
		err = s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			n, err := s.queue(ctx, tx, subjects, now.UTC())
			total += n
			return err
		})
		if err != nil {
			return total, err
		}
		after = rows[len(rows)-1].Code
	}
}
