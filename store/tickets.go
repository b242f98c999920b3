package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/ticket"
)

// Hand-off tickets (issue 15): the tickets, the officers' entries, and the
// Zalo pauses. The citizen's messages and the bot's replies are read from
// the inbound log (each message with its reply), so the conversation shows
// the bot's turns without a second copy.

type ticketRow struct {
	bun.BaseModel `bun:"table:tickets,alias:t"`

	Number        int64      `bun:"number,pk,autoincrement"`
	Channel       string     `bun:"channel"`
	UserID        string     `bun:"user_id"`
	Address       string     `bun:"address"`
	Phone         string     `bun:"phone"`
	Lang          string     `bun:"lang"`
	Kind          string     `bun:"kind"`
	State         string     `bun:"state"`
	Agency        string     `bun:"agency"`
	DossierCode   string     `bun:"dossier_code"`
	ProcedureCode string     `bun:"procedure_code"`
	Subject       string     `bun:"subject"`
	AssigneeID    int64      `bun:"assignee_id"`
	AssigneeName  string     `bun:"assignee_name"`
	OpenedAt      time.Time  `bun:"opened_at"`
	FirstAnswerAt *time.Time `bun:"first_answer_at"`
	LastCitizenAt time.Time  `bun:"last_citizen_at"`
	LastActivity  time.Time  `bun:"last_activity_at"`
	ClosedAt      *time.Time `bun:"closed_at"`
	ClosedBy      string     `bun:"closed_by"`
	Rating        int        `bun:"rating"`
	UpdatedAt     time.Time  `bun:"updated_at"`
	Version       int64      `bun:"version"`
}

func (r ticketRow) ticket() ticket.Ticket {
	return ticket.Ticket{Number: r.Number, Channel: r.Channel, UserID: r.UserID, Address: r.Address, Phone: r.Phone, Lang: r.Lang,
		Kind: ticket.Kind(r.Kind), State: r.State, Agency: r.Agency, Dossier: r.DossierCode, Procedure: r.ProcedureCode,
		Subject: r.Subject, AssigneeID: r.AssigneeID, AssigneeName: r.AssigneeName, OpenedAt: r.OpenedAt.UTC(),
		FirstAnswerAt: utcPtr(r.FirstAnswerAt), LastCitizenAt: r.LastCitizenAt.UTC(), LastActivity: r.LastActivity.UTC(),
		ClosedAt: utcPtr(r.ClosedAt), ClosedBy: r.ClosedBy, Rating: r.Rating, UpdatedAt: r.UpdatedAt.UTC(), Version: r.Version}
}

type ticketEntryRow struct {
	bun.BaseModel `bun:"table:ticket_entries,alias:te"`

	ID           int64     `bun:"id,pk,autoincrement"`
	TicketNumber int64     `bun:"ticket_number"`
	CreatedAt    time.Time `bun:"created_at"`
	Author       string    `bun:"author"`
	Name         string    `bun:"name"`
	Text         string    `bun:"text"`
}

type humanPauseRow struct {
	bun.BaseModel `bun:"table:human_pauses,alias:hp"`

	Channel     string    `bun:"channel,pk"`
	UserID      string    `bun:"user_id,pk"`
	PausedUntil time.Time `bun:"paused_until"`
}

// previousIDAuthor marks an entry that is not a turn of the conversation:
// its text is an id the ticket's citizen had before their session was
// rotated (the web chat, on verification). The conversation reads the
// inbound log under every id of the citizen, and an answer planned for an
// old id goes to the current one; the console never sees these entries.
const previousIDAuthor = "previous_id"

// Tickets returns the hand-off ticket store.
func (db *DB) Tickets() *TicketStore { return &TicketStore{db: db} }

// TicketStore implements ticket.Store.
type TicketStore struct{ db *DB }

var _ ticket.Store = (*TicketStore)(nil)

// unratedWindow is how long after its closing a ticket takes a bare 1-3.
const unratedWindow = 24 * time.Hour

