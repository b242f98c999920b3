package main

import (
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/channels/email"
	"github.com/dvcbot/dvcbot/core/phone"
	"github.com/dvcbot/dvcbot/store"
)

// Config is everything the binary reads from flags and DVCBOT_* variables.
type Config struct {
	DatabaseURL     string
	Listen          string
	DossierSecret   string
	LogLevel        slog.Level
	Demo            bool
	ShutdownTimeout time.Duration
	MaxMessageLen   int
	RateLimit       int
	WebOrigins      []string
	SearchRefresh   time.Duration
	PublicURL       string

	SMSKey         string
	SMSAllowCIDRs  []netip.Prefix
	SMSSecret      string
	SMSAccents     bool
	SMSMaxSegments int
	SMSShortcode   string
	SMSSendURL     *url.URL
	SMSSendKind    string
	OutboxAttempts int

	NationalDBURL  *url.URL
	NationalDBDept string
	NationalDBConc int
	SyncInterval   time.Duration
	SMTPURL        *url.URL
	SMTPRoots      *x509.CertPool
	AlertFrom      string
	AlertEmails    []string
	AlertPhones    []string

	ZaloAppID      string
	ZaloAppSecret  string
	ZaloOASecret   string
	ZaloOAID       string
	ZaloAPIURL     string
	ZaloOAuthURL   string
	TelegramToken  string
	TelegramSecret string
	TelegramMode   string
	TelegramAPIURL string

	ClaimTimeout  time.Duration
	SpoolDir      string
	SpoolMax      int64
	SMSDLRWait    time.Duration
	MetricsListen string
	MetricsToken  string
}

// ConfigError names the variable (and flag) whose value is wrong.
type ConfigError struct {
	Var, Flag, Value, Problem string
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("%s (flag --%s): %q: %s", e.Var, e.Flag, e.Value, e.Problem)
}

// setting is one configuration entry; the table below is the single source
// for flags, environment variables, defaults and the README's table.
type setting struct {
	Env, Flag, Default, Usage string
	apply                     func(c *Config, v string) error
}

