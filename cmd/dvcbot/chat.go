package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/phone"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// newChatCommand talks to the citizen bot from a terminal: one line in, the
// reply out. --sms renders replies as the SMS channel would (with the sender
// --phone); --user picks the session.
func newChatCommand() command {
	var sms *bool
	var from, user *string
	return command{
		name: "chat", args: "[--sms] [--phone N] [--user ID]",
		summary: "talk to the citizen bot from the terminal (same database as serve)",
		flags: func(fs *flag.FlagSet) {
			sms = fs.Bool("sms", false, "render replies as SMS (accent-free, 2 segments)")
			from = fs.String("phone", "", "sender phone number (the applicant check uses it)")
			user = fs.String("user", "operator", "session user id")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			return runChat(ctx, e, cfg, *sms, *from, *user)
		},
	}
}

func runChat(ctx context.Context, e env, cfg Config, sms bool, from, user string) error {
	log := newLogger(e.stderr, cfg.LogLevel)
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := seedDemo(ctx, cfg, db, log); err != nil {
		return err
	}
	tr, err := i18n.New()
	if err != nil {
		return err
	}
	holder, err := buildSearch(ctx, db)
	if err != nil {
		return err
	}
	bot := citizen.New(db.Dossiers(), db.Catalog(), holder, db.Ratings(), db.Sessions(), tr, citizen.WithLogger(log),
		citizen.WithRateLimit(1000), citizen.WithMaxLen(cfg.MaxMessageLen))
	caps, channel := message.RichCaps(), message.Terminal
	var normPhone string
	if from != "" {
		if normPhone, err = phone.Normalize(from); err != nil {
			return usageError(err.Error())
		}
	}
	if sms {
		caps, channel = message.SMSCaps(2, false), message.SMS
		if normPhone != "" {
			user = normPhone
		}
	}
	print := func(r message.Reply) {
		fmt.Fprintln(e.stdout, r.Text)
		for i, c := range r.Choices {
			fmt.Fprintf(e.stdout, "  [%d] %s  → %s\n", i+1, c.Label, c.Value)
		}
		if caps.Plain && r.Text != "" {
			n := vntext.CountSMS(r.Text)
			fmt.Fprintf(e.stdout, "  (%s, %d segments)\n", n.Encoding, n.Segments)
		}
	}
	print(bot.Welcome(ctx, channel, user, caps))
	sc := bufio.NewScanner(e.stdin)
	for fmt.Fprint(e.stdout, "> "); sc.Scan(); fmt.Fprint(e.stdout, "> ") {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if line == "/quit" || line == "/exit" {
			break
		}
		print(bot.Handle(ctx, message.Inbound{Channel: channel, UserID: user, Phone: normPhone, Text: line, Time: time.Now().UTC()}, caps))
	}
	fmt.Fprintln(e.stdout)
	return sc.Err()
}