// Create implements ticket.Store.
func (s *TicketStore) Create(ctx context.Context, t ticket.Ticket) (ticket.Ticket, bool, error) {
	now := s.db.utcNow()
	row := ticketRow{Channel: t.Channel, UserID: t.UserID, Address: t.Address, Phone: t.Phone, Lang: t.Lang, Kind: string(t.Kind),
		State: ticket.Open, Agency: t.Agency, DossierCode: t.Dossier, ProcedureCode: t.Procedure, Subject: t.Subject,
		OpenedAt: t.OpenedAt.UTC(), LastCitizenAt: t.LastCitizenAt.UTC(), LastActivity: t.LastActivity.UTC(), UpdatedAt: now, Version: 1}
	created := false
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var cur ticketRow
		err := tx.NewSelect().Model(&cur).Where("channel = ? AND user_id = ? AND state = ?", t.Channel, t.UserID, ticket.Open).Limit(1).Scan(ctx)
		if err == nil {
			row = cur
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.NewInsert().Model(&row).Returning("number").Exec(ctx); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil && isUniqueViolation(err) {
		// Another message of the same citizen opened one meanwhile.
		var cur ticketRow
		if err2 := s.db.bun.NewSelect().Model(&cur).Where("channel = ? AND user_id = ? AND state = ?", t.Channel, t.UserID, ticket.Open).Scan(ctx); err2 == nil {
			return cur.ticket(), false, nil
		}
	}
	if err != nil {
		return ticket.Ticket{}, false, fmt.Errorf("opening a ticket: %w", err)
	}
	return row.ticket(), created, nil
}

// Status implements ticket.Store in one round trip (two more when the
// citizen has a ticket, which is rare).
func (s *TicketStore) Status(ctx context.Context, channel, user, excludeMsg string, now time.Time) (ticket.Status, error) {
	var (
		openNo, unratedNo sql.NullInt64
		paused            nullTime
	)
	err := s.db.bun.QueryRowContext(ctx, `SELECT
		(SELECT number FROM tickets WHERE channel = ? AND user_id = ? AND state = 'open' LIMIT 1),
		(SELECT paused_until FROM human_pauses WHERE channel = ? AND user_id = ?),
		(SELECT number FROM tickets WHERE channel = ? AND user_id = ? AND state = 'closed' AND rating = 0 AND closed_at > ?
			ORDER BY closed_at DESC LIMIT 1)`,
		channel, user, channel, user, channel, user, now.Add(-unratedWindow).UTC()).Scan(&openNo, &paused, &unratedNo)
	if err != nil {
		return ticket.Status{}, fmt.Errorf("reading the hand-off status: %w", err)
	}
	var st ticket.Status
	if paused.t.After(now) {
		st.PausedUntil = paused.t
	}
	if openNo.Valid {
		t, err := s.Get(ctx, openNo.Int64)
		if err != nil {
			return st, err
		}
		st.Open = &t
	} else if unratedNo.Valid {
		t, err := s.Get(ctx, unratedNo.Int64)
		if err != nil {
			return st, err
		}
		ids, err := readCitizenIDs(ctx, s.db.bun, t.Number, user)
		if err != nil {
			return st, err
		}
		var n int
		q := s.db.bun.NewSelect().Table("inbound").ColumnExpr("count(*)").
			Where("channel = ? AND received_at > ? AND message_id <> ?", channel, *t.ClosedAt, excludeMsg)
		if err := ids.from(q).Scan(ctx, &n); err != nil {
			return st, err
		}
		if n == 0 {
			st.Unrated = &t
		}
	}
	return st, nil
}

// Get implements ticket.Store.
func (s *TicketStore) Get(ctx context.Context, number int64) (ticket.Ticket, error) {
	var r ticketRow
	err := s.db.bun.NewSelect().Model(&r).Where("number = ?", number).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return ticket.Ticket{}, ticket.ErrNotFound
	}
	if err != nil {
		return ticket.Ticket{}, fmt.Errorf("reading ticket %d: %w", number, err)
	}
	return r.ticket(), nil
}