func settings() []setting {
	return []setting{
		{"DVCBOT_DATABASE_URL", "database-url", "./data/dvcbot.db",
			"postgres://user:pass@host:5432/db?sslmode=disable, or a SQLite file path (its folder is created)",
			func(c *Config, v string) error {
				if strings.TrimSpace(v) == "" {
					return errors.New("must not be empty")
				}
				if strings.Contains(v, "://") && !strings.HasPrefix(v, "postgres://") && !strings.HasPrefix(v, "postgresql://") && !strings.HasPrefix(v, "sqlite://") {
					return errors.New("must be a postgres:// URL or a SQLite file path")
				}
				c.DatabaseURL = v
				return nil
			}},
		{"DVCBOT_LISTEN", "listen", ":8080", "HTTP listen address, host:port",
			func(c *Config, v string) error {
				_, port, err := net.SplitHostPort(v)
				if err != nil {
					return errors.New("must be host:port, e.g. :8080 or 127.0.0.1:8080")
				}
				if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
					return errors.New("port must be a number from 0 to 65535")
				}
				c.Listen = v
				return nil
			}},
		{"DVCBOT_DOSSIER_SECRET", "dossier-secret", "",
			"HMAC key the one-stop system signs POST /api/v1/dossiers with; empty disables that endpoint (503)",
			func(c *Config, v string) error {
				if v != "" && len(v) < 16 {
					return errors.New("must be at least 16 characters")
				}
				c.DossierSecret = v
				return nil
			}},
		{"DVCBOT_LOG_LEVEL", "log-level", "info", "debug, info, warn or error",
			func(c *Config, v string) error {
				return c.LogLevel.UnmarshalText([]byte(v))
			}},
		{"DVCBOT_DEMO", "demo", "true", "load the built-in demo catalogue and dossiers into an empty database",
			func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("must be true or false")
				}
				c.Demo = b
				return nil
			}},
		{"DVCBOT_SHUTDOWN_TIMEOUT", "shutdown-timeout", "15s", "how long serve waits for requests in flight on SIGINT/SIGTERM",
			func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d <= 0 {
					return errors.New("must be a positive duration such as 15s")
				}
				c.ShutdownTimeout = d
				return nil
			}},
		{"DVCBOT_MAX_MESSAGE_LEN", "max-message-len", "1000", "longest citizen message, in characters, the bot reads",
			func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 20 || n > 10000 {
					return errors.New("must be a number from 20 to 10000")
				}
				c.MaxMessageLen = n
				return nil
			}},
		{"DVCBOT_RATE_LIMIT", "rate-limit", "10", "messages one user may send per minute",
			func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 10000 {
					return errors.New("must be a number from 1 to 10000")
				}
				c.RateLimit = n
				return nil
			}},
		{"DVCBOT_SEARCH_REFRESH", "search-refresh", "5s",
			"how often serve checks the catalogue version and rebuilds the search index after an import or a sync (any replica's)",
			func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < 100*time.Millisecond || d > time.Hour {
					return errors.New("must be a duration from 100ms to 1h, e.g. 5s")
				}
				c.SearchRefresh = d
				return nil
			}},
		{"DVCBOT_PUBLIC_URL", "public-url", "",
			"the service's address as gateways and platforms reach it (SMS delivery reports, Telegram webhook); empty: http://127.0.0.1:<port of DVCBOT_LISTEN>",
			func(c *Config, v string) error {
				if v == "" {
					c.PublicURL = ""
					return nil
				}
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("must be an http(s) URL such as https://dvc.example.gov.vn")
				}
				c.PublicURL = strings.TrimRight(v, "/")
				return nil
			}},
		{"DVCBOT_SMS_KEY", "sms-key", "", "secret `key` parameter Kannel must send on /channels/sms/kannel and /channels/sms/dlr (compared in constant time)",
			func(c *Config, v string) error {
				if v != "" && len(v) < 12 {
					return errors.New("must be at least 12 characters")
				}
				c.SMSKey = v
				return nil
			}},
		{"DVCBOT_SMS_ALLOW_CIDRS", "sms-allow-cidrs", "127.0.0.1/32,::1/128",
			"comma-separated networks Kannel may call from; with DVCBOT_SMS_KEY both must hold; empty: the key alone decides",
			func(c *Config, v string) error {
				c.SMSAllowCIDRs = nil
				for _, p := range strings.Split(v, ",") {
					if p = strings.TrimSpace(p); p == "" {
						continue
					}
					pre, err := netip.ParsePrefix(p)
					if err != nil {
						return fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", p)
					}
					c.SMSAllowCIDRs = append(c.SMSAllowCIDRs, pre)
				}
				return nil
			}},
		{"DVCBOT_SMS_SECRET", "sms-secret", "", "HMAC key of the generic SMS gateway (POST /channels/sms/generic and outbound requests); empty disables it",
			func(c *Config, v string) error {
				if v != "" && len(v) < 16 {
					return errors.New("must be at least 16 characters")
				}
				c.SMSSecret = v
				return nil
			}},
		{"DVCBOT_SMS_ACCENTS", "sms-accents", "false", "keep Vietnamese diacritics in SMS (UCS-2, 67 characters a segment) instead of accent-free GSM-7",
			func(c *Config, v string) error {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return errors.New("must be true or false")
				}
				c.SMSAccents = b
				return nil
			}},
		{"DVCBOT_SMS_MAX_SEGMENTS", "sms-max-segments", "2", "most segments one SMS reply may use; longer replies end with a pointer to THEM",
			func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 6 {
					return errors.New("must be a number from 1 to 6")
				}
				c.SMSMaxSegments = n
				return nil
			}},
		{"DVCBOT_SMS_SHORTCODE", "sms-shortcode", "8188", "the shortcode: sender address of outbound SMS",
			func(c *Config, v string) error {
				if v == "" || len(v) > 16 {
					return errors.New("must be 1 to 16 characters")
				}
				c.SMSShortcode = v
				return nil
			}},
		{"DVCBOT_SMS_SEND_URL", "sms-send-url", "", "outbound SMS gateway: Kannel sendsms (http://user:pass@127.0.0.1:13013/cgi-bin/sendsms) or a generic JSON endpoint; empty: no proactive SMS",
			func(c *Config, v string) error {
				c.SMSSendURL = nil
				if v == "" {
					return nil
				}
				u, err := url.Parse(v)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("must be an http(s) URL")
				}
				c.SMSSendURL = u
				return nil
			}},
		{"DVCBOT_SMS_SEND_KIND", "sms-send-kind", "kannel", "kannel or generic: how DVCBOT_SMS_SEND_URL is spoken to",
			func(c *Config, v string) error {
				if v != "kannel" && v != "generic" {
					return errors.New("must be kannel or generic")
				}
				c.SMSSendKind = v
				return nil
			}},
		{"DVCBOT_OUTBOX_MAX_ATTEMPTS", "outbox-max-attempts", "8", "delivery attempts of an alert or SMS before it is marked failed",
			func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 50 {
					return errors.New("must be a number from 1 to 50")
				}
				c.OutboxAttempts = n
				return nil
			}},
		{"DVCBOT_NATIONALDB_URL", "nationaldb-url", "", "base URL of the province's procedures portal (national database feed); empty: no sync",
			func(c *Config, v string) error {
				c.NationalDBURL = nil
				if v == "" {
					return nil
				}
				u, err := url.Parse(strings.TrimRight(v, "/"))
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return errors.New("must be an http(s) URL such as https://tthc.danang.gov.vn")
				}
				c.NationalDBURL = u
				return nil
			}},
		{"DVCBOT_NATIONALDB_DEPT", "nationaldb-dept", "", "the portal's dept_id for this province (required with DVCBOT_NATIONALDB_URL)",
			func(c *Config, v string) error { c.NationalDBDept = v; return nil }},
		{"DVCBOT_NATIONALDB_CONCURRENCY", "nationaldb-concurrency", "4", "parallel detail requests to the portal",
			func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 32 {
					return errors.New("must be a number from 1 to 32")
				}
				c.NationalDBConc = n
				return nil
			}},
		{"DVCBOT_SYNC_INTERVAL", "sync-interval", "2h", "time between syncs (at least 3 a day, so at most 8h)",
			func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil || d < time.Minute {
					return errors.New("must be a duration of at least 1m, e.g. 2h")
				}
				if d > 8*time.Hour {
					return errors.New("gives fewer than 3 syncs a day (seed 000 Điều 4 asks for at least 3): use 8h or less")
				}
				c.SyncInterval = d
				return nil
			}},
		{"DVCBOT_SMTP_URL", "smtp-url", "", "mail server for change alerts: smtp://user:pass@host:587 (STARTTLS) or smtps://user:pass@host:465",
			func(c *Config, v string) error {
				c.SMTPURL = nil
				if v == "" {
					return nil
				}
				u, err := email.ParseURL(v)
				if err != nil {
					return err
				}
				c.SMTPURL = u
				return nil
			}},
		{"DVCBOT_SMTP_CA_FILE", "smtp-ca-file", "", "PEM file of a private CA that signed the mail server's certificate (default: the system's roots)",
			func(c *Config, v string) error {
				c.SMTPRoots = nil
				if v == "" {
					return nil
				}
				pem, err := os.ReadFile(v)
				if err != nil {
					return fmt.Errorf("cannot read it: %v", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return errors.New("holds no PEM certificate")
				}
				c.SMTPRoots = pool
				return nil
			}},
		{"DVCBOT_ALERT_FROM", "alert-from", "", "sender of alert emails, e.g. dvcbot <dvcbot@danang.gov.vn> (required with DVCBOT_SMTP_URL)",
			func(c *Config, v string) error {
				if v != "" {
					if _, err := mail.ParseAddress(v); err != nil {
						return errors.New("must be an email address, optionally with a name")
					}
				}
				c.AlertFrom = v
				return nil
			}},
		{"DVCBOT_ALERT_EMAILS", "alert-emails", "", "comma-separated addresses that receive change digests (besides subscriptions in the database)",
			func(c *Config, v string) error {
				c.AlertEmails = nil
				for _, a := range strings.Split(v, ",") {
					if a = strings.TrimSpace(a); a == "" {
						continue
					}
					addr, err := mail.ParseAddress(a)
					if err != nil {
						return fmt.Errorf("%q is not an email address", a)
					}
					c.AlertEmails = append(c.AlertEmails, addr.Address)
				}
				return nil
			}},
		{"DVCBOT_ALERT_PHONES", "alert-phones", "", "comma-separated phones that receive the change SMS",
			func(c *Config, v string) error {
				c.AlertPhones = nil
				for _, p := range strings.Split(v, ",") {
					if p = strings.TrimSpace(p); p == "" {
						continue
					}
					n, err := phone.Normalize(p)
					if err != nil {
						return fmt.Errorf("%q is not a Vietnamese phone number", p)
					}
					c.AlertPhones = append(c.AlertPhones, n)
				}
				return nil
			}},
		{"DVCBOT_ZALO_APP_ID", "zalo-app-id", "", "Zalo app id (enables the Zalo OA channel)",
			func(c *Config, v string) error { c.ZaloAppID = v; return nil }},
		{"DVCBOT_ZALO_APP_SECRET", "zalo-app-secret", "", "Zalo app secret key (OAuth token refresh)",
			func(c *Config, v string) error { c.ZaloAppSecret = v; return nil }},
		{"DVCBOT_ZALO_OA_SECRET", "zalo-oa-secret", "", "Zalo OA secret key from the Webhook settings (the webhook signature key)",
			func(c *Config, v string) error { c.ZaloOASecret = v; return nil }},
		{"DVCBOT_ZALO_OA_ID", "zalo-oa-id", "", "the OA id; when set, events for another OA are refused",
			func(c *Config, v string) error { c.ZaloOAID = v; return nil }},
		{"DVCBOT_ZALO_API_URL", "zalo-api-url", "https://openapi.zalo.me", "base URL of the Zalo OA Open API",
			func(c *Config, v string) error { return httpURL(v, &c.ZaloAPIURL) }},
		{"DVCBOT_ZALO_OAUTH_URL", "zalo-oauth-url", "https://oauth.zaloapp.com", "base URL of Zalo's OAuth (path /v4/oa/access_token)",
			func(c *Config, v string) error { return httpURL(v, &c.ZaloOAuthURL) }},
		{"DVCBOT_TELEGRAM_TOKEN", "telegram-token", "", "Telegram bot token (enables the Telegram channel)",
			func(c *Config, v string) error {
				if v != "" && !strings.Contains(v, ":") {
					return errors.New("must look like 123456:ABC… (from @BotFather)")
				}
				c.TelegramToken = v
				return nil
			}},
		{"DVCBOT_TELEGRAM_SECRET", "telegram-secret", "", "webhook secret token Telegram sends in X-Telegram-Bot-Api-Secret-Token (webhook mode)",
			func(c *Config, v string) error {
				for _, r := range v {
					if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
						return errors.New("may only hold A-Z, a-z, 0-9, _ and - (Telegram's rule)")
					}
				}
				if len(v) > 256 {
					return errors.New("must be at most 256 characters")
				}
				c.TelegramSecret = v
				return nil
			}},
		{"DVCBOT_TELEGRAM_MODE", "telegram-mode", "webhook", "webhook or poll",
			func(c *Config, v string) error {
				if v != "webhook" && v != "poll" {
					return errors.New("must be webhook or poll")
				}
				c.TelegramMode = v
				return nil
			}},
		{"DVCBOT_TELEGRAM_API_URL", "telegram-api-url", "https://api.telegram.org", "Telegram Bot API server (a local bot API server, or a fake in tests)",
			func(c *Config, v string) error { return httpURL(v, &c.TelegramAPIURL) }},
		{"DVCBOT_CLAIM_TIMEOUT", "claim-timeout", "1m",
			"how long a message may stay claimed but unanswered (a crash) before the sweeper answers it through the outbox",
			durationIn(5*time.Second, time.Hour, func(c *Config) *time.Duration { return &c.ClaimTimeout })},
		{"DVCBOT_SPOOL_DIR", "spool-dir", "",
			"where inbound messages wait on disk while the database is unreachable; empty: a spool folder beside the SQLite file, or ./data/spool on Postgres",
			text(func(c *Config) *string { return &c.SpoolDir })},
		{"DVCBOT_SPOOL_MAX", "spool-max", "512MiB", "largest size of the spool; beyond it messages are refused (logged, counted) and platforms retry",
			byteSize(1<<20, 1<<40, func(c *Config) *int64 { return &c.SpoolMax })},
		{"DVCBOT_SMS_DLR_WAIT", "sms-dlr-wait", "10m",
			"after a crash or a gateway that answered too late, how long an SMS that may have left waits for its delivery report before it is sent again",
			durationIn(30*time.Second, 24*time.Hour, func(c *Config) *time.Duration { return &c.SMSDLRWait })},
		{"DVCBOT_METRICS_LISTEN", "metrics-listen", "",
			"serve /metrics on this separate address (e.g. 127.0.0.1:9090) instead of DVCBOT_LISTEN",
			hostPort(func(c *Config) *string { return &c.MetricsListen })},
		{"DVCBOT_METRICS_TOKEN", "metrics-token", "",
			"bearer token /metrics requires; with neither this nor DVCBOT_METRICS_LISTEN, /metrics answers loopback callers only",
			secretMin(16, func(c *Config) *string { return &c.MetricsToken })},
		{"DVCBOT_WEB_ORIGINS", "web-origins", "",
			"comma-separated origins allowed to open the web chat websocket (e.g. https://dvc.danang.gov.vn); empty allows same-origin only",
			func(c *Config, v string) error {
				c.WebOrigins = nil
				for _, o := range strings.Split(v, ",") {
					o = strings.TrimRight(strings.TrimSpace(o), "/")
					if o == "" {
						continue
					}
					if !strings.HasPrefix(o, "http://") && !strings.HasPrefix(o, "https://") {
						return fmt.Errorf("origin %q must start with http:// or https://", o)
					}
					c.WebOrigins = append(c.WebOrigins, o)
				}
				return nil
			}},
	}
}

