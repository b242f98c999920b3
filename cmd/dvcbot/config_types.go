package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Typed parsers for the settings table: one per kind of value, so a
// setting is a line, not a closure.

// intIn parses an integer from lo to hi into *dst(c).
func intIn(lo, hi int, dst func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be a number from %d to %d", lo, hi)
		}
		*dst(c) = n
		return nil
	}
}

// durationIn parses a Go duration from lo to hi.
func durationIn(lo, hi time.Duration, dst func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < lo || d > hi {
			return fmt.Errorf("must be a duration from %s to %s, e.g. %s", lo, hi, lo*2)
		}
		*dst(c) = d
		return nil
	}
}

// byteSize parses 500MB, 2GiB, 1048576 (bytes) from lo to hi.
func byteSize(lo, hi int64, dst func(*Config) *int64) func(*Config, string) error {
	return func(c *Config, v string) error {
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
		if err != nil || n*mult < lo || n*mult > hi {
			return fmt.Errorf("must be a size from %d to %d bytes, e.g. 512MB or 1GiB", lo, hi)
		}
		*dst(c) = n * mult
		return nil
	}
}

// text stores any string.
func text(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *dst(c) = v; return nil }
}

// secretMin stores a secret of at least n characters (or none).
func secretMin(n int, dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v != "" && len(v) < n {
			return fmt.Errorf("must be at least %d characters", n)
		}
		*dst(c) = v
		return nil
	}
}

// hostPort stores an optional listen address host:port.
func hostPort(dst func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			*dst(c) = ""
			return nil
		}
		if _, _, err := net.SplitHostPort(v); err != nil {
			return errors.New("must be host:port, e.g. 127.0.0.1:9090")
		}
		*dst(c) = v
		return nil
	}
}