// List implements ticket.Store: newest activity first.
func (s *TicketStore) List(ctx context.Context, f ticket.Filter) ([]ticket.Ticket, error) {
	var rows []ticketRow
	q := s.db.bun.NewSelect().Model(&rows).OrderExpr("last_activity_at DESC, number DESC")
	if f.Agency != "" {
		q = q.Where("agency IN (?, '')", f.Agency)
	}
	if f.State != "" {
		q = q.Where("state = ?", f.State)
	}
	if !f.Since.IsZero() {
		q = q.Where("updated_at >= ?", f.Since.UTC())
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	if err := q.Limit(int64(limit)).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("listing tickets: %w", err)
	}
	out := make([]ticket.Ticket, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.ticket())
	}
	return out, nil
}

// Conversation implements ticket.Store.
func (s *TicketStore) Conversation(ctx context.Context, t ticket.Ticket) ([]ticket.Entry, error) {
	from := t.OpenedAt.Add(-24 * time.Hour)
	var rows []struct {
		MessageID   string         `bun:"message_id"`
		Text        string         `bun:"text"`
		Reply       sql.NullString `bun:"reply"`
		Payload     sql.NullString `bun:"payload"`
		ReceivedAt  time.Time      `bun:"received_at"`
		ProcessedAt *time.Time     `bun:"processed_at"`
	}
	var entries []ticketEntryRow
	if err := s.db.bun.NewSelect().Model(&entries).Where("ticket_number = ?", t.Number).OrderExpr("id").Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading the entries of ticket %d: %w", t.Number, err)
	}
	ids := citizenIDs{{id: t.UserID}}
	for _, e := range entries {
		if e.Author == previousIDAuthor {
			ids = append(ids, citizenID{id: e.Text, until: e.CreatedAt})
		}
	}
	q := s.db.bun.NewSelect().Table("inbound").Column("message_id", "text", "reply", "payload", "received_at", "processed_at").
		Where("channel = ? AND received_at >= ?", t.Channel, from.UTC())
	q = ids.from(q)
	if t.ClosedAt != nil && t.State == ticket.Closed {
		q = q.Where("received_at <= ?", t.ClosedAt.Add(time.Minute).UTC())
	}
	if err := q.OrderExpr("received_at DESC").Limit(300).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading the conversation of ticket %d: %w", t.Number, err)
	}
	var out []ticket.Entry
	for _, r := range rows {
		var p inboundPayload
		if r.Payload.Valid {
			_ = json.Unmarshal([]byte(r.Payload.String), &p)
		}
		at := r.ReceivedAt.UTC()
		switch p.Event {
		case message.EventWelcome:
			continue
		case message.EventAdminReply:
			out = append(out, ticket.Entry{At: at, Author: ticket.ByOfficer, Name: "Zalo OA", Text: r.Text})
			continue
		case message.EventMedia:
			r.Text = "[media]"
		case message.EventContact:
			r.Text = "[phone shared]"
		}
		text := r.Text
		if text == "" {
			text = "•••"
		}
		out = append(out, ticket.Entry{At: at, Author: ticket.ByCitizen, Text: text})
		if r.Reply.Valid {
			var rep message.Reply
			if json.Unmarshal([]byte(r.Reply.String), &rep) == nil && rep.Text != "" {
				rat := at.Add(time.Millisecond)
				if r.ProcessedAt != nil && r.ProcessedAt.After(at) {
					rat = r.ProcessedAt.UTC()
				}
				out = append(out, ticket.Entry{At: rat, Author: ticket.ByBot, Text: rep.Text})
			}
		}
	}
	for _, e := range entries {
		if e.Author == previousIDAuthor {
			continue
		}
		out = append(out, ticket.Entry{At: e.CreatedAt.UTC(), Author: e.Author, Name: e.Name, Text: e.Text})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out, nil
}

