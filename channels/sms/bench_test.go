package sms_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/citizen/citizentest"
	"github.com/dvcbot/dvcbot/channels/channeltest"
	"github.com/dvcbot/dvcbot/channels/sms"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// BenchmarkKannelMO: one status look-up MO through the handler, with dedupe
// and session writes on Postgres (parallel, as smsbox's connections are).
func BenchmarkKannelMO(b *testing.B) {
	db := storetest.Postgres(b)
	bot, tr := citizentest.New(b, db, time.Now(), citizen.WithRateLimit(1<<30))
	mux := http.NewServeMux()
	sms.New(sms.Config{Key: key, AllowCIDRs: loopback()}, channeltest.Pipeline(db, bot, tr), sms.WithLogger(quiet)).Register(mux)
	var n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			r := kannelGet(fmt.Sprintf("09%08d", 10_000_000+i), "DVC "+code, fmt.Sprint("bench-", i), url.Values{})
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, r)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	})
	_ = http.StatusOK
}
