package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/channels/email"
	"github.com/dvcbot/dvcbot/channels/sms"
	"github.com/dvcbot/dvcbot/channels/telegram"
	"github.com/dvcbot/dvcbot/channels/webchat"
	"github.com/dvcbot/dvcbot/channels/zalo"
	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/phone"
	"github.com/dvcbot/dvcbot/store"
)

// Config is everything the binary reads from flags and DVCBOT_* variables.
// The channels keep their own settings (Channels); the rest is here.
type Config struct {
	DatabaseURL     string
	Listen          string
	DossierSecret   string
	LogLevel        slog.Level
	Demo            bool
	ShutdownTimeout time.Duration
	MaxMessageLen   int
	RateLimit       int
	SearchRefresh   time.Duration
	PublicURL       string
	OutboxAttempts  int

	NationalDBURL  *url.URL
	NationalDBDept string
	NationalDBConc int
	SyncInterval   time.Duration
	SMTPURL        *url.URL
	SMTPRoots      *x509.CertPool
	AlertFrom      string
	AlertEmails    []string
	AlertPhones    []string

	ClaimTimeout  time.Duration
	SpoolDir      string
	SpoolMax      int64
	MetricsListen string
	MetricsToken  string
	Notices       noticeConfig // proactive notices (notices.go)
	Lookup        lookupConfig // look-up links and the read API (lookup.go)

	Handoff handoffConfig // hand-off to a person (handoff.go)

	// Console (console.go): data retention and console sessions.
	Retention         time.Duration
	ConsoleSessionTTL time.Duration

	// Channels are the transports of the binary, each with its settings.
	Channels []channels.Spec
	sms      *sms.Spec
	telegram *telegram.Spec
}

// newChannelSpecs lists the channels: a new channel is one line here.
func newChannelSpecs() (all []channels.Spec, s *sms.Spec, tg *telegram.Spec) {
	s, tg = sms.NewSpec(), telegram.NewSpec()
	return []channels.Spec{webchat.NewSpec(), s, zalo.NewSpec(), tg}, s, tg
}

// ConfigError names the variable (and flag) whose value is wrong.
type ConfigError = config.Error