// bump is the SET clause every change carries.
func (s *TicketStore) bump(q *bun.UpdateQuery, now time.Time) *bun.UpdateQuery {
	return q.Set("updated_at = ?", now).Set("version = version + 1")
}

// Touch implements ticket.Store.
func (s *TicketStore) Touch(ctx context.Context, number int64, at time.Time) error {
	q := s.db.bun.NewUpdate().Model((*ticketRow)(nil)).Set("last_citizen_at = ?", at.UTC()).Set("last_activity_at = ?", at.UTC()).
		Where("number = ? AND state = ?", number, ticket.Open)
	_, err := s.bump(q, s.db.utcNow()).Exec(ctx)
	return err
}

// changeOpen runs fn in a transaction on an open ticket and returns it as
// fn left it; ErrConflict when it is not open.
func (s *TicketStore) change(ctx context.Context, number int64, state string, fn func(ctx context.Context, tx bun.Tx, now time.Time, cur ticketRow) error) (ticket.Ticket, error) {
	now := s.db.utcNow()
	var out ticketRow
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var cur ticketRow
		q := tx.NewSelect().Model(&cur).Where("number = ?", number)
		if s.db.dialect == Postgres {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ticket.ErrNotFound
			}
			return err
		}
		if state != "" && cur.State != state {
			return ticket.ErrConflict
		}
		if err := fn(ctx, tx, now, cur); err != nil {
			return err
		}
		return tx.NewSelect().Model(&out).Where("number = ?", number).Scan(ctx)
	})
	if err != nil {
		return ticket.Ticket{}, err
	}
	return out.ticket(), nil
}

// Answer implements ticket.Store.
func (s *TicketStore) Answer(ctx context.Context, number int64, e ticket.Entry, out []notify.Message, claim string) (ticket.Ticket, error) {
	return s.change(ctx, number, "", func(ctx context.Context, tx bun.Tx, now time.Time, cur ticketRow) error {
		if _, err := tx.NewInsert().Model(&ticketEntryRow{TicketNumber: number, CreatedAt: e.At.UTC(), Author: e.Author, Name: e.Name, Text: e.Text}).Exec(ctx); err != nil {
			return err
		}
		q := tx.NewUpdate().Model((*ticketRow)(nil)).Set("last_activity_at = ?", now).Where("number = ?", number)
		if e.Author == ticket.ByOfficer {
			q = q.Set("first_answer_at = COALESCE(first_answer_at, ?)", now)
		}
		if claim != "" {
			q = q.Set("agency = CASE WHEN agency = '' THEN ? ELSE agency END", claim)
		}
		if _, err := s.bump(q, now).Exec(ctx); err != nil {
			return err
		}
		out, err := toCurrentID(ctx, tx, cur, out)
		if err != nil {
			return err
		}
		_, err = enqueue(ctx, tx, now, out)
		return err
	})
}

// Assign implements ticket.Store.
func (s *TicketStore) Assign(ctx context.Context, number int64, assignee int64, name string, agency *string, note ticket.Entry) (ticket.Ticket, error) {
	return s.change(ctx, number, "", func(ctx context.Context, tx bun.Tx, now time.Time, cur ticketRow) error {
		q := tx.NewUpdate().Model((*ticketRow)(nil)).Set("assignee_id = ?", assignee).Set("assignee_name = ?", name).Where("number = ?", number)
		if agency != nil {
			q = q.Set("agency = ?", *agency)
		}
		if _, err := s.bump(q, now).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(&ticketEntryRow{TicketNumber: number, CreatedAt: note.At.UTC(), Author: note.Author, Name: note.Name, Text: note.Text}).Exec(ctx)
		return err
	})
}

