package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
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
	return c, fs.Args(), nil
}

func quoteDefault(d string) string {
	if d == "" {
		return "empty"
	}
	return d
}