// settings is the one table of flags, variables, defaults and the README's
// configuration table: the core's settings, then each channel's, bound to c.
func settings(c *Config) []config.Setting {
	if c.Channels == nil {
		c.Channels, c.sms, c.telegram = newChannelSpecs()
	}
	core := []config.Setting{
		config.New("DVCBOT_DATABASE_URL", "database-url", "./data/dvcbot.db",
			"postgres://user:pass@host:5432/db?sslmode=disable, or a SQLite file path (its folder is created)",
			func(v string) error {
				if strings.TrimSpace(v) == "" {
					return errors.New("must not be empty")
				}
				if strings.Contains(v, "://") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") && !strings.HasPrefix(v, "sqlite://") {
					return errors.New("must be a postgres:// URL or a SQLite file path")
				}
				c.DatabaseURL = v
				return nil
			}),
		config.New("DVCBOT_LISTEN", "listen", ":8080", "HTTP listen address, host:port", config.HostPort(&c.Listen, false)),
		config.New("DVCBOT_DOSSIER_SECRET", "dossier-secret", "",
			"HMAC key the one-stop system signs POST /api/v1/dossiers with; empty disables that endpoint (503)", config.Secret(&c.DossierSecret, 16)),
		config.New("DVCBOT_LOG_LEVEL", "log-level", "info", "debug, info, warn or error", config.LogLevel(&c.LogLevel)),
		config.New("DVCBOT_DEMO", "demo", "true", "load the built-in demo catalogue and dossiers into an empty database", config.Bool(&c.Demo)),
		config.New("DVCBOT_SHUTDOWN_TIMEOUT", "shutdown-timeout", "20s",
			"how long serve waits for requests and sends in flight on SIGINT/SIGTERM (more than an SMS gateway call's 15 s)",
			config.Duration(&c.ShutdownTimeout, 0, 10*time.Minute)),
		config.New("DVCBOT_MAX_MESSAGE_LEN", "max-message-len", "1000", "longest citizen message, in characters, the bot reads",
			config.Int(&c.MaxMessageLen, 20, 10000)),
		config.New("DVCBOT_RATE_LIMIT", "rate-limit", "10", "messages one user may send per minute", config.Int(&c.RateLimit, 1, 10000)),
		config.New("DVCBOT_SEARCH_REFRESH", "search-refresh", "5s",
			"how often serve checks the catalogue version and rebuilds the search index after an import or a sync (any replica's)",
			config.Duration(&c.SearchRefresh, 100*time.Millisecond, time.Hour)),
		config.New("DVCBOT_PUBLIC_URL", "public-url", "",
			"the service's address as gateways and platforms reach it (SMS delivery reports, Telegram webhook); empty: http://127.0.0.1:<port of DVCBOT_LISTEN>",
			config.HTTPURL(&c.PublicURL, true)),
		config.New("DVCBOT_OUTBOX_MAX_ATTEMPTS", "outbox-max-attempts", "8", "delivery attempts of an outbound message before it is marked failed",
			config.Int(&c.OutboxAttempts, 1, 50)),
		config.New("DVCBOT_CLAIM_TIMEOUT", "claim-timeout", "1m",
			"how long a message may stay claimed but unanswered (a crash, a failed look-up) before the sweeper answers it through the outbox",
			config.Duration(&c.ClaimTimeout, 5*time.Second, time.Hour)),
		config.New("DVCBOT_SPOOL_DIR", "spool-dir", "",
			"where inbound messages wait on disk while the database is unreachable; empty: a spool folder beside the SQLite file, or ./data/spool on Postgres (one per process)",
			config.String(&c.SpoolDir)),
		config.New("DVCBOT_SPOOL_MAX", "spool-max", "512MiB", "largest size of the spool; beyond it messages are refused (logged, counted) and platforms retry",
			config.Bytes(&c.SpoolMax, 1<<20, 1<<40)),
		config.New("DVCBOT_METRICS_LISTEN", "metrics-listen", "",
			"serve /metrics on this separate address (e.g. 127.0.0.1:9090) instead of DVCBOT_LISTEN", config.HostPort(&c.MetricsListen, true)),
		config.New("DVCBOT_METRICS_TOKEN", "metrics-token", "",
			"bearer token /metrics requires; with neither this nor DVCBOT_METRICS_LISTEN, /metrics answers loopback callers only",
			config.Secret(&c.MetricsToken, 16)),
		config.New("DVCBOT_NATIONALDB_URL", "nationaldb-url", "", "base URL of the province's procedures portal (national database feed); empty: no sync",
			config.URL(&c.NationalDBURL)),
		config.New("DVCBOT_NATIONALDB_DEPT", "nationaldb-dept", "", "the portal's dept_id for this province (required with DVCBOT_NATIONALDB_URL)",
			config.String(&c.NationalDBDept)),
		config.New("DVCBOT_NATIONALDB_CONCURRENCY", "nationaldb-concurrency", "4", "parallel detail requests to the portal",
			config.Int(&c.NationalDBConc, 1, 32)),
		config.New("DVCBOT_SYNC_INTERVAL", "sync-interval", "2h", "time between syncs (at least 3 a day, so at most 8h)",
			func(v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Minute {
					return errors.New("must be a duration of at least 1m, e.g. 2h")
				}
				if d > 8*time.Hour {
					return errors.New("gives fewer than 3 syncs a day (seed 000 Điều 4 asks for at least 3): use 8h or less")
				}
				c.SyncInterval = d
				return nil
			}),
		config.New("DVCBOT_SMTP_URL", "smtp-url", "", "mail server for change alerts: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465",
			func(v string) error {
				c.SMTPURL = nil
				if v == "" {
					return nil
				}
				u, err := email.ParseURL(v)
				c.SMTPURL = u
				return err
			}),
		config.New("DVCBOT_SMTP_CA_FILE", "smtp-ca-file", "", "PEM file of a private CA that signed the mail server's certificate (default: the system's roots)",
			config.CAFile(&c.SMTPRoots)),
		config.New("DVCBOT_ALERT_FROM", "alert-from", "", "sender of alert emails, e.g. dvcbot <dvcbot@danang.gov.vn> (required with DVCBOT_SMTP_URL)",
			func(v string) error {
				if v != "" {
					if _, err := mail.ParseAddress(v); err != nil {
						return errors.New("must be an email address, optionally with a name")
					}
				}
				c.AlertFrom = v
				return nil
			}),
		config.New("DVCBOT_ALERT_EMAILS", "alert-emails", "", "comma-separated addresses that receive change digests (besides subscriptions in the database)",
			config.List(&c.AlertEmails, func(a string) (string, error) {
				addr, err := mail.ParseAddress(a)
				if err != nil {
					return "", fmt.Errorf("%q is not an email address", a)
				}
				return addr.Address, nil
			})),
		config.New("DVCBOT_ALERT_PHONES", "alert-phones", "", "comma-separated phones that receive the change SMS",
			config.List(&c.AlertPhones, func(p string) (string, error) {
				n, err := phone.Normalize(p)
				if err != nil {
					return "", fmt.Errorf("%q is not a Vietnamese phone number", p)
				}
				return n, nil
			})),
	}
	core = append(core, consoleSettings(c)...)
	core = append(core, noticeSettings(c)...)
	core = append(core, lookupSettings(c)...)
	core = append(core, handoffSettings(c)...)
	for _, ch := range c.Channels {
		core = append(core, ch.Settings()...)
	}
	return core
}

