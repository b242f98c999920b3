package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/dvcbot/dvcbot/core/console"
)

type accountRow struct {
	bun.BaseModel `bun:"table:console_accounts,alias:ca"`

	ID            int64      `bun:"id,pk,autoincrement"`
	Email         string     `bun:"email"`
	Name          string     `bun:"name"`
	Role          string     `bun:"role"`
	Agency        string     `bun:"agency"`
	PasswordHash  string     `bun:"password_hash"`
	ClosedAt      *time.Time `bun:"closed_at"`
	FailedSignIns int        `bun:"failed_signins"`
	LockedUntil   *time.Time `bun:"locked_until"`
	LastSignInAt  *time.Time `bun:"last_signin_at"`
	CreatedAt     time.Time  `bun:"created_at"`
	UpdatedAt     time.Time  `bun:"updated_at"`
}

func (r accountRow) account() console.Account {
	return console.Account{ID: r.ID, Email: r.Email, Name: r.Name, Role: console.Role(r.Role), Agency: r.Agency,
		Closed: r.ClosedAt != nil, LockedUntil: utcPtr(r.LockedUntil), LastSignIn: utcPtr(r.LastSignInAt), CreatedAt: r.CreatedAt.UTC()}
}

type consoleSessionRow struct {
	bun.BaseModel `bun:"table:console_sessions,alias:cs"`

	TokenHash string    `bun:"token_hash,pk"`
	AccountID int64     `bun:"account_id"`
	IP        string    `bun:"ip"`
	CreatedAt time.Time `bun:"created_at"`
	ExpiresAt time.Time `bun:"expires_at"`
}

type apiKeyRow struct {
	bun.BaseModel `bun:"table:console_api_keys,alias:ck"`

	ID         int64      `bun:"id,pk,autoincrement"`
	Name       string     `bun:"name"`
	Role       string     `bun:"role"`
	Agency     string     `bun:"agency"`
	Prefix     string     `bun:"prefix"`
	KeyHash    string     `bun:"key_hash"`
	CreatedAt  time.Time  `bun:"created_at"`
	RevokedAt  *time.Time `bun:"revoked_at"`
	LastUsedAt *time.Time `bun:"last_used_at"`
}

func (r apiKeyRow) key() console.APIKey {
	return console.APIKey{ID: r.ID, Name: r.Name, Role: console.Role(r.Role), Agency: r.Agency, Prefix: r.Prefix,
		CreatedAt: r.CreatedAt.UTC(), RevokedAt: utcPtr(r.RevokedAt), LastUsed: utcPtr(r.LastUsedAt)}
}

type signInRow struct {
	bun.BaseModel `bun:"table:console_signins,alias:si"`

	ID        int64     `bun:"id,pk,autoincrement"`
	IP        string    `bun:"ip"`
	OK        bool      `bun:"ok"`
	CreatedAt time.Time `bun:"created_at"`
}

// Console returns the console's repository: accounts, sessions, API keys,
// the audit log and what the operator pages read.
func (db *DB) Console() *ConsoleStore { return &ConsoleStore{db: db} }

// ConsoleStore implements console.Store, console.Ops, console.TunerStore
// and console.LookupAudit.
type ConsoleStore struct{ db *DB }

var (
	_ console.Store       = (*ConsoleStore)(nil)
	_ console.Ops         = (*ConsoleStore)(nil)
	_ console.TunerStore  = (*ConsoleStore)(nil)
	_ console.LookupAudit = (*ConsoleStore)(nil)
)

func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	m := err.Error()
	return strings.Contains(m, "UNIQUE constraint") || strings.Contains(m, "duplicate key") || strings.Contains(m, "SQLSTATE 23505")
}

func (s *ConsoleStore) CreateAccount(ctx context.Context, a console.Account, hash string) (console.Account, error) {
	now := s.db.utcNow()
	row := accountRow{Email: a.Email, Name: a.Name, Role: string(a.Role), Agency: a.Agency, PasswordHash: hash, CreatedAt: now, UpdatedAt: now}
	if a.Closed {
		row.ClosedAt = &now
	}
	if _, err := s.db.bun.NewInsert().Model(&row).Exec(ctx); err != nil {
		if isUniqueViolation(err) {
			return console.Account{}, fmt.Errorf("account %s: %w", a.Email, console.ErrExists)
		}
		return console.Account{}, fmt.Errorf("creating account %s: %w", a.Email, err)
	}
	return row.account(), nil
}

