package spool

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend measures durable appends (write + fsync, group-committed)
// of a 300-byte SMS-sized record on this machine's disk; appends/s is the
// figure to read. "goroutines=32" is an outage under load (32 handlers
// appending at once); "goroutines=1" is one fsync per append.
func BenchmarkAppend(b *testing.B) {
	data := []byte(`{"channel":"sms","id":"` + strings.Repeat("7", 20) + `","from":"+84901234567","to":"8079","text":"DVC 000.00.01.H12-240101-0001","received_at":"2026-01-01T00:00:00+07:00","meta":{"smsc":"viettel","coding":"0","charset":"utf-8"},"pad":"` + strings.Repeat("x", 60) + `"}`)
	for _, goroutines := range []int{1, 32} {
		b.Run(fmt.Sprintf("goroutines=%d", goroutines), func(b *testing.B) {
			s, err := Open(b.TempDir(), 1<<40, WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			var seq atomic.Int64
			b.SetBytes(Size(Record{Key: "sms:000000000000:+84901234567", Data: data}))
			b.SetParallelism(max(1, goroutines/runtime.GOMAXPROCS(0)))
			b.ResetTimer()
			if goroutines == 1 {
				for i := 0; b.Loop(); i++ {
					if err := s.Append(context.Background(), Record{Key: fmt.Sprintf("sms:%012d:+84901234567", i), Data: data}); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						i := seq.Add(1)
						if err := s.Append(context.Background(), Record{Key: fmt.Sprintf("sms:%012d:+84901234567", i), Data: data}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.StopTimer()
			s.mu.Lock()
			batches := s.batches
			s.mu.Unlock()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(b.N)/float64(max(batches, 1)), "appends/fsync")
		})
	}
}
