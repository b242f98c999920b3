package zalo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/credential"
)

// CredentialName is the stored credential's name.
const CredentialName = "zalo_oa"

// RefreshAhead: the access token (25 h) is renewed when less than this remains.
const RefreshAhead = 5 * time.Hour

// ErrNoRefreshToken means an OA admin must seed one (dvcbot zalo set-token).
var ErrNoRefreshToken = errors.New("no Zalo refresh token stored: run `dvcbot zalo set-token REFRESH_TOKEN`")

// Tokens hands out the OA access token and rotates the pair through the
// OAuth endpoint. The refresh token is single-use, so the new pair is
// committed under a lock before anyone uses it, and only one replica
// refreshes at a time; the others re-read what it stored.
type Tokens struct {
	store     credential.Store
	oauthURL  string
	appID     string
	appSecret string
	http      *http.Client
	now       func() time.Time
	log       *slog.Logger
	failures  prometheus.Counter
	refreshes prometheus.Counter

	mu  sync.Mutex
	cur credential.Credential
}

// NewTokens returns the token manager. oauthBase is e.g. https://oauth.zaloapp.com.
func NewTokens(store credential.Store, oauthBase, appID, appSecret string, log *slog.Logger) *Tokens {
	return &Tokens{store: store, oauthURL: strings.TrimRight(oauthBase, "/") + "/v4/oa/access_token", appID: appID,
		appSecret: appSecret, http: &http.Client{Timeout: 30 * time.Second}, now: time.Now, log: log,
		failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "dvcbot_zalo_token_refresh_failures_total",
			Help: "Failed Zalo OA token refreshes (a human may need to re-consent)."}),
		refreshes: prometheus.NewCounter(prometheus.CounterOpts{Name: "dvcbot_zalo_token_refreshes_total",
			Help: "Zalo OA token refreshes this process made."}),
	}
}

// Register adds the token metrics to reg.
func (t *Tokens) Register(reg prometheus.Registerer) { reg.MustRegister(t.failures, t.refreshes) }

// Access returns a usable access token, refreshing it first when it is
// missing or expires within RefreshAhead.
func (t *Tokens) Access(ctx context.Context) (string, error) {
	t.mu.Lock()
	cur := t.cur
	t.mu.Unlock()
	if cur.AccessToken == "" || t.now().Add(RefreshAhead).After(cur.ExpiresAt) {
		stored, found, err := t.store.Credential(ctx, CredentialName)
		if err != nil {
			return "", err
		}
		if !found {
			return "", ErrNoRefreshToken
		}
		cur = stored
		t.remember(cur)
	}
	if cur.AccessToken != "" && t.now().Add(RefreshAhead).Before(cur.ExpiresAt) {
		return cur.AccessToken, nil
	}
	return t.Refresh(ctx, cur.AccessToken)
}

func (t *Tokens) remember(c credential.Credential) {
	t.mu.Lock()
	if c.Version >= t.cur.Version {
		t.cur = c
	}
	t.mu.Unlock()
}

// Refresh renews the pair because stale (the token a call just had refused,
// or an expiring one) no longer serves. If another replica already rotated
// it, its pair is used and no OAuth call is made.
func (t *Tokens) Refresh(ctx context.Context, stale string) (string, error) {
	c, err := t.store.UpdateCredential(ctx, CredentialName, func(cur credential.Credential, found bool) (credential.Credential, bool, error) {
		if !found || cur.RefreshToken == "" {
			return cur, false, ErrNoRefreshToken
		}
		fresh := cur.AccessToken != "" && t.now().Add(RefreshAhead).Before(cur.ExpiresAt)
		if cur.AccessToken != stale && fresh {
			return cur, false, nil // rotated meanwhile by someone else
		}
		next, err := t.exchange(ctx, cur.RefreshToken)
		if err != nil {
			return cur, false, err
		}
		return next, true, nil
	})
	if err != nil {
		t.failures.Inc()
		t.log.Error("zalo token refresh failed; replies wait until it works (a burnt refresh token needs an OA admin: dvcbot zalo set-token)", "error", err)
		return "", err
	}
	t.remember(c)
	return c.AccessToken, nil
}

// tokenResponse is the OAuth answer; expires_in comes as a string or a number.
type tokenResponse struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	ExpiresIn    json.RawMessage `json:"expires_in"`
	Error        json.RawMessage `json:"error"`
	ErrorName    string          `json:"error_name"`
	ErrorReason  string          `json:"error_reason"`
}

// exchange spends a refresh token. A timeout is retried once with the same
// token: it works if Zalo never saw the first call and fails if it did.
func (t *Tokens) exchange(ctx context.Context, refresh string) (credential.Credential, error) {
	var lastErr error
	for attempt := 0; attempt < 2; attempt++ {
		c, retry, err := t.exchangeOnce(ctx, refresh)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if !retry {
			break
		}
	}
	return credential.Credential{}, lastErr
}

func (t *Tokens) exchangeOnce(ctx context.Context, refresh string) (credential.Credential, bool, error) {
	form := url.Values{"refresh_token": {refresh}, "app_id": {t.appID}, "grant_type": {"refresh_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.oauthURL, strings.NewReader(form.Encode()))
	if err != nil {
		return credential.Credential{}, false, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("secret_key", t.appSecret)
	resp, err := t.http.Do(req)
	if err != nil {
		var ne interface{ Timeout() bool }
		return credential.Credential{}, errors.As(err, &ne) && ne.Timeout(), fmt.Errorf("zalo oauth: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || resp.StatusCode != http.StatusOK || tr.AccessToken == "" || tr.RefreshToken == "" {
		return credential.Credential{}, resp.StatusCode >= 500, fmt.Errorf("zalo oauth refused the refresh token: HTTP %d, error %s %s %s",
			resp.StatusCode, tr.Error, tr.ErrorName, tr.ErrorReason)
	}
	secs, err := strconv.Atoi(strings.Trim(string(tr.ExpiresIn), `"`))
	if err != nil || secs <= 0 {
		secs = 90000 // the documented 25 h
	}
	t.refreshes.Inc()
	t.log.Info("zalo token pair rotated", "expires_in_s", secs)
	return credential.Credential{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken,
		ExpiresAt: t.now().Add(time.Duration(secs) * time.Second).UTC()}, false, nil
}

// SetRefreshToken seeds (or replaces) the refresh token an OA admin minted;
// the next call refreshes.
func SetRefreshToken(ctx context.Context, store credential.Store, refresh string) error {
	_, err := store.UpdateCredential(ctx, CredentialName, func(credential.Credential, bool) (credential.Credential, bool, error) {
		return credential.Credential{RefreshToken: refresh, ExpiresAt: time.Unix(0, 0).UTC()}, true, nil
	})
	return err
}

// KeepFresh refreshes ahead of expiry every minute, so replies rarely wait.
func (t *Tokens) KeepFresh(ctx context.Context) error {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			if _, err := t.Access(ctx); err != nil && !errors.Is(err, ErrNoRefreshToken) && ctx.Err() == nil {
				t.log.Warn("zalo token check failed", "error", err)
			}
		}
	}
}
