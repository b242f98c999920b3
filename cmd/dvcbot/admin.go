package main

import (
	"context"
	"fmt"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
)

func cmdMigrate(ctx context.Context, e env, cfg Config, args []string) error {
	if len(args) > 0 {
		return usageError("migrate takes no arguments")
	}
	log := newLogger(e.stderr, cfg.LogLevel)
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(e.stdout, "database (%s) is up to date\n", db.Dialect())
	return nil
}

func cmdImport(ctx context.Context, e env, cfg Config, args []string) error {
	if len(args) != 2 || args[0] != "procedures" {
		return usageError("usage: dvcbot import procedures FILE.jsonl")
	}
	procs, err := catalog.ReadFile(args[1])
	if err != nil {
		return err
	}
	log := newLogger(e.stderr, cfg.LogLevel)
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	sum, err := catalog.Import(ctx, db.Catalog(), procs, "import:"+args[1], time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %s\n", args[1], sum)
	return nil
}
