package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/dvcbot/dvcbot/bots/officer"
	"github.com/dvcbot/dvcbot/channels/zalo"
	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/console"
	"github.com/dvcbot/dvcbot/core/search"
	"github.com/dvcbot/dvcbot/store"
)

// consoleSettings are the console's and the retention's settings.
func consoleSettings(c *Config) []config.Setting {
	return []config.Setting{
		config.New("DVCBOT_RETENTION", "retention", "365d",
			"how long personal data is kept (inbound texts, sessions, personal fields of event payloads, search-miss texts, sent outbox payloads): 365d, 90d, 12h…; the audit log and aggregates stay",
			func(v string) error {
				d, err := parseDays(v)
				if err != nil || d < time.Second || d > 10*365*24*time.Hour {
					return errors.New("must be a duration from 1s to 3650d, e.g. 365d or 12h")
				}
				c.Retention = d
				return nil
			}),
		config.New("DVCBOT_CONSOLE_SESSION_TTL", "console-session-ttl", "12h", "how long a console sign-in lasts",
			config.Duration(&c.ConsoleSessionTTL, 5*time.Minute, 30*24*time.Hour)),
	}
}

// parseDays is time.ParseDuration that also reads whole days ("365d").
func parseDays(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

// queryHooks is what core/search's Holder offers (when it does) to rewrite
// every query and observe its hits, API and bot alike.
type queryHooks interface {
	SetQueryHooks(rewrite func(string) string, observe func(query string, hits []search.Hit))
}

// wireConsole mounts /console, starts the search tuner (runtime synonyms,
// search misses) and the daily retention job, and creates the demo admin.
func (a *app) wireConsole(ctx context.Context) error {
	cs := a.db.Console()
	tuner := console.NewTuner(cs, a.cfg.SearchRefresh, a.log)
	if _, err := tuner.Refresh(ctx); err != nil {
		return err
	}
	if a.search != nil {
		if h, ok := any(a.search.Holder()).(queryHooks); ok {
			h.SetQueryHooks(tuner.Rewrite, tuner.Observe)
		} else {
			a.log.Info("console: core/search has no query hooks yet; synonyms and misses apply where the tuner wraps the searcher")
		}
	}
	a.runners = append(a.runners, tuner.Run, a.retentionLoop)
	inviter := officer.New(a.db.Officers(), a.db.Sync(), a.tr)
	cfg := console.Config{Store: cs, Ops: cs, Tuner: tuner, ZaloCredential: zalo.CredentialName,
		SessionTTL: a.cfg.ConsoleSessionTTL, SecureCookies: strings.HasPrefix(a.cfg.PublicURL, "https://"), Log: a.log,
		Invite: func(ctx context.Context, name, email string) (int64, string, error) {
			o, code, err := inviter.Invite(ctx, name, email)
			return o.ID, code, err
		}}
	if a.spool != nil {
		cfg.Spool = a.spool.Len
	}
	a.wireReports(ctx, &cfg)
	cfg.Tickets = a.ticketDesk() // the hand-off inbox (handoff.go)
	srv, err := console.New(cfg)
	if err != nil {
		return err
	}
	srv.Register(a.mux)
	return a.demoAdmin(ctx, cs)
}

// DemoAdminEmail signs in to the demo console.
const DemoAdminEmail = "admin@demo.dvcbot.vn"

// demoAdmin creates an admin account on the zero-config default (SQLite,
// demo data) when there is no account yet, and prints its sign-in once.
func (a *app) demoAdmin(ctx context.Context, cs *store.ConsoleStore) error {
	if !a.cfg.Demo || a.db.Dialect() != store.SQLite {
		return nil
	}
	n, err := cs.CountAccounts(ctx)
	if err != nil || n > 0 {
		return err
	}
	password := console.NewToken("")[:16]
	hash, err := console.HashPassword(password)
	if err != nil {
		return err
	}
	if _, err := cs.CreateAccount(ctx, console.Account{Email: DemoAdminEmail, Name: "Demo admin", Role: console.Admin}, hash); err != nil {
		return err
	}
	url := a.cfg.publicURL() + "/console/signin"
	a.log.Warn("demo console admin created: sign in once and change the password (shown only now)",
		"url", url, "email", DemoAdminEmail, "password", password)
	_ = cs.AppendAudit(ctx, console.AuditEntry{Actor: "system:serve", Source: "serve", Action: "account.create", Target: DemoAdminEmail,
		After: `{"role":"admin","demo":true}`})
	return nil
}

// retentionLoop runs the retention pass once a day across all replicas.
func (a *app) retentionLoop(ctx context.Context) error {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if ok, err := a.db.ClaimJob(ctx, store.RetentionJob, 23*time.Hour); err != nil {
			a.log.Warn("retention: claiming the daily run failed", "error", err)
		} else if ok {
			r, err := a.db.ApplyRetention(ctx, time.Now().Add(-a.cfg.Retention))
			if err != nil {
				a.log.Error("retention pass failed", "error", err)
			} else {
				a.log.Info("retention pass", "retention", a.cfg.Retention.String(), "result", r)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// cliActor names the person running a command in the audit log.
func cliActor(e env) string {
	u := e.getenv("USER")
	if u == "" {
		u = "unknown"
	}
	return "cli:" + u
}

func cliAudit(ctx context.Context, e env, cs *store.ConsoleStore, action, target, before, after string) error {
	return cs.AppendAudit(ctx, console.AuditEntry{Actor: cliActor(e), Source: "cli", Action: action, Target: target, Before: before, After: after})
}

// readPassword reads the first line of standard input (--password-stdin)
// or asks on the terminal.
func readPassword(e env, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", usageError("standard input is not a terminal: pass the password with --password-stdin")
	}
	fmt.Fprint(e.stderr, "Password: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(e.stderr, "Again: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(e.stderr)
	if err != nil {
		return "", err
	}
	if string(b) != string(again) {
		return "", errors.New("the passwords differ")
	}
	return string(b), nil
}

func accountJSON(a console.Account) string {
	return fmt.Sprintf(`{"email":%q,"name":%q,"role":%q,"agency":%q,"closed":%t}`, a.Email, a.Name, a.Role, a.Agency, a.Closed)
}

// newConsoleCommand: `dvcbot console user add|edit|close|reopen|list`.
func newConsoleCommand() command {
	var email, role, agency, name *string
	var pwStdin *bool
	var fset *flag.FlagSet
	const use = "usage: dvcbot console user add|edit|close|reopen|list [--email A] [--role admin|leader|officer|viewer] [--agency A] [--name N] [--password-stdin]"
	return command{
		name: "console", args: "user add|edit|close|reopen|list [--email A] [--role R] [--agency A] [--name N] [--password-stdin]",
		summary: "manage the console's accounts (the password comes from the first line of stdin with --password-stdin, else a prompt)",
		flags: func(fs *flag.FlagSet) {
			fset = fs
			email = fs.String("email", "", "the account's e-mail (its sign-in name)")
			role = fs.String("role", "", "admin, leader, officer or viewer")
			agency = fs.String("agency", "", "the agency whose data the account sees (required for officers)")
			name = fs.String("name", "", "the person's name")
			pwStdin = fs.Bool("password-stdin", false, "read the password from the first line of standard input")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if len(args) != 2 || args[0] != "user" {
				return usageError(use)
			}
			set := map[string]bool{}
			fset.Visit(func(f *flag.Flag) { set[f.Name] = true })
			db, err := openStore(ctx, cfg, newLogger(e.stderr, cfg.LogLevel))
			if err != nil {
				return err
			}
			defer db.Close()
			cs := db.Console()
			if args[1] == "list" {
				list, err := cs.Accounts(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tAGENCY\tSTATE\tNAME")
				for _, a := range list {
					state := "open"
					if a.Closed {
						state = "closed"
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Email, a.Role, a.Agency, state, a.Name)
				}
				return tw.Flush()
			}
			addr, err := console.NormalizeEmail(*email)
			if err != nil {
				return usageError("--email: " + err.Error())
			}
			switch args[1] {
			case "add":
				a := console.Account{Email: addr, Name: strings.TrimSpace(*name), Role: console.Role(*role), Agency: strings.TrimSpace(*agency)}
				if err := console.ValidateAccount(a); err != nil {
					return usageError(err.Error())
				}
				pw, err := readPassword(e, *pwStdin)
				if err != nil {
					return err
				}
				hash, err := console.HashPassword(pw)
				if err != nil {
					return usageError(err.Error())
				}
				out, err := cs.CreateAccount(ctx, a, hash)
				if errors.Is(err, console.ErrExists) {
					return fmt.Errorf("an account %s exists already: use `dvcbot console user edit`", addr)
				}
				if err != nil {
					return err
				}
				if err := cliAudit(ctx, e, cs, "account.create", addr, "", accountJSON(out)); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "account %d: %s, %s%s\n", out.ID, out.Email, out.Role, agencySuffix(out.Agency))
				return nil
			case "edit", "close", "reopen":
				before, _, err := cs.AccountByEmail(ctx, addr)
				if errors.Is(err, console.ErrNotFound) {
					return fmt.Errorf("no account %s", addr)
				}
				if err != nil {
					return err
				}
				a := before
				hash := ""
				switch args[1] {
				case "close":
					a.Closed = true
				case "reopen":
					a.Closed = false
				default:
					if set["role"] {
						a.Role = console.Role(*role)
					}
					if set["agency"] {
						a.Agency = strings.TrimSpace(*agency)
					}
					if set["name"] {
						a.Name = strings.TrimSpace(*name)
					}
					if *pwStdin {
						pw, err := readPassword(e, true)
						if err != nil {
							return err
						}
						if hash, err = console.HashPassword(pw); err != nil {
							return usageError(err.Error())
						}
					}
				}
				if err := console.ValidateAccount(a); err != nil {
					return usageError(err.Error())
				}
				out, err := cs.UpdateAccount(ctx, a, hash)
				if err != nil {
					return err
				}
				after := accountJSON(out)
				if hash != "" {
					after = strings.TrimSuffix(after, "}") + `,"password":"changed"}`
				}
				if err := cliAudit(ctx, e, cs, "account.update", addr, accountJSON(before), after); err != nil {
					return err
				}
				state := "open"
				if out.Closed {
					state = "closed"
				}
				fmt.Fprintf(e.stdout, "account %d: %s, %s%s, %s\n", out.ID, out.Email, out.Role, agencySuffix(out.Agency), state)
				return nil
			}
			return usageError(use)
		},
	}
}

func agencySuffix(a string) string {
	if a == "" {
		return ""
	}
	return " (" + a + ")"
}

// newAPIKeyCommand: `dvcbot apikey create|list|revoke`.
func newAPIKeyCommand() command {
	var role, agency, name *string
	const use = "usage: dvcbot apikey create --role R [--agency A] --name N | apikey list | apikey revoke ID"
	return command{
		name: "apikey", args: "create --role R [--agency A] --name N | list | revoke ID",
		summary: "API keys for machines (Authorization: Bearer <key> on /console/api/v1); create prints the key once, on the last line",
		flags: func(fs *flag.FlagSet) {
			role = fs.String("role", "", "admin, leader, officer or viewer")
			agency = fs.String("agency", "", "the agency whose data the key sees")
			name = fs.String("name", "", "what the key is for")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if len(args) == 0 {
				return usageError(use)
			}
			db, err := openStore(ctx, cfg, newLogger(e.stderr, cfg.LogLevel))
			if err != nil {
				return err
			}
			defer db.Close()
			cs := db.Console()
			switch {
			case args[0] == "create" && len(args) == 1:
				if _, err := console.ParseRole(*role); err != nil {
					return usageError("--role: " + err.Error())
				}
				k, secret, err := console.CreateAPIKey(ctx, cs, *name, console.Role(*role), *agency)
				if console.IsBadRequest(err) {
					return usageError(err.Error())
				}
				if err != nil {
					return err
				}
				if err := cliAudit(ctx, e, cs, "apikey.create", k.Name, "", fmt.Sprintf(`{"role":%q,"agency":%q}`, k.Role, k.Agency)); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "API key %d %q: role %s%s; it is shown once, keep it now:\n%s\n", k.ID, k.Name, k.Role, agencySuffix(k.Agency), secret)
				return nil
			case args[0] == "list" && len(args) == 1:
				keys, err := cs.APIKeys(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tROLE\tAGENCY\tPREFIX\tSTATE")
				for _, k := range keys {
					state := "active"
					if k.RevokedAt != nil {
						state = "revoked"
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s…\t%s\n", k.ID, k.Name, k.Role, k.Agency, k.Prefix, state)
				}
				return tw.Flush()
			case args[0] == "revoke" && len(args) == 2:
				id, err := strconv.ParseInt(args[1], 10, 64)
				if err != nil {
					return usageError(use)
				}
				k, err := cs.RevokeAPIKey(ctx, id)
				if errors.Is(err, console.ErrNotFound) {
					return fmt.Errorf("no API key %d", id)
				}
				if err != nil {
					return err
				}
				if err := cliAudit(ctx, e, cs, "apikey.revoke", k.Name, `{"revoked":false}`, `{"revoked":true}`); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "API key %d %q revoked\n", k.ID, k.Name)
				return nil
			}
			return usageError(use)
		},
	}
}

// newRetentionCommand: `dvcbot retention run` applies DVCBOT_RETENTION now.
func newRetentionCommand() command {
	return command{
		name: "retention", args: "run",
		summary: "delete or strip personal data older than DVCBOT_RETENTION now (serve does it daily)",
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if len(args) != 1 || args[0] != "run" {
				return usageError("usage: dvcbot retention run")
			}
			db, err := openStore(ctx, cfg, newLogger(e.stderr, cfg.LogLevel))
			if err != nil {
				return err
			}
			defer db.Close()
			r, err := db.ApplyRetention(ctx, time.Now().Add(-cfg.Retention))
			if err != nil {
				return err
			}
			if err := db.Console().AppendAudit(ctx, console.AuditEntry{Actor: cliActor(e), Source: "cli", Action: "retention.run",
				Target: cfg.Retention.String(), After: fmt.Sprintf(`{"inbound":%d,"sessions":%d,"events":%d,"misses":%d,"outbox":%d}`,
					r.InboundStripped, r.SessionsDeleted, r.EventsRedacted, r.MissesStripped, r.OutboxStripped)}); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "retention %s: %d inbound messages stripped, %d sessions deleted, %d console sessions deleted, "+
				"%d event payloads redacted, %d search-miss texts stripped, %d outbox payloads stripped; audit log kept (%d entries)\n",
				cfg.Retention, r.InboundStripped, r.SessionsDeleted, r.ConsoleSessions, r.EventsRedacted, r.MissesStripped,
				r.OutboxStripped, r.AuditEntriesKept)
			return nil
		},
	}
}
