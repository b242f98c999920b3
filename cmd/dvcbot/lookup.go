package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/console"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/lookup"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
)

// lookupConfig is the look-up links' settings (core/lookup).
type lookupConfig struct {
	Secret      string
	ZaloURL     string
	TelegramURL string
}

// lookupSettings are the look-up links' settings.
func lookupSettings(c *Config) []config.Setting {
	return []config.Setting{
		config.New("DVCBOT_LINK_SECRET", "link-secret", "",
			"HMAC key of the dossier look-up links /tra-cuu/<token> and their QR codes; empty: a random key generated on first start and kept in the database (links stay valid while either is kept)",
			config.Secret(&c.Lookup.Secret, 16)),
		config.New("DVCBOT_LINK_ZALO_URL", "link-zalo-url", "",
			"where the look-up page's \"Tiếp tục trên Zalo\" button goes, e.g. https://zalo.me/<OA id>; empty hides it",
			config.HTTPURL(&c.Lookup.ZaloURL, true)),
		config.New("DVCBOT_LINK_TELEGRAM_URL", "link-telegram-url", "",
			"where the look-up page's \"Tiếp tục trên Telegram\" button goes, e.g. https://t.me/<bot username>; empty hides it",
			config.HTTPURL(&c.Lookup.TelegramURL, true)),
	}
}

// lookupLinker makes the lookup_url of POST /api/v1/dossiers' results.
func (a *app) lookupLinker() *lookup.Linker {
	return lookup.NewLinker(a.db.Lookup(), a.cfg.publicURL(), []byte(a.cfg.Lookup.Secret))
}

// wireLookup serves the look-up page, its QR code and the read API
// GET /api/v1/dossiers/{code}, whose callers need a console API key.
func (a *app) wireLookup() error {
	if a.cfg.Lookup.Secret == "" {
		a.log.Info("DVCBOT_LINK_SECRET is not set: look-up links are keyed by a random secret kept in the database")
	}
	svc, err := newLookupService(a.cfg, a.db, lookup.WithLogger(a.log), lookup.WithKeys(consoleKeys{a.db.Console()}))
	if err != nil {
		return err
	}
	svc.Register(a.mux)
	return nil
}

func newLookupService(cfg Config, db *store.DB, opts ...lookup.Option) (*lookup.Service, error) {
	return lookup.New(db.Lookup(), db.Dossiers(), lookup.Config{
		PublicURL: cfg.publicURL(), Secret: []byte(cfg.Lookup.Secret),
		ZaloURL: cfg.Lookup.ZaloURL, TelegramURL: cfg.Lookup.TelegramURL,
	}, opts...)
}

// consoleKeys checks read-API callers against the console's API keys
// (`dvcbot apikey create`); a revoked key is refused.
type consoleKeys struct {
	st interface {
		APIKeyByHash(ctx context.Context, keyHash string) (console.APIKey, error)
	}
}

func (k consoleKeys) Authenticate(ctx context.Context, key string) (bool, error) {
	_, err := k.st.APIKeyByHash(ctx, console.TokenHash(key))
	if errors.Is(err, console.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// newLinkCommand: `dvcbot link <mã> [--png FILE]`.
func newLinkCommand() command {
	var png *string
	return command{
		name: "link", args: "MÃ_HỒ_SƠ [--png FILE]",
		summary: "print a dossier's public look-up link and its QR code's address; --png writes the QR code to FILE",
		flags: func(fs *flag.FlagSet) {
			png = fs.String("png", "", "write the QR code (PNG) to this file")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if len(args) != 1 {
				return usageError("usage: dvcbot link MÃ_HỒ_SƠ [--png FILE]")
			}
			code, err := vntext.NormalizeDossierCode(args[0], time.Now())
			if err != nil {
				return usageError(fmt.Sprintf("%q is not a dossier code: %v", args[0], err))
			}
			db, err := openStore(ctx, cfg, newLogger(e.stderr, cfg.LogLevel))
			if err != nil {
				return err
			}
			defer db.Close()
			if _, err := db.Dossiers().Dossier(ctx, code); errors.Is(err, dossier.ErrNotFound) {
				return fmt.Errorf("không tìm thấy hồ sơ %s (no dossier with this code)", code)
			} else if err != nil {
				return err
			}
			l, err := lookup.NewLinker(db.Lookup(), cfg.publicURL(), []byte(cfg.Lookup.Secret)).Link(ctx, code)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s\nURL: %s\nQR:  %s\n", l.Code, l.URL, l.QRURL)
			if *png != "" {
				img, err := lookup.QR(l.URL)
				if err != nil {
					return err
				}
				if err := os.WriteFile(*png, img, 0o644); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "PNG: %s\n", *png)
			}
			return nil
		},
	}
}