// CloseTicket implements ticket.Store.
func (s *TicketStore) CloseTicket(ctx context.Context, number int64, by string, at time.Time, out []notify.Message) (ticket.Ticket, error) {
	return s.change(ctx, number, ticket.Open, func(ctx context.Context, tx bun.Tx, now time.Time, cur ticketRow) error {
		q := tx.NewUpdate().Model((*ticketRow)(nil)).Set("state = ?", ticket.Closed).Set("closed_at = ?", at.UTC()).
			Set("closed_by = ?", by).Set("last_activity_at = ?", at.UTC()).Where("number = ?", number)
		if _, err := s.bump(q, now).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.NewInsert().Model(&ticketEntryRow{TicketNumber: number, CreatedAt: at.UTC(), Author: ticket.BySystem, Name: by, Text: "closed"}).Exec(ctx); err != nil {
			return err
		}
		out, err := toCurrentID(ctx, tx, cur, out)
		if err != nil {
			return err
		}
		_, err = enqueue(ctx, tx, now, out)
		return err
	})
}

// Reopen implements ticket.Store.
func (s *TicketStore) Reopen(ctx context.Context, number int64, note ticket.Entry) (ticket.Ticket, error) {
	t, err := s.change(ctx, number, ticket.Closed, func(ctx context.Context, tx bun.Tx, now time.Time, cur ticketRow) error {
		q := tx.NewUpdate().Model((*ticketRow)(nil)).Set("state = ?", ticket.Open).Set("closed_at = NULL").Set("closed_by = ''").
			Set("last_activity_at = ?", now).Where("number = ?", number)
		if _, err := s.bump(q, now).Exec(ctx); err != nil {
			return err
		}
		_, err := tx.NewInsert().Model(&ticketEntryRow{TicketNumber: number, CreatedAt: note.At.UTC(), Author: note.Author, Name: note.Name, Text: note.Text}).Exec(ctx)
		return err
	})
	if err != nil && isUniqueViolation(err) {
		return ticket.Ticket{}, ticket.ErrConflict // the citizen opened another one since
	}
	return t, err
}

// Rate implements ticket.Store.
func (s *TicketStore) Rate(ctx context.Context, number int64, level int) error {
	now := s.db.utcNow()
	q := s.db.bun.NewUpdate().Model((*ticketRow)(nil)).Set("rating = ?", level).Where("number = ?", number)
	res, err := s.bump(q, now).Exec(ctx)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ticket.ErrNotFound
	}
	return nil
}

// Pause implements ticket.Store; the officer's message itself is in the
// inbound log (the OA's echo), so only the open ticket's times change.
func (s *TicketStore) Pause(ctx context.Context, channel, user string, until time.Time, e ticket.Entry) error {
	now := s.db.utcNow()
	return s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.NewInsert().Model(&humanPauseRow{Channel: channel, UserID: user, PausedUntil: until.UTC()}).
			On("CONFLICT (channel, user_id) DO UPDATE").Set("paused_until = EXCLUDED.paused_until").Exec(ctx); err != nil {
			return err
		}
		q := tx.NewUpdate().Model((*ticketRow)(nil)).Set("first_answer_at = COALESCE(first_answer_at, ?)", e.At.UTC()).
			Set("last_activity_at = ?", e.At.UTC()).Where("channel = ? AND user_id = ? AND state = ?", channel, user, ticket.Open)
		_, err := s.bump(q, now).Exec(ctx)
		return err
	})
}

// Idle implements ticket.Store.
func (s *TicketStore) Idle(ctx context.Context, before time.Time, limit int) ([]ticket.Ticket, error) {
	var rows []ticketRow
	err := s.db.bun.NewSelect().Model(&rows).Where("state = ? AND last_activity_at < ?", ticket.Open, before.UTC()).
		OrderExpr("last_activity_at").Limit(int64(limit)).Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("listing idle tickets: %w", err)
	}
	out := make([]ticket.Ticket, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.ticket())
	}
	return out, nil
}