func httpURL(v string, dst *string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an http(s) URL")
	}
	*dst = strings.TrimRight(v, "/")
	return nil
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
	table := settings()
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
	var c Config
	for i, s := range table {
		v := s.Default
		if env := getenv(s.Env); env != "" {
			v = env
		}
		if set[s.Flag] {
			v = *flagVals[i]
		}
		if err := s.apply(&c, v); err != nil {
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
	case len(c.AlertPhones) > 0 && c.SMSSendURL == nil:
		return need("DVCBOT_SMS_SEND_URL", "sms-send-url", "", "is required to send to DVCBOT_ALERT_PHONES")
	case c.ZaloAppID != "" && c.ZaloAppSecret == "":
		return need("DVCBOT_ZALO_APP_SECRET", "zalo-app-secret", "", "is required when DVCBOT_ZALO_APP_ID is set")
	case c.ZaloAppID != "" && c.ZaloOASecret == "":
		return need("DVCBOT_ZALO_OA_SECRET", "zalo-oa-secret", "", "is required when DVCBOT_ZALO_APP_ID is set")
	case c.TelegramToken != "" && c.TelegramMode == "webhook" && c.TelegramSecret == "":
		return need("DVCBOT_TELEGRAM_SECRET", "telegram-secret", "", "is required in webhook mode")
	case c.TelegramToken != "" && c.TelegramMode == "webhook" && !strings.HasPrefix(c.PublicURL, "https://"):
		return need("DVCBOT_PUBLIC_URL", "public-url", c.PublicURL, "must be an https:// URL for the Telegram webhook (or use DVCBOT_TELEGRAM_MODE=poll)")
	}
	return nil
}

func quoteDefault(d string) string {
	if d == "" {
		return "empty"
	}
	return d
}
