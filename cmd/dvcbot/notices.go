package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/notice"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// noticeConfig is the proactive notices' settings (issue 12).
type noticeConfig struct {
	Enabled      bool
	Statuses     notice.Statuses
	Quiet        notice.Window
	Templates    map[string]string
	SMSRate      int
	OverdueEvery time.Duration
}

// noticeSettings are the DVCBOT_NOTIFY_*, quiet-hours, ZNS template and
// pacing variables.
func noticeSettings(c *Config) []config.Setting {
	n := &c.Notices
	return []config.Setting{
		config.New("DVCBOT_NOTICES", "notices", "true",
			"send proactive notices to citizens when their dossier moves (queued with the status event, sent by the outbox workers)",
			config.Bool(&n.Enabled)),
		config.New("DVCBOT_NOTIFY_STATUSES", "notify-statuses", notice.DefaultStatuses,
			"dossier statuses (1-10) that notify the applicant, and overdue for the daily apology of a missed appointment date",
			func(v string) (err error) { n.Statuses, err = notice.ParseStatuses(v); return err }),
		config.New("DVCBOT_QUIET_HOURS", "quiet-hours", notice.DefaultQuietHours,
			"HH:MM-HH:MM in Asia/Ho_Chi_Minh (may cross midnight; start inclusive, end exclusive) when no SMS or Zalo notice leaves; held ones leave at the end; off for none",
			func(v string) (err error) { n.Quiet, err = notice.ParseWindow(v); return err }),
		config.New("DVCBOT_ZNS_TEMPLATES", "zns-templates", "",
			"approved ZNS template ids per notice kind, e.g. ready=231677,supplement=231678 (kinds received, refused, supplement, fee, stopped, ready, returned, rating, overdue); a kind without one goes by SMS outside Zalo's window",
			func(v string) (err error) { n.Templates, err = notice.ParseTemplates(v); return err }),
		config.New("DVCBOT_SMS_SEND_RATE", "sms-send-rate", "30",
			"outbound SMS a second the gateway takes, shared by every replica (a slot schedule in the database)",
			config.Int(&n.SMSRate, 1, 10000)),
		config.New("DVCBOT_OVERDUE_EVERY", "overdue-every", "1h",
			"how often the overdue job looks for dossiers past their appointment (one apology per appointment date whatever the frequency)",
			config.Duration(&n.OverdueEvery, time.Minute, 24*time.Hour)),
	}
}

// noticePolicy builds the policy from the configuration.
func noticePolicy(cfg Config, tr *i18n.Catalog) *notice.Policy {
	return notice.New(notice.Config{Statuses: cfg.Notices.Statuses, Quiet: cfg.Notices.Quiet, Templates: cfg.Notices.Templates}, tr)
}

// wireNotices turns on proactive notices (ingestion queues them in the
// event's transaction; the senders are guarded and SMS paced; the notices
// API and the overdue job), then starts the outbox workers.
func (a *app) wireNotices(_ context.Context) error {
	if !a.cfg.Notices.Enabled {
		a.log.Info("DVCBOT_NOTICES is off: no proactive notices")
		return a.wireOutbox()
	}
	metrics := notice.NewMetrics(a.reg)
	policy := noticePolicy(a.cfg, a.tr)
	ns := a.db.EnableNotices(policy, metrics)
	guard := notice.NewGuard(ns, policy, notice.WithGuardLogger(a.log), notice.WithGuardMetrics(metrics),
		notice.WithPacer(notice.NewPacer(ns, "sms", a.cfg.Notices.SMSRate, a.log)))
	a.senders = guard.WrapAll(a.senders)
	notice.NewAPI(ns, []byte(a.cfg.DossierSecret), nil, a.log).Register(a.mux)
	if a.cfg.Notices.Statuses.Overdue {
		every := a.cfg.Notices.OverdueEvery
		a.runners = append(a.runners, func(ctx context.Context) error { return notice.RunOverdue(ctx, ns, every, nil, a.log) })
	}
	a.log.Info("proactive notices on", "quiet_hours", a.cfg.Notices.Quiet.String(), "sms_rate", a.cfg.Notices.SMSRate,
		"zns_templates", len(a.cfg.Notices.Templates))
	return a.wireOutbox()
}

func newNoticesCommand() command {
	var code *string
	var limit *int
	var since *time.Duration
	return command{
		name: "notices", args: "list|stats [--dossier CODE] [--limit N] [--since 24h]",
		summary: "show proactive notices (per dossier, or the latest) and counts by kind, channel and state",
		flags: func(fs *flag.FlagSet) {
			code = fs.String("dossier", "", "only this dossier's notices (list)")
			limit = fs.Int("limit", 50, "how many of the latest notices (list without --dossier)")
			since = fs.Duration("since", 24*time.Hour, "count notices queued in this past window (stats)")
		},
		run: func(ctx context.Context, e env, cfg Config, args []string) error {
			if len(args) != 1 || (args[0] != "list" && args[0] != "stats") {
				return usageError("usage: dvcbot notices list [--dossier CODE] [--limit N] | stats [--since 24h]")
			}
			db, err := openStore(ctx, cfg, newLogger(e.stderr, cfg.LogLevel))
			if err != nil {
				return err
			}
			defer db.Close()
			ns := db.Notices(nil, nil)
			w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			defer w.Flush()
			if args[0] == "stats" {
				rows, err := ns.Stats(ctx, time.Now().Add(-*since))
				if err != nil {
					return err
				}
				fmt.Fprintln(w, "KIND\tCHANNEL\tSTATE\tCOUNT")
				for _, r := range rows {
					fmt.Fprintf(w, "%s\t%s\t%s\t%d\n", r.Kind, r.Channel, r.State, r.Count)
				}
				return nil
			}
			c := ""
			if *code != "" {
				if c, err = vntext.NormalizeDossierCode(*code, time.Now()); err != nil {
					return usageError(fmt.Sprintf("--dossier %q is not a dossier code", *code))
				}
			}
			views, err := ns.List(ctx, c, *limit)
			if err != nil {
				return err
			}
			fmt.Fprintln(w, "DOSSIER\tKIND\tCHANNEL\tSTATE\tQUEUED\tSENT\tDELIVERED\tNOTE")
			for _, v := range views {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", v.DossierCode, v.Kind, v.Channel, v.State,
					stamp(&v.QueuedAt), stamp(v.SentAt), stamp(v.DeliveredAt), v.Reason)
			}
			return nil
		},
	}
}

func stamp(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return t.In(vntext.VietnamTime()).Format("2006-01-02 15:04:05")
}
