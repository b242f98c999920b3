// Command smsload measures MO messages per second through a running
// dvcbot's /channels/sms/kannel, the way smsbox calls it: status look-ups of
// existing dossiers from many phones, each MO with its own id (so every one
// goes through dedupe, the bot and a session write).
//
//	go run ./bench/smsload -url http://127.0.0.1:8080 -key KEY -n 20000 -c 32 -code 000.00.20.H17-261102-0004
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	base := flag.String("url", "http://127.0.0.1:8080", "dvcbot base URL")
	key := flag.String("key", "", "DVCBOT_SMS_KEY")
	n := flag.Int("n", 20000, "messages to send")
	c := flag.Int("c", 32, "concurrent requests (smsbox connections)")
	codes := flag.String("code", "000.00.20.H17-261102-0004,000.00.20.H17-261102-0005,000.00.20.H17-261102-0010", "dossier codes to ask about, comma-separated")
	run := flag.String("run", fmt.Sprint(time.Now().UnixNano()), "prefix of MO ids (unique per run)")
	flag.Parse()
	cs := strings.Split(*codes, ",")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c}, Timeout: 30 * time.Second}
	lat := make([]time.Duration, *n)
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range *c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= *n {
					return
				}
				q := url.Values{"sender": {fmt.Sprintf("09%08d", 10_000_000+i)}, "to": {"8188"},
					"text": {"DVC " + cs[i%len(cs)]}, "id": {fmt.Sprintf("%s-%d", *run, i)}, "ts": {fmt.Sprint(time.Now().Unix())},
					"coding": {"0"}, "charset": {"UTF-8"}, "key": {*key}}
				t0 := time.Now()
				resp, err := client.Get(*base + "/channels/sms/kannel?" + q.Encode())
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				lat[i] = time.Since(t0)
				if resp.StatusCode != 200 || !strings.Contains(string(body), "Ho so") {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(float64(len(lat))*p))] }
	fmt.Printf("messages %d, concurrency %d, failed %d\n", *n, *c, failed.Load())
	fmt.Printf("throughput %.0f msg/s over %s\n", float64(*n)/elapsed.Seconds(), elapsed.Round(time.Millisecond))
	fmt.Printf("latency p50 %s, p95 %s, p99 %s, max %s\n", pct(0.50).Round(time.Microsecond), pct(0.95).Round(time.Microsecond),
		pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	if failed.Load() > 0 {
		os.Exit(1)
	}
}
