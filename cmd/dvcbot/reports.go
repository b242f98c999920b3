package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/dvcbot/dvcbot/core/console"
	"github.com/dvcbot/dvcbot/store/ratingdemo"
)

// wireReports gives the console its satisfaction reports (pages, exports,
// the public scoreboard /cong-khai and the ratings feed /api/v1/ratings),
// after adding the facts of ratings saved before the reports existed.
func (a *app) wireReports(ctx context.Context, cfg *console.Config) {
	if n, err := a.db.SyncRatingFacts(ctx); err != nil {
		a.log.Error("reports: adding the facts of older ratings", "error", err)
	} else if n > 0 {
		a.log.Info("reports: facts added for older ratings", "ratings", n)
	}
	cfg.Reports = a.db.Reports()
}

// newDemoCommand: `dvcbot demo ratings --n N`.
func newDemoCommand() command {
	var n, days *int
	var seed *uint64
	var fset *flag.FlagSet
	const use = "usage: dvcbot demo ratings --n N [--days D] [--seed S]"
	return command{
		name: "demo", args: "ratings --n N [--days D] [--seed S]",
		summary: "add N realistic demo ratings with their dossiers (20 agencies, the demo catalogue, four channels) to the configured database",
		flags: func(fs *flag.FlagSet) {
			fset = fs
			n = fs.Int("n", 0, "how many ratings to add (required)")
			days = fs.Int("days", 730, "spread the ratings over this many days before now")
			seed = fs.Uint64("seed", uint64(time.Now().UnixNano()), "random seed (the same seed on an empty database gives the same data)")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if len(args) != 1 || args[0] != "ratings" || !set(fset, "n") || *n < 1 || *days < 1 {
				return usageError(use)
			}
			db, err := openStore(ctx, cfg, newLogger(e.stderr, cfg.LogLevel))
			if err != nil {
				return err
			}
			defer db.Close()
			start := time.Now()
			last := start
			added, err := ratingdemo.Add(ctx, db, *n, *seed, time.Now(), *days, func(done int) {
				if time.Since(last) > 5*time.Second {
					last = time.Now()
					fmt.Fprintf(e.stderr, "%d / %d\n", done, *n)
				}
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "added %d ratings with their dossiers in %s\n", added, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}

// set reports whether the flag was given.
func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}