// spoolDir is DVCBOT_SPOOL_DIR, or a spool folder beside the SQLite file
// (./data/spool by default), or ./data/spool on Postgres.
func (c Config) spoolDir() string {
	if c.SpoolDir != "" {
		return c.SpoolDir
	}
	if !store.IsPostgresURL(c.DatabaseURL) {
		return filepath.Join(filepath.Dir(strings.TrimPrefix(strings.TrimPrefix(c.DatabaseURL, "sqlite://"), "file:")), "spool")
	}
	return filepath.Join("data", "spool")
}

// publicURL is DVCBOT_PUBLIC_URL or the local address of DVCBOT_LISTEN.
func (c Config) publicURL() string {
	if c.PublicURL != "" {
		return c.PublicURL
	}
	_, port, _ := net.SplitHostPort(c.Listen)
	return "http://127.0.0.1:" + port
}

// LoadConfig reads flags from args, falling back to the environment and
// then to defaults. Every value is validated.
func LoadConfig(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, []string, error) {
	var c Config
	table := settings(&c)
	flagVals := make([]*string, len(table))
	for i, s := range table {
		flagVals[i] = fs.String(s.Flag, "", s.Usage+" (env "+s.Env+", default "+quoteDefault(s.Default)+")")
	}
	// Flags may come before or after the command's words
	// (`officer invite --name …`): parse around each positional argument.
	var positional []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return Config{}, nil, err
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		positional, rest = append(positional, rest[0]), rest[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for i, s := range table {
		v := s.Default
		if env := getenv(s.Env); env != "" {
			v = env
		}
		if set[s.Flag] {
			v = *flagVals[i]
		}
		if err := s.Parse(v); err != nil {
			return Config{}, nil, &ConfigError{Var: s.Env, Flag: s.Flag, Value: v, Problem: err.Error()}
		}
	}
	if err := c.validate(); err != nil {
		return Config{}, nil, err
	}
	return c, positional, nil
}

// validate checks settings that depend on each other.
func (c Config) validate() error {
	need := func(v, flag, value, problem string) error {
		return &ConfigError{Var: v, Flag: flag, Value: value, Problem: problem}
	}
	switch {
	case c.NationalDBURL != nil && c.NationalDBDept == "":
		return need("DVCBOT_NATIONALDB_DEPT", "nationaldb-dept", "", "is required when DVCBOT_NATIONALDB_URL is set")
	case c.SMTPURL != nil && c.AlertFrom == "":
		return need("DVCBOT_ALERT_FROM", "alert-from", "", "is required when DVCBOT_SMTP_URL is set")
	case len(c.AlertEmails) > 0 && c.SMTPURL == nil:
		return need("DVCBOT_SMTP_URL", "smtp-url", "", "is required to send to DVCBOT_ALERT_EMAILS")
	case len(c.AlertPhones) > 0 && !c.sms.CanSend():
		return need("DVCBOT_SMS_SEND_URL", "sms-send-url", "", "is required to send to DVCBOT_ALERT_PHONES")
	}
	for _, ch := range c.Channels {
		if err := ch.Validate(); err != nil {
			return err
		}
	}
	return c.telegram.CheckPublicURL(c.PublicURL)
}

func quoteDefault(d string) string {
	if d == "" {
		return "empty"
	}
	return d
}