func (s *ConsoleStore) UpdateAccount(ctx context.Context, a console.Account, hash string) (console.Account, error) {
	var out console.Account
	err := s.db.bun.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row accountRow
		if err := tx.NewSelect().Model(&row).Where("id = ?", a.ID).Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return console.ErrNotFound
			}
			return err
		}
		now := s.db.utcNow()
		row.Name, row.Role, row.Agency, row.UpdatedAt = a.Name, string(a.Role), a.Agency, now
		switch {
		case a.Closed && row.ClosedAt == nil:
			row.ClosedAt = &now
		case !a.Closed && row.ClosedAt != nil:
			row.ClosedAt, row.FailedSignIns, row.LockedUntil = nil, 0, nil
		}
		if hash != "" {
			row.PasswordHash, row.FailedSignIns, row.LockedUntil = hash, 0, nil
		}
		if _, err := tx.NewUpdate().Model(&row).WherePK().Exec(ctx); err != nil {
			return err
		}
		if a.Closed || hash != "" {
			// A closed account or a new password ends every session.
			if _, err := tx.NewDelete().Model((*consoleSessionRow)(nil)).Where("account_id = ?", a.ID).Exec(ctx); err != nil {
				return err
			}
		}
		out = row.account()
		return nil
	})
	if err != nil && !errors.Is(err, console.ErrNotFound) {
		err = fmt.Errorf("updating account %d: %w", a.ID, err)
	}
	return out, err
}

func (s *ConsoleStore) Account(ctx context.Context, id int64) (console.Account, error) {
	var row accountRow
	if err := s.db.bun.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return console.Account{}, console.ErrNotFound
		}
		return console.Account{}, fmt.Errorf("reading account %d: %w", id, err)
	}
	return row.account(), nil
}

func (s *ConsoleStore) AccountByEmail(ctx context.Context, email string) (console.Account, string, error) {
	var row accountRow
	if err := s.db.bun.NewSelect().Model(&row).Where("email = ?", strings.ToLower(email)).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return console.Account{}, "", console.ErrNotFound
		}
		return console.Account{}, "", fmt.Errorf("reading account %s: %w", email, err)
	}
	return row.account(), row.PasswordHash, nil
}

func (s *ConsoleStore) Accounts(ctx context.Context) ([]console.Account, error) {
	var rows []accountRow
	if err := s.db.bun.NewSelect().Model(&rows).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	out := make([]console.Account, len(rows))
	for i, r := range rows {
		out[i] = r.account()
	}
	return out, nil
}

func (s *ConsoleStore) CountAccounts(ctx context.Context) (int, error) {
	n, err := s.db.bun.NewSelect().Model((*accountRow)(nil)).Count(ctx)
	return int(n), err
}

func (s *ConsoleStore) SignInFailed(ctx context.Context, id int64, maxFailures int, lockFor time.Duration) (bool, error) {
	now := s.db.utcNow()
	var rows []accountRow
	err := s.db.bun.NewRaw(`UPDATE console_accounts SET failed_signins = failed_signins + 1,
		locked_until = CASE WHEN failed_signins + 1 >= ? THEN ? ELSE locked_until END
		WHERE id = ? RETURNING *`, maxFailures, now.Add(lockFor), id).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, fmt.Errorf("counting a failed sign-in: %w", err)
	}
	if len(rows) == 0 {
		return false, nil
	}
	if rows[0].FailedSignIns >= maxFailures {
		// The lock starts the count again: the next failures lock anew.
		_, err = s.db.bun.NewUpdate().Model((*accountRow)(nil)).Set("failed_signins = 0").Where("id = ?", id).Exec(ctx)
		return true, err
	}
	return false, nil
}

func (s *ConsoleStore) SignInSucceeded(ctx context.Context, id int64) error {
	_, err := s.db.bun.NewUpdate().Model((*accountRow)(nil)).Set("failed_signins = 0").Set("locked_until = NULL").
		Set("last_signin_at = ?", s.db.utcNow()).Where("id = ?", id).Exec(ctx)
	return err
}

