package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/inbox"
	"github.com/dvcbot/dvcbot/core/message"
)

type inboundRow struct {
	bun.BaseModel `bun:"table:inbound_messages,alias:im"`

	Channel     string     `bun:"channel,pk"`
	MessageID   string     `bun:"message_id,pk"`
	UserID      string     `bun:"user_id"`
	Text        string     `bun:"text"`
	Payload     *string    `bun:"payload"`
	State       string     `bun:"state"`
	Reply       *string    `bun:"reply"`
	Attempts    int        `bun:"attempts"`
	ReceivedAt  time.Time  `bun:"received_at"`
	ProcessedAt *time.Time `bun:"processed_at"`
}

const (
	inboundProcessing = "processing"
	inboundDone       = "done"
)

// Inbox returns the inbound-message store.
func (db *DB) Inbox() inbox.Store { return inboxStore{db} }

type inboxStore struct{ db *DB }

// inboundPayload keeps what Pending needs to rebuild the message.
type inboundPayload struct {
	Phone  string          `json:"phone,omitempty"`
	Choice bool            `json:"choice,omitempty"`
	Time   time.Time       `json:"time"`
	Raw    json.RawMessage `json:"raw,omitempty"`
}

func (s inboxStore) ClaimInbound(ctx context.Context, in message.Inbound, payload []byte, staleAfter time.Duration) (inbox.Claim, error) {
	now := s.db.utcNow()
	p := inboundPayload{Phone: in.Phone, Choice: in.Choice, Time: in.Time.UTC()}
	if json.Valid(payload) {
		p.Raw = payload
	}
	pb, _ := json.Marshal(p)
	ps := string(pb)
	row := inboundRow{Channel: in.Channel, MessageID: in.MessageID, UserID: in.UserID, Text: in.Text, Payload: &ps,
		State: inboundProcessing, Attempts: 1, ReceivedAt: now}
	res, err := s.db.bun.NewInsert().Model(&row).On("CONFLICT (channel, message_id) DO NOTHING").Exec(ctx)
	if err != nil {
		return inbox.Claim{}, fmt.Errorf("recording inbound %s/%s: %w", in.Channel, in.MessageID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return inbox.Claim{New: true}, nil
	}
	// Seen before: take a stale attempt over, atomically, or report.
	res, err = s.db.bun.NewUpdate().Model((*inboundRow)(nil)).
		Set("attempts = attempts + 1").Set("received_at = ?", now).
		Where("channel = ? AND message_id = ? AND state = ? AND received_at < ?", in.Channel, in.MessageID, inboundProcessing, now.Add(-staleAfter)).
		Exec(ctx)
	if err != nil {
		return inbox.Claim{}, fmt.Errorf("taking over inbound %s/%s: %w", in.Channel, in.MessageID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return inbox.Claim{New: true}, nil
	}
	var cur inboundRow
	err = s.db.bun.NewSelect().Model(&cur).Where("channel = ? AND message_id = ?", in.Channel, in.MessageID).Scan(ctx)
	if err != nil {
		return inbox.Claim{}, fmt.Errorf("reading inbound %s/%s: %w", in.Channel, in.MessageID, err)
	}
	if cur.State == inboundDone && cur.Reply != nil {
		var r message.Reply
		if err := json.Unmarshal([]byte(*cur.Reply), &r); err != nil {
			return inbox.Claim{}, fmt.Errorf("stored reply of %s/%s: %w", in.Channel, in.MessageID, err)
		}
		return inbox.Claim{Reply: &r}, nil
	}
	return inbox.Claim{InFlight: true}, nil
}

func (s inboxStore) CompleteInbound(ctx context.Context, channel, id string, reply message.Reply) error {
	b, err := json.Marshal(reply)
	if err != nil {
		return err
	}
	now := s.db.utcNow()
	_, err = s.db.bun.NewUpdate().Model((*inboundRow)(nil)).Set("state = ?", inboundDone).Set("reply = ?", string(b)).
		Set("processed_at = ?", now).Where("channel = ? AND message_id = ?", channel, id).Exec(ctx)
	if err != nil {
		return fmt.Errorf("completing inbound %s/%s: %w", channel, id, err)
	}
	return nil
}

func (s inboxStore) PendingInbound(ctx context.Context, channel string, olderThan time.Time, limit int) ([]inbox.Pending, error) {
	var rows []inboundRow
	err := s.db.bun.NewSelect().Model(&rows).Where("channel = ? AND state = ? AND received_at < ?", channel, inboundProcessing, olderThan.UTC()).
		OrderExpr("received_at").Limit(int64(limit)).Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("listing pending inbound on %s: %w", channel, err)
	}
	out := make([]inbox.Pending, 0, len(rows))
	for _, r := range rows {
		var p inboundPayload
		if r.Payload != nil {
			_ = json.Unmarshal([]byte(*r.Payload), &p)
		}
		out = append(out, inbox.Pending{
			Inbound: message.Inbound{Channel: r.Channel, UserID: r.UserID, Text: r.Text, MessageID: r.MessageID,
				Time: p.Time, Phone: p.Phone, Choice: p.Choice},
			Payload: p.Raw,
		})
	}
	return out, nil
}
