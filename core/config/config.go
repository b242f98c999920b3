// Package config describes settings once: each is an environment variable,
// a flag, a default and a help line, parsed by type (an integer in a range,
// a duration, a URL, a list…) straight into the field it configures. The
// binary collects the settings of the core and of every channel into one
// table that drives the flags, validation, `help config` and the README.
package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Setting is one configuration entry.
type Setting struct {
	Env, Flag, Default, Usage string
	// Parse validates v and stores it; its error says what is expected.
	Parse func(v string) error
}

// New returns a setting.
func New(env, flag, def, usage string, parse func(string) error) Setting {
	return Setting{Env: env, Flag: flag, Default: def, Usage: usage, Parse: parse}
}

// Error names the variable (and flag) whose value is wrong.
type Error struct {
	Var, Flag, Value, Problem string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (flag --%s): %q: %s", e.Var, e.Flag, e.Value, e.Problem)
}

// String stores any text.
func String(dst *string) func(string) error {
	return func(v string) error { *dst = v; return nil }
}

// NonEmpty stores text of 1 to max characters.
func NonEmpty(dst *string, max int) func(string) error {
	return func(v string) error {
		if v == "" || len(v) > max {
			return fmt.Errorf("must be 1 to %d characters", max)
		}
		*dst = v
		return nil
	}
}

// Secret stores a secret of at least min characters, or none.
func Secret(dst *string, min int) func(string) error {
	return func(v string) error {
		if v != "" && len(v) < min {
			return fmt.Errorf("must be at least %d characters", min)
		}
		*dst = v
		return nil
	}
}

// Bool stores true or false.
func Bool(dst *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		*dst = b
		return nil
	}
}

// Int stores an integer from lo to hi.
func Int(dst *int, lo, hi int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be a number from %d to %d", lo, hi)
		}
		*dst = n
		return nil
	}
}

// Duration stores a Go duration (90s, 5m, 2h) from lo to hi.
func Duration(dst *time.Duration, lo, hi time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < lo || d > hi {
			return fmt.Errorf("must be a duration from %s to %s", lo, hi)
		}
		*dst = d
		return nil
	}
}

// Bytes stores a size (512MiB, 2GB, 1048576) from lo to hi bytes.
func Bytes(dst *int64, lo, hi int64) func(string) error {
	return func(v string) error {
		s := strings.ToUpper(strings.TrimSpace(v))
		mult := int64(1)
		for _, u := range []struct {
			suffix string
			m      int64
		}{{"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}} {
			if strings.HasSuffix(s, u.suffix) {
				s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.m
				break
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n*mult < lo || n*mult > hi {
			return fmt.Errorf("must be a size from %d to %d bytes, e.g. 512MiB", lo, hi)
		}
		*dst = n * mult
		return nil
	}
}

// OneOf stores one of the given words.
func OneOf(dst *string, words ...string) func(string) error {
	return func(v string) error {
		for _, w := range words {
			if v == w {
				*dst = v
				return nil
			}
		}
		return fmt.Errorf("must be %s", orList(words))
	}
}

func orList(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// HTTPURL stores an http(s) URL without a trailing slash; empty is allowed
// when optional.
func HTTPURL(dst *string, optional bool) func(string) error {
	return func(v string) error {
		if v == "" && optional {
			*dst = ""
			return nil
		}
		if _, err := parseHTTP(v); err != nil {
			return err
		}
		*dst = strings.TrimRight(v, "/")
		return nil
	}
}

// URL stores an optional http(s) URL (nil when empty).
func URL(dst **url.URL) func(string) error {
	return func(v string) error {
		*dst = nil
		if v == "" {
			return nil
		}
		u, err := parseHTTP(strings.TrimRight(v, "/"))
		if err != nil {
			return err
		}
		*dst = u
		return nil
	}
}

func parseHTTP(v string) (*url.URL, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("must be an http(s) URL such as https://dvc.example.gov.vn")
	}
	return u, nil
}

// List stores a comma-separated list; each item is trimmed, empty items
// are dropped, and check (if any) may refuse or rewrite an item.
func List(dst *[]string, check func(string) (string, error)) func(string) error {
	return func(v string) error {
		var out []string
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item == "" {
				continue
			}
			if check != nil {
				var err error
				if item, err = check(item); err != nil {
					return err
				}
			}
			out = append(out, item)
		}
		*dst = out
		return nil
	}
}

// Prefixes stores a comma-separated list of CIDRs.
func Prefixes(dst *[]netip.Prefix) func(string) error {
	return func(v string) error {
		var out []netip.Prefix
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			pre, err := netip.ParsePrefix(p)
			if err != nil {
				return fmt.Errorf("%q is not a CIDR such as 10.0.0.0/8", p)
			}
			out = append(out, pre)
		}
		*dst = out
		return nil
	}
}

// HostPort stores a listen address host:port; empty is allowed when
// optional.
func HostPort(dst *string, optional bool) func(string) error {
	return func(v string) error {
		if v == "" && optional {
			*dst = ""
			return nil
		}
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			return errors.New("must be host:port, e.g. :8080 or 127.0.0.1:8080")
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return errors.New("port must be a number from 0 to 65535")
		}
		*dst = v
		return nil
	}
}

// LogLevel stores debug, info, warn or error.
func LogLevel(dst *slog.Level) func(string) error {
	return func(v string) error { return dst.UnmarshalText([]byte(v)) }
}

// CAFile stores the certificates of a PEM file (nil when empty).
func CAFile(dst **x509.CertPool) func(string) error {
	return func(v string) error {
		*dst = nil
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
		*dst = pool
		return nil
	}
}