func (s *ConsoleStore) CreateSession(ctx context.Context, tokenHash string, accountID int64, expires time.Time, ip string) error {
	row := consoleSessionRow{TokenHash: tokenHash, AccountID: accountID, IP: ip, CreatedAt: s.db.utcNow(), ExpiresAt: expires.UTC()}
	if _, err := s.db.bun.NewInsert().Model(&row).Exec(ctx); err != nil {
		return fmt.Errorf("creating a console session: %w", err)
	}
	return nil
}

func (s *ConsoleStore) Session(ctx context.Context, tokenHash string) (console.Account, error) {
	var row accountRow
	err := s.db.bun.NewSelect().Model(&row).
		Join("JOIN console_sessions AS cs ON cs.account_id = ca.id").
		Where("cs.token_hash = ?", tokenHash).Where("cs.expires_at > ?", s.db.utcNow()).Where("ca.closed_at IS NULL").
		Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return console.Account{}, console.ErrNotFound
	}
	if err != nil {
		return console.Account{}, fmt.Errorf("reading a console session: %w", err)
	}
	return row.account(), nil
}

func (s *ConsoleStore) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := s.db.bun.NewDelete().Model((*consoleSessionRow)(nil)).Where("token_hash = ?", tokenHash).Exec(ctx)
	return err
}

func (s *ConsoleStore) CreateAPIKey(ctx context.Context, k console.APIKey, keyHash string) (console.APIKey, error) {
	row := apiKeyRow{Name: k.Name, Role: string(k.Role), Agency: k.Agency, Prefix: k.Prefix, KeyHash: keyHash, CreatedAt: s.db.utcNow()}
	if _, err := s.db.bun.NewInsert().Model(&row).Exec(ctx); err != nil {
		return console.APIKey{}, fmt.Errorf("creating API key %s: %w", k.Name, err)
	}
	return row.key(), nil
}

func (s *ConsoleStore) APIKeyByHash(ctx context.Context, keyHash string) (console.APIKey, error) {
	var rows []apiKeyRow
	err := s.db.bun.NewRaw(`UPDATE console_api_keys SET last_used_at = ? WHERE key_hash = ? AND revoked_at IS NULL RETURNING *`,
		s.db.utcNow(), keyHash).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return console.APIKey{}, fmt.Errorf("reading an API key: %w", err)
	}
	if len(rows) == 0 {
		return console.APIKey{}, console.ErrNotFound
	}
	return rows[0].key(), nil
}

func (s *ConsoleStore) APIKeys(ctx context.Context) ([]console.APIKey, error) {
	var rows []apiKeyRow
	if err := s.db.bun.NewSelect().Model(&rows).OrderExpr("id").Scan(ctx); err != nil {
		return nil, fmt.Errorf("listing API keys: %w", err)
	}
	out := make([]console.APIKey, len(rows))
	for i, r := range rows {
		out[i] = r.key()
	}
	return out, nil
}

func (s *ConsoleStore) RevokeAPIKey(ctx context.Context, id int64) (console.APIKey, error) {
	var rows []apiKeyRow
	err := s.db.bun.NewRaw(`UPDATE console_api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING *`,
		s.db.utcNow(), id).Scan(ctx, &rows)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return console.APIKey{}, fmt.Errorf("revoking API key %d: %w", id, err)
	}
	if len(rows) == 0 {
		return console.APIKey{}, console.ErrNotFound
	}
	return rows[0].key(), nil
}

func (s *ConsoleStore) RecordSignIn(ctx context.Context, ip string, ok bool) error {
	_, err := s.db.bun.NewInsert().Model(&signInRow{IP: ip, OK: ok, CreatedAt: s.db.utcNow()}).Exec(ctx)
	return err
}

func (s *ConsoleStore) FailedSignIns(ctx context.Context, ip string, since time.Time) (int, error) {
	n, err := s.db.bun.NewSelect().Model((*signInRow)(nil)).Where("ip = ? AND ok = ? AND created_at > ?", ip, false, since.UTC()).Count(ctx)
	return int(n), err
}
