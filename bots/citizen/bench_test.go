package citizen_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// The per-message cost of the bot with its real store: session load and
// save, dossier or catalogue look-ups, i18n, rendering.
func BenchmarkBot(b *testing.B) {
	for _, backend := range storetest.Backends() {
		h := newHarness(b, backend.Open(b), citizenRateLimitOff())
		for _, tc := range []struct {
			name string
			text string
			caps message.Capabilities
		}{
			{"status/web", "DVC " + codeOpen, message.RichCaps()},
			{"status/sms", "dvc " + codeOpen, message.SMSCaps(2, false)},
			{"search/web", "tim cap lai can cuoc", message.RichCaps()},
			{"search/sms", "dang ky ket hon voi nguoi nuoc ngoai", message.SMSCaps(2, false)},
		} {
			b.Run(backend.Name+"/"+tc.name, func(b *testing.B) {
				ctx := context.Background()
				i := 0
				for b.Loop() {
					i++
					in := message.Inbound{Channel: message.WebChat, UserID: "bench-" + strconv.Itoa(i%64), Text: tc.text, Time: h.now}
					if r := h.bot.Handle(ctx, in, tc.caps); r.Text == "" {
						b.Fatal("empty reply")
					}
				}
			})
		}
	}
}

func citizenRateLimitOff() citizen.Option { return citizen.WithRateLimit(1 << 30) }
