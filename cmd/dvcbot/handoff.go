package main

import (
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/handoff"
	"github.com/dvcbot/dvcbot/core/config"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/ticket"
)

// handoffConfig is the hand-off to a person's settings (issue 15).
type handoffConfig struct {
	Hours       ticket.Hours
	Idle        time.Duration
	Pause       time.Duration
	ZNSTemplate string
}

// handoffSettings are DVCBOT_WORKING_HOURS, DVCBOT_TICKET_IDLE,
// DVCBOT_HUMAN_PAUSE and DVCBOT_TICKET_ZNS_TEMPLATE.
func handoffSettings(c *Config) []config.Setting {
	h := &c.Handoff
	return []config.Setting{
		config.New("DVCBOT_WORKING_HOURS", "working-hours", ticket.DefaultWorkingHours,
			"officers' working hours in Asia/Ho_Chi_Minh, days and HH:MM-HH:MM (e.g. Mon-Fri 07:30-17:00, Mon-Fri,Sat 07:30-11:30): a citizen asking for a person is told when to expect an answer",
			func(v string) (err error) { h.Hours, err = ticket.ParseHours(v); return err }),
		config.New("DVCBOT_TICKET_IDLE", "ticket-idle", "7d",
			"an open hand-off ticket without messages this long is closed, with a message and the satisfaction question (7d, 48h…)",
			func(v string) error {
				d, err := parseDays(v)
				if err != nil || d < time.Second || d > 365*24*time.Hour {
					return errConfig("must be a duration from 1s to 365d, e.g. 7d or 48h")
				}
				h.Idle = d
				return nil
			}),
		config.New("DVCBOT_HUMAN_PAUSE", "human-pause", "30m",
			"how long the bot stays silent for a Zalo user after an OA admin wrote to them from the OA console",
			config.Duration(&h.Pause, time.Second, 7*24*time.Hour)),
		config.New("DVCBOT_TICKET_ZNS_TEMPLATE", "ticket-zns-template", "",
			"approved ZNS template id (parameters ma_phieu, noi_dung) for officers' answers to Zalo users outside the OA window; empty: SMS to a shared phone",
			config.String(&h.ZNSTemplate)),
	}
}

type errConfig string

func (e errConfig) Error() string { return string(e) }

// handoffRoute builds the hand-off desk, its idle job and the pipeline
// route (before the citizen bot); the console's inbox finds the desk with
// ticketDesk.
func (a *app) handoffRoute(tr *i18n.Catalog) inbound.Option {
	h := a.cfg.Handoff
	desk := ticket.New(ticket.Config{Store: a.db.Tickets(), Hours: h.Hours, Idle: h.Idle, Pause: h.Pause,
		ZNSTemplate: h.ZNSTemplate, Log: a.log})
	a.desk = desk
	a.runners = append(a.runners, desk.RunIdle)
	return inbound.WithRoute(handoff.Route(handoff.Config{Desk: desk, Sessions: a.db.Sessions(), Dossiers: a.db.Dossiers(),
		Procedures: a.db.Catalog(), Topic: citizen.Topic, AwaitsVerification: citizen.AwaitsVerification, Tr: tr, Log: a.log}))
}

// ticketDesk is the app's hand-off desk (nil when the route is not wired).
func (a *app) ticketDesk() *ticket.Desk { return a.desk }