// Stats implements ticket.Store: tickets opened in [from, to), per agency
// ("" for the unassigned), with agency as a filter when set.
func (s *TicketStore) Stats(ctx context.Context, from, to time.Time, agency string) ([]ticket.AgencyStats, error) {
	var rows []ticketRow
	q := s.db.bun.NewSelect().Model(&rows).Where("opened_at >= ? AND opened_at < ?", from.UTC(), to.UTC())
	if agency != "" {
		q = q.Where("agency IN (?, '')", agency)
	}
	if err := q.Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading ticket measures: %w", err)
	}
	by := map[string]*ticket.AgencyStats{}
	sumFirst, sumClose := map[string]float64{}, map[string]float64{}
	for _, r := range rows {
		a := by[r.Agency]
		if a == nil {
			a = &ticket.AgencyStats{Agency: r.Agency, ByKind: map[string]int{}}
			by[r.Agency] = a
		}
		a.Opened++
		a.ByKind[r.Kind]++
		if r.State == ticket.Open {
			a.Open++
		} else if r.ClosedAt != nil {
			a.Closed++
			sumClose[r.Agency] += r.ClosedAt.Sub(r.OpenedAt).Seconds()
		}
		if r.FirstAnswerAt != nil {
			a.Answered++
			sumFirst[r.Agency] += r.FirstAnswerAt.Sub(r.OpenedAt).Seconds()
		}
		switch r.Rating {
		case 1:
			a.Satisfied++
		case 2:
			a.Neutral++
		case 3:
			a.Unsatisfied++
		}
		if r.Rating > 0 {
			a.Rated++
		}
	}
	out := make([]ticket.AgencyStats, 0, len(by))
	for k, a := range by {
		if a.Answered > 0 {
			a.AvgFirstAnswerS = sumFirst[k] / float64(a.Answered)
		}
		if a.Closed > 0 {
			a.AvgCloseS = sumClose[k] / float64(a.Closed)
		}
		out = append(out, *a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agency < out[j].Agency })
	return out, nil
}

// LastSeen implements ticket.Store: the OA's echoes (admin replies) do
// not count as the citizen writing.
func (s *TicketStore) LastSeen(ctx context.Context, channel, user string) (time.Time, error) {
	var last nullTime
	err := s.db.bun.NewSelect().Table("inbound").ColumnExpr("MAX(received_at)").
		Where("channel = ? AND sender = ?", channel, user).
		Where("(payload IS NULL OR payload NOT LIKE ?)", `%"event":"`+message.EventAdminReply+`"%`).Scan(ctx, &last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("reading when %s/%s last wrote: %w", channel, user, err)
	}
	return last.t, nil
}

// LinkedPhone implements ticket.Store (the phone a Zalo user shared).
func (s *TicketStore) LinkedPhone(ctx context.Context, channel, user string) (string, error) {
	return s.db.Notices(nil, nil).LinkedPhone(ctx, channel, user)
}

// citizenID is an id the citizen of a ticket wrote under: the current one
// (until zero), or one they had until their session was rotated (what was
// sent under it later is someone else's: whoever still holds the old id).
type citizenID struct {
	id    string
	until time.Time
}

type citizenIDs []citizenID

// readCitizenIDs reads the ids of ticket number's citizen, user first.
func readCitizenIDs(ctx context.Context, idb bun.IDB, number int64, user string) (citizenIDs, error) {
	var prev []ticketEntryRow
	if err := idb.NewSelect().Model(&prev).Column("text", "created_at").
		Where("ticket_number = ? AND author = ?", number, previousIDAuthor).Scan(ctx); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading the previous ids of ticket %d: %w", number, err)
	}
	ids := citizenIDs{{id: user}}
	for _, p := range prev {
		ids = append(ids, citizenID{id: p.Text, until: p.CreatedAt})
	}
	return ids, nil
}

