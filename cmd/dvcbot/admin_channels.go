package main

import (
	"context"
	"flag"
	"fmt"
	"net/mail"
	"strings"

	"github.com/dvcbot/dvcbot/bots/officer"
	"github.com/dvcbot/dvcbot/channels/zalo"
	"github.com/dvcbot/dvcbot/core/i18n"
)

// cmdZalo: `dvcbot zalo set-token REFRESH_TOKEN` seeds the OA refresh token
// an OA admin minted (consent flow or the console's API explorer).
func cmdZalo(ctx context.Context, e env, cfg Config, args []string) error {
	if len(args) != 2 || args[0] != "set-token" || strings.TrimSpace(args[1]) == "" {
		return usageError("usage: dvcbot zalo set-token REFRESH_TOKEN")
	}
	db, err := openStore(ctx, cfg, newLogger(e.stderr, cfg.LogLevel))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := zalo.SetRefreshToken(ctx, db.Credentials(), strings.TrimSpace(args[1])); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "refresh token stored; serve refreshes the access token on its next call")
	return nil
}

// newOfficerCommand: `dvcbot officer invite --name … --email …` prints a
// one-time code the officer sends to the Telegram bot (/start CODE).
func newOfficerCommand() command {
	var name, email *string
	return command{
		name: "officer", args: "invite --name N --email A",
		summary: "invite an officer: prints a one-time code that links their Telegram chat for change alerts and /sync",
		flags: func(fs *flag.FlagSet) {
			name = fs.String("name", "", "officer's name")
			email = fs.String("email", "", "officer's email")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if len(args) != 1 || args[0] != "invite" || strings.TrimSpace(*name) == "" {
				return usageError("usage: dvcbot officer invite --name N --email A")
			}
			if *email != "" {
				if _, err := mail.ParseAddress(*email); err != nil {
					return usageError(fmt.Sprintf("--email %q is not an email address", *email))
				}
			}
			db, err := openStore(ctx, cfg, newLogger(e.stderr, cfg.LogLevel))
			if err != nil {
				return err
			}
			defer db.Close()
			tr, err := i18n.New()
			if err != nil {
				return err
			}
			o, code, err := officer.New(db.Officers(), db.Sync(), tr).Invite(ctx, strings.TrimSpace(*name), *email)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "officer %d (%s): send /start %s to the Telegram bot within 7 days; the code works once\n", o.ID, o.Name, code)
			return nil
		},
	}
}
