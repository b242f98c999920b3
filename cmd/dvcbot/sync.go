package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/mail"
	"time"

	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/phone"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
)

// newSyncCommand: `dvcbot sync --once` syncs now, delivers the alerts it
// queued and prints a summary; `--status` prints the last run.
func newSyncCommand() command {
	var once, status *bool
	return command{
		name: "sync", args: "--once | --status",
		summary: "run one catalogue sync from the national database now (and send its alerts), or show the last run",
		flags: func(fs *flag.FlagSet) {
			once = fs.Bool("once", false, "run one sync now")
			status = fs.Bool("status", false, "print the last sync run")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if *once == *status || len(args) > 0 {
				return usageError("usage: dvcbot sync --once | --status")
			}
			log := newLogger(e.stderr, cfg.LogLevel)
			db, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer db.Close()
			if *status {
				run, ok, err := db.Sync().LastRun(ctx)
				if err != nil {
					return err
				}
				if !ok {
					fmt.Fprintln(e.stdout, "no sync has run yet")
					return nil
				}
				printRun(e, run)
				return nil
			}
			if cfg.NationalDBURL == nil {
				return usageError("DVCBOT_NATIONALDB_URL is not set")
			}
			syncer, err := newSyncer(cfg, db, log, nil)
			if err != nil {
				return err
			}
			sum, err := syncer.RunOnce(ctx)
			if errors.Is(err, catalogsync.ErrBusy) {
				return fmt.Errorf("another process is syncing; try again later")
			}
			if err != nil {
				return err
			}
			printRun(e, sum.Run)
			if sum.Skipped > 0 {
				fmt.Fprintf(e.stdout, "skipped (listed but unknown upstream): %d\n", sum.Skipped)
			}
			return deliverNow(ctx, e, cfg, db, log)
		},
	}
}

func printRun(e env, r catalogsync.Run) {
	loc := vntext.VietnamTime()
	fmt.Fprintf(e.stdout, "sync run %d: %s\n", r.ID, r.State)
	fmt.Fprintf(e.stdout, "window: %s – %s\n", r.WindowStart.In(loc).Format(time.DateTime), r.WindowEnd.In(loc).Format(time.DateTime))
	fmt.Fprintf(e.stdout, "fetched %d: %d new, %d modified, %d cancelled, %d restored; %d alerts queued\n",
		r.Fetched, r.New, r.Modified, r.Cancelled, r.Restored, r.Alerts)
	if r.Error != "" {
		fmt.Fprintf(e.stdout, "error: %s\n", r.Error)
	}
}

// deliverNow drains the outbox once with the configured senders.
func deliverNow(ctx context.Context, e env, cfg Config, db *store.DB, log *slog.Logger) error {
	senders := outboxSenders(cfg, db)
	if len(senders) == 0 {
		return nil
	}
	w := notify.NewWorker(db.Outbox(), senders, append(workerOptions(cfg), notify.WithWorkerLogger(log))...)
	sent := 0
	for {
		n, err := w.RunOnce(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		sent += n
	}
	fmt.Fprintf(e.stdout, "outbox: %d messages handled\n", sent)
	return nil
}

// newAlertsCommand manages the alert subscriptions stored in the database.
func newAlertsCommand() command {
	var emailAddr, phoneNo, name *string
	return command{
		name: "alerts", args: "subscribe|unsubscribe|list [--email A | --phone N] [--name N]",
		summary: "manage who receives change alerts (besides DVCBOT_ALERT_EMAILS and DVCBOT_ALERT_PHONES)",
		flags: func(fs *flag.FlagSet) {
			emailAddr = fs.String("email", "", "email address")
			phoneNo = fs.String("phone", "", "phone number")
			name = fs.String("name", "", "who this is (for the list)")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if len(args) != 1 {
				return usageError("usage: dvcbot alerts subscribe|unsubscribe|list [--email A | --phone N]")
			}
			log := newLogger(e.stderr, cfg.LogLevel)
			db, err := openStore(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer db.Close()
			if args[0] == "list" {
				subs, err := db.Sync().Subscribers(ctx)
				if err != nil {
					return err
				}
				for _, s := range subs {
					fmt.Fprintf(e.stdout, "%s\t%s\n", s.Kind, s.Address)
				}
				return nil
			}
			kind, addr := "", ""
			switch {
			case *emailAddr != "" && *phoneNo == "":
				a, err := mail.ParseAddress(*emailAddr)
				if err != nil {
					return usageError(fmt.Sprintf("--email %q is not an email address", *emailAddr))
				}
				kind, addr = notify.Email, a.Address
			case *phoneNo != "" && *emailAddr == "":
				n, err := phone.Normalize(*phoneNo)
				if err != nil {
					return usageError(fmt.Sprintf("--phone %q is not a Vietnamese phone number", *phoneNo))
				}
				kind, addr = notify.SMS, n
			default:
				return usageError("give exactly one of --email or --phone")
			}
			switch args[0] {
			case "subscribe":
				if err := db.Sync().Subscribe(ctx, kind, addr, *name); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "%s %s subscribed\n", kind, addr)
			case "unsubscribe":
				ok, err := db.Sync().Unsubscribe(ctx, kind, addr)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("%s %s was not subscribed", kind, addr)
				}
				fmt.Fprintf(e.stdout, "%s %s unsubscribed\n", kind, addr)
			default:
				return usageError("usage: dvcbot alerts subscribe|unsubscribe|list")
			}
			return nil
		},
	}
}
