// Package lookup gives every dossier a public look-up link and its QR code
// (seed 002 Điều 11.1.d), the page behind the link, and a read API for other
// public-service apps (Điều 11.1.đ). Both show the tier-0 status of
// domain.md §6.3 only: no applicant name, phone, note or officer.
//
// A link is /tra-cuu/<token>, where the token is a truncated HMAC-SHA256 of
// the dossier code (160 bits, lower-case base32): it does not contain the
// code, and without the secret no code can be turned into a link, nor a
// link guessed. Tokens are stored (token → code), so a link keeps resolving
// after the secret changes.
package lookup

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
)

// ErrNotFound is returned by a Store for a token it does not know.
var ErrNotFound = errors.New("look-up token not found")

// TokenBytes is how much of the HMAC a token keeps: 160 bits.
const TokenBytes = 20

// TokenLen is a token's length in characters (base32 without padding).
const TokenLen = TokenBytes * 8 / 5

// SecretBytes is the size of a secret the store generates.
const SecretBytes = 32

// Store keeps the link tokens and the generated secret.
type Store interface {
	// SaveLink records that token resolves to code. Saving a pair again
	// changes nothing; a token already taken by another code is an error.
	SaveLink(ctx context.Context, token, code string) error
	// LinkCode returns the code of a token, or ErrNotFound.
	LinkCode(ctx context.Context, token string) (string, error)
	// LinkSecret returns the secret stored in the database, storing fresh
	// first when there is none (the first caller of all replicas wins).
	LinkSecret(ctx context.Context, fresh []byte) ([]byte, error)
}

// Dossiers reads a dossier's current state (dossier.Store does).
type Dossiers interface {
	Dossier(ctx context.Context, code string) (dossier.Dossier, error)
}

// Keys checks an API key of the read API. The console's API keys
// (`dvcbot apikey create`) implement it.
type Keys interface {
	Authenticate(ctx context.Context, key string) (ok bool, err error)
}

// Config is what a Service is built from.
type Config struct {
	// PublicURL is the service's address as citizens reach it, without a
	// trailing slash; links are PublicURL/tra-cuu/<token>.
	PublicURL string
	// Secret keys the token HMAC. Empty: a random secret generated once and
	// kept in the database (Store.LinkSecret).
	Secret []byte
	// ZaloURL and TelegramURL are where the page's "continue on" buttons
	// go (the OA's and the bot's links); empty hides the button.
	ZaloURL, TelegramURL string
}

// Linker derives and stores look-up links. It is safe for concurrent use.
type Linker struct {
	links Store
	base  string

	mu     sync.Mutex
	secret []byte
}

// NewLinker makes links under publicURL keyed by secret (empty: the
// database's generated secret).
func NewLinker(links Store, publicURL string, secret []byte) *Linker {
	l := &Linker{links: links, base: strings.TrimRight(publicURL, "/")}
	if len(secret) > 0 {
		l.secret = append([]byte(nil), secret...)
	}
	return l
}

// Service serves the look-up page, its QR code and the read API.
type Service struct {
	*Linker
	dossiers Dossiers
	cfg      Config
	keys     Keys
	tr       *i18n.Catalog
	now      func() time.Time
	log      *slog.Logger
}

// Option configures a Service.
type Option func(*Service)

// WithKeys enables the read API with these keys; without them it answers
// 503.
func WithKeys(k Keys) Option { return func(s *Service) { s.keys = k } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithCatalog sets the message catalogue the status wording comes from.
func WithCatalog(tr *i18n.Catalog) Option { return func(s *Service) { s.tr = tr } }

// New builds a Service.
func New(links Store, dossiers Dossiers, cfg Config, opts ...Option) (*Service, error) {
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	s := &Service{Linker: NewLinker(links, cfg.PublicURL, cfg.Secret), dossiers: dossiers, cfg: cfg,
		now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(s)
	}
	if s.tr == nil {
		tr, err := i18n.New()
		if err != nil {
			return nil, err
		}
		s.tr = tr
	}
	return s, nil
}

// Token is the look-up token of code under secret.
func Token(secret []byte, code string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("dvcbot look-up link v1\x00"))
	m.Write([]byte(code))
	return encoding.EncodeToString(m.Sum(nil)[:TokenBytes])
}

var encoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// validToken reports whether t has a token's shape, so that anything else
// is answered without a database round trip.
func validToken(t string) bool {
	if len(t) != TokenLen {
		return false
	}
	for _, c := range t {
		if (c < 'a' || c > 'z') && (c < '2' || c > '7') {
			return false
		}
	}
	return true
}

// key returns the HMAC secret: the configured one, else the database's
// (generated on first use), read once.
func (l *Linker) key(ctx context.Context) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.secret != nil {
		return l.secret, nil
	}
	fresh := make([]byte, SecretBytes)
	if _, err := rand.Read(fresh); err != nil {
		return nil, err
	}
	secret, err := l.links.LinkSecret(ctx, fresh)
	if err != nil {
		return nil, fmt.Errorf("reading the look-up link secret: %w", err)
	}
	if len(secret) < 16 {
		return nil, fmt.Errorf("the stored look-up link secret is too short (%d bytes)", len(secret))
	}
	l.secret = secret
	return secret, nil
}

// Link is a dossier's public look-up link.
type Link struct {
	Code  string
	Token string
	URL   string // PublicURL/tra-cuu/<token>
	QRURL string // URL + "/qr.png"
}

// Link derives the dossier's token and stores it so the link resolves.
func (l *Linker) Link(ctx context.Context, code string) (Link, error) {
	secret, err := l.key(ctx)
	if err != nil {
		return Link{}, err
	}
	token := Token(secret, code)
	if err := l.links.SaveLink(ctx, token, code); err != nil {
		return Link{}, fmt.Errorf("storing the look-up link of %s: %w", code, err)
	}
	u := l.base + "/tra-cuu/" + token
	return Link{Code: code, Token: token, URL: u, QRURL: u + "/qr.png"}, nil
}

// LookupURL is the dossier's look-up URL (the ingestion API's lookup_url).
func (l *Linker) LookupURL(ctx context.Context, code string) (string, error) {
	link, err := l.Link(ctx, code)
	return link.URL, err
}

// resolve returns the dossier of a token; an unknown or malformed token, or
// a dossier that is gone, is dossier.ErrNotFound.
func (s *Service) resolve(ctx context.Context, token string) (dossier.Dossier, error) {
	token = strings.ToLower(token)
	if !validToken(token) {
		return dossier.Dossier{}, dossier.ErrNotFound
	}
	code, err := s.links.LinkCode(ctx, token)
	if errors.Is(err, ErrNotFound) {
		return dossier.Dossier{}, dossier.ErrNotFound
	}
	if err != nil {
		return dossier.Dossier{}, err
	}
	return s.dossiers.Dossier(ctx, code)
}