// from limits a select of inbound messages to the citizen's.
func (ids citizenIDs) from(q *bun.SelectQuery) *bun.SelectQuery {
	if len(ids) == 1 {
		return q.Where("sender = ?", ids[0].id)
	}
	return q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
		for _, c := range ids {
			if c.until.IsZero() {
				q = q.WhereOr("sender = ?", c.id)
			} else {
				q = q.WhereOr("(sender = ? AND received_at <= ?)", c.id, c.until.UTC())
			}
		}
		return q
	})
}

// previous reports whether id is one the citizen had before.
func (ids citizenIDs) previous(id string) bool {
	for _, c := range ids {
		if c.id == id && !c.until.IsZero() {
			return true
		}
	}
	return false
}

// toCurrentID addresses to the citizen's current id the messages of out
// that the desk planned for an id the citizen had before a rotation: it
// read the ticket before cur was locked, and the session may have rotated
// in between; the old id must get nothing.
func toCurrentID(ctx context.Context, tx bun.Tx, cur ticketRow, out []notify.Message) ([]notify.Message, error) {
	to := cur.ticket().ReplyTo()
	stale := false
	for _, m := range out {
		stale = stale || m.Recipient != to
	}
	if !stale {
		return out, nil
	}
	ids, err := readCitizenIDs(ctx, tx, cur.Number, cur.UserID)
	if err != nil {
		return nil, err
	}
	out = append([]notify.Message(nil), out...)
	for i, m := range out {
		if ids.previous(m.Recipient) {
			out[i].Recipient = to
		}
	}
	return out, nil
}

// RotateSession implements ticket.Store: the session's rotation
// (rotateSession, as sessionStore.RotateID does it) and the hand-off's move
// in one transaction, so there is no moment, and no crash, after which the
// session answers to the new id while its ticket, pause or an officer's
// undelivered answer still wait under the old one.
func (s *TicketStore) RotateSession(ctx context.Context, channel, id string, now time.Time, note ticket.Entry) (string, string, int, error) {
	var newID, tkt string
	moved := 0
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if newID, tkt, err = s.db.rotateSession(ctx, tx, channel, id, now); err != nil {
			return err // sql.ErrNoRows: no such session, nothing rotates, nothing moves
		}
		var rows []ticketRow
		q := tx.NewUpdate().Model((*ticketRow)(nil)).Set("user_id = ?", newID).
			Where("channel = ? AND user_id = ?", channel, id).Returning("number, state")
		if err := s.bump(q, s.db.utcNow()).Scan(ctx, &rows); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		moved = len(rows)
		// The inbound log's clock: what the old id sends after this is not
		// the citizen's.
		at := s.db.utcNow()
		for _, r := range rows {
			entries := []ticketEntryRow{{TicketNumber: r.Number, CreatedAt: at, Author: previousIDAuthor, Text: id}}
			if r.State == ticket.Open && note.Text != "" {
				entries = append(entries, ticketEntryRow{TicketNumber: r.Number, CreatedAt: note.At.UTC(), Author: note.Author, Name: note.Name, Text: note.Text})
			}
			if _, err := tx.NewInsert().Model(&entries).Exec(ctx); err != nil {
				return err
			}
			// The tickets' answers and closings not yet delivered: the page
			// of the new id gets them, a page still open under the old id
			// does not (messages being sent now go to the new id if retried).
			if _, err := tx.NewUpdate().Model((*outboxRow)(nil)).Set("recipient = ?", newID).
				Where("recipient = ? AND state IN (?) AND dedupe_key LIKE ?", id, bun.List([]string{notify.Pending, notify.Sending}),
					"ticket|"+strconv.FormatInt(r.Number, 10)+"|%").Exec(ctx); err != nil {
				return err
			}
		}
		_, err = tx.NewUpdate().Model((*humanPauseRow)(nil)).Set("user_id = ?", newID).
			Where("channel = ? AND user_id = ?", channel, id).Exec(ctx)
		return err
	})
	if err != nil {
		return "", "", 0, fmt.Errorf("rotating a %s session: %w", channel, err)
	}
	return newID, tkt, moved, nil
}
