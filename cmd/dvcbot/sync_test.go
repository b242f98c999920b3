package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/channels/email/emailtest"
	"github.com/dvcbot/dvcbot/core/nationaldb/nationaldbtest"
)

func upstreamRecord(i int) map[string]any {
	return map[string]any{"id_hethong": 5000 + i, "maso": fmt.Sprintf("1.%06d", 500+i),
		"ten": fmt.Sprintf("Thủ tục thử nghiệm số %d", i), "linh_vuc": "Hộ tịch", "phi": "Miễn phí",
		"thoi_han": "03 ngày làm việc", "co_quan_thuc_hien": "UBND cấp xã"}
}

// kannelSendsms stands for Kannel's /cgi-bin/sendsms.
type kannelSendsms struct {
	mu    sync.Mutex
	texts []string
}

func (k *kannelSendsms) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.texts = append(k.texts, r.URL.Query().Get("to")+": "+r.URL.Query().Get("text"))
	k.mu.Unlock()
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, "0: Accepted for delivery")
}

func (k *kannelSendsms) sent() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]string(nil), k.texts...)
}

// The done criterion, through the binary's own command: against an
// upstream that follows the contract, `dvcbot sync --once` imports
// everything; after two fee changes, a cancellation and an addition the next
// run sends each address one digest naming the four changes and each phone
// one SMS; a third run sends nothing — also with 20 % of requests failing.
func TestSyncOnceCommand(t *testing.T) {
	for _, failRate := range []float64{0, 0.2} {
		t.Run(fmt.Sprintf("fail rate %.0f%%", failRate*100), func(t *testing.T) {
			fake := nationaldbtest.New(time.Now().Add(-time.Hour))
			fake.PageSize = 9
			for i := range 40 {
				fake.Put(upstreamRecord(i))
			}
			fake.FailRate = failRate
			up := fake.Server()
			defer up.Close()
			smtp := emailtest.Start(t)
			kannel := &kannelSendsms{}
			gw := httptest.NewServer(kannel)
			defer gw.Close()
			env := map[string]string{
				"DVCBOT_DATABASE_URL": filepath.Join(t.TempDir(), "x.db"), "DVCBOT_NATIONALDB_URL": up.URL, "DVCBOT_NATIONALDB_DEPT": "20799",
				"DVCBOT_SMTP_URL": "smtp://" + smtp.User + ":" + smtp.Pass + "@" + smtp.Addr, "DVCBOT_SMTP_CA_FILE": smtp.CAFile,
				"DVCBOT_ALERT_FROM": "dvcbot <alerts@dvc.example.gov.vn>", "DVCBOT_ALERT_EMAILS": "ttdvc@danang.gov.vn, cntt@danang.gov.vn",
				"DVCBOT_ALERT_PHONES": "0905123456", "DVCBOT_SMS_SEND_URL": "http://u:p@" + strings.TrimPrefix(gw.URL, "http://") + "/cgi-bin/sendsms",
				"DVCBOT_LOG_LEVEL": "error",
			}
			code, out, stderr := runCmd(t, env, "sync", "--once")
			if code != 0 || !strings.Contains(out, "fetched 40: 40 new") {
				t.Fatalf("first sync: %d\n%s\n%s", code, out, stderr)
			}
			firstMails, firstSMS := len(smtp.Messages()), len(kannel.sent())

			fake.SetClock(time.Now().Add(-time.Minute))
			fake.Update(5003, map[string]any{"phi": "50.000 đồng"})
			fake.Update(5004, map[string]any{"phi": "8.000 đồng"})
			fake.Update(5005, map[string]any{"trang_thai": "huy_bo"})
			fake.Put(upstreamRecord(99))
			code, out, stderr = runCmd(t, env, "sync", "--once")
			if code != 0 || !strings.Contains(out, "1 new, 2 modified, 1 cancelled") {
				t.Fatalf("second sync: %d\n%s\n%s", code, out, stderr)
			}
			mails := smtp.Messages()[firstMails:]
			to := map[string]int{}
			for _, m := range mails {
				to[m.To[0]]++
				body := string(m.Data)
				for _, want := range []string{"1.000503", "1.000504", "1.000505", "1.000599"} {
					if !strings.Contains(body, want) {
						t.Fatalf("digest lacks %s", want)
					}
				}
			}
			if len(mails) != 2 || to["ttdvc@danang.gov.vn"] != 1 || to["cntt@danang.gov.vn"] != 1 {
				t.Fatalf("second sync mailed %v", to)
			}
			sms := kannel.sent()[firstSMS:]
			if len(sms) != 1 || !strings.HasPrefix(sms[0], "84905123456: ") || !strings.Contains(sms[0], "1.000503 (phi)") {
				t.Fatalf("second sync SMS %q", sms)
			}

			code, out, _ = runCmd(t, env, "sync", "--once")
			if code != 0 || !strings.Contains(out, "0 new, 0 modified, 0 cancelled") ||
				len(smtp.Messages()) != firstMails+2 || len(kannel.sent()) != firstSMS+1 {
				t.Fatalf("third sync sent something: %s", out)
			}
			if code, out, _ := runCmd(t, env, "sync", "--status"); code != 0 || !strings.Contains(out, ": ok") {
				t.Fatalf("status: %s", out)
			}
		})
	}
}

func TestSyncConfiguration(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"DVCBOT_SYNC_INTERVAL": "9h"}, "fewer than 3 syncs a day"},
		{map[string]string{"DVCBOT_NATIONALDB_URL": "http://x"}, "DVCBOT_NATIONALDB_DEPT"},
		{map[string]string{"DVCBOT_SMTP_URL": "smtp://h:587"}, "DVCBOT_ALERT_FROM"},
		{map[string]string{"DVCBOT_SMTP_URL": "mail://h"}, "DVCBOT_SMTP_URL"},
		{map[string]string{"DVCBOT_ALERT_EMAILS": "a@b.vn"}, "DVCBOT_SMTP_URL"},
		{map[string]string{"DVCBOT_ALERT_EMAILS": "not an address"}, "DVCBOT_ALERT_EMAILS"},
		{map[string]string{"DVCBOT_ALERT_PHONES": "0905123456"}, "DVCBOT_SMS_SEND_URL"},
		{map[string]string{"DVCBOT_ALERT_PHONES": "12"}, "DVCBOT_ALERT_PHONES"},
	} {
		code, _, stderr := runCmd(t, tc.env, "sync", "--status")
		if code != exitConfig || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, %q; want exit 2 naming %s", tc.env, code, stderr, tc.want)
		}
	}
	if code, _, _ := runCmd(t, map[string]string{"DVCBOT_DATABASE_URL": filepath.Join(t.TempDir(), "y.db")}, "sync", "--once"); code != exitConfig {
		t.Errorf("sync --once without an upstream: exit %d", code)
	}
}
