package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
)

// kannelBinary finds a Kannel program; `make test` installs Debian's kannel
// and kannel-extras. A missing one fails the test: it is never skipped.
func kannelBinary(t *testing.T, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/usr/lib/kannel/test/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatalf("%s not found: run the suite with `make test`, which installs Debian's kannel and kannel-extras", name)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	var n int
	fmt.Sscan(port, &n)
	return n
}

// kannel is a bearerbox + smsbox pair with a fake SMSC, on loopback.
type kannel struct {
	dir                                  string
	adminPort, boxPort, smscPort, mtPort int
}

const kannelKey = "kannel-e2e-key-1"

func startKannel(t *testing.T, dvcbotBase string, ports kannel) *kannel {
	t.Helper()
	k := &ports
	k.dir = t.TempDir()
	conf := fmt.Sprintf(`group = core
admin-port = %[1]d
admin-password = secret
smsbox-port = %[2]d
admin-allow-ip = "127.0.0.1"
box-allow-ip = "127.0.0.1"
log-file = "%[5]s/bearerbox.log"
log-level = 1

group = smsc
smsc = fake
smsc-id = fake
port = %[3]d
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = %[2]d
sendsms-port = %[4]d
mo-recode = true
log-file = "%[5]s/smsbox.log"
log-level = 1

group = sms-service
keyword = default
get-url = "%[6]s/channels/sms/kannel?sender=%%p&to=%%P&text=%%b&id=%%I&ts=%%T&coding=%%c&charset=%%C&key=%[7]s"
max-messages = 10
concatenation = true
omit-empty = true
accept-x-kannel-headers = true

group = sendsms-user
username = tester
password = foobar
max-messages = 3
concatenation = true
`, k.adminPort, k.boxPort, k.smscPort, k.mtPort, k.dir, dvcbotBase, kannelKey)
	path := filepath.Join(k.dir, "kannel.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, prog := range []string{"bearerbox", "smsbox"} {
		cmd := exec.Command(kannelBinary(t, prog), path)
		out, _ := os.Create(filepath.Join(k.dir, prog+".out"))
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", prog, err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); out.Close() })
		if prog == "bearerbox" {
			waitPort(t, k.boxPort, k.dir)
		}
	}
	waitPort(t, k.mtPort, k.dir) // smsbox is up once its sendsms port listens
	return k
}

func waitPort(t *testing.T, port int, dir string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	logs, _ := os.ReadFile(filepath.Join(dir, "bearerbox.out"))
	t.Fatalf("port %d never opened; bearerbox said:\n%s", port, logs)
}

var fakeLine = regexp.MustCompile(`Got message \d+: <(\S+) (\S+) (text|udh (\S+) data) (.*)>$`)

// mt is one message the fake SMSC received from Kannel.
type mt struct {
	from, to, text string
	parts          int
}

// phoneSession runs fakesmsc sending msgs (fakesmsc's format) and collects
// what comes back, reassembling concatenated parts.
func phoneSession(t *testing.T, k *kannel, wantReplies int, msgs ...string) []mt {
	t.Helper()
	args := []string{"-H", "127.0.0.1", "-r", fmt.Sprint(k.smscPort), "-i", "0.5", "-m", fmt.Sprint(len(msgs))}
	cmd := exec.Command(kannelBinary(t, "fakesmsc"), append(args, msgs...)...)
	stdout, _ := cmd.StderrPipe()
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var out []mt
	partial := map[string][]string{}
	timeout := time.After(30 * time.Second)
	for len(out) < wantReplies {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("fakesmsc ended after %d replies", len(out))
			}
			m := fakeLine.FindStringSubmatch(l)
			if m == nil {
				continue
			}
			if m[3] == "text" {
				out = append(out, mt{from: m[1], to: m[2], text: m[5], parts: 1})
				continue
			}
			udh, _ := url.QueryUnescape(m[4])
			data, _ := url.QueryUnescape(m[5])
			if len(udh) != 6 {
				t.Fatalf("unexpected UDH %q", m[4])
			}
			ref, total, seq := udh[3], int(udh[4]), int(udh[5])
			keyRef := fmt.Sprint(m[2], ref)
			if partial[keyRef] == nil {
				partial[keyRef] = make([]string, total)
			}
			partial[keyRef][seq-1] = data
			if complete(partial[keyRef]) {
				out = append(out, mt{from: m[1], to: m[2], text: strings.Join(partial[keyRef], ""), parts: total})
				delete(partial, keyRef)
			}
		case <-timeout:
			t.Fatalf("no complete reply within 30 s (got %d)", len(out))
		}
	}
	return out
}

func complete(parts []string) bool {
	for _, p := range parts {
		if p == "" {
			return false
		}
	}
	return true
}

func ucs2URL(s string) string {
	var b strings.Builder
	for _, u := range utf16.Encode([]rune(s)) {
		fmt.Fprintf(&b, "%%%02X%%%02X", u>>8, u&0xff)
	}
	return b.String()
}

// A citizen's SMS through a real Kannel (bearerbox + smsbox + fakesmsc): the
// status of a dossier pushed through the API, a search, a UCS-2 MO, and an
// outbound MT whose delivery report comes back.
func TestSMSThroughRealKannel(t *testing.T) {
	ports := kannel{adminPort: freePort(t), boxPort: freePort(t), smscPort: freePort(t), mtPort: freePort(t)}
	dbPath := filepath.Join(t.TempDir(), "dvcbot.db")
	base, _ := startServe(t, map[string]string{
		"DVCBOT_DATABASE_URL": dbPath, "DVCBOT_DOSSIER_SECRET": testSecret, "DVCBOT_SMS_KEY": kannelKey,
		"DVCBOT_SMS_SEND_URL": fmt.Sprintf("http://tester:foobar@127.0.0.1:%d/cgi-bin/sendsms", ports.mtPort),
		"DVCBOT_NOTICES":      "false", // proactive notices have their own tests (core/notice)
	})
	k := startKannel(t, base, ports)
	if code, body := postEvent(t, base, eventJSON("sms-1", "000.00.20.H17-261121-0077", "CHO_BO_SUNG"), testSecret); code != 200 {
		t.Fatalf("pushing a dossier: %d %s", code, body)
	}

	replies := phoneSession(t, k, 1, "0905123456 8188 text dvc 000.00.20.h17-261121-0077")
	r := replies[0]
	if r.to != "0905123456" || r.from != "8188" {
		t.Fatalf("reply addressed %s → %s", r.from, r.to)
	}
	for _, want := range []string{"Ho so 000.00.20.H17-261121-0077", "Can bo sung, hoan thien ho so", "Nguyen Van An", "Chuyen phong Tu phap"} {
		if !strings.Contains(r.text, want) {
			t.Fatalf("status reply lacks %q:\n%s", want, r.text)
		}
	}
	if !vntext.IsGSM7(r.text) || r.parts > 2 || vntext.CountSMS(r.text).Segments > 2 {
		t.Fatalf("reply not accent-free within 2 segments (%d parts): %q", r.parts, r.text)
	}

	replies = phoneSession(t, k, 1, "0912000111 8188 text tim dang ky khai sinh")
	if !strings.Contains(replies[0].text, "dang ky khai sinh (1.001193)") || strings.Contains(replies[0].text, "Nguyen Van An") {
		t.Fatalf("search reply:\n%s", replies[0].text)
	}

	replies = phoneSession(t, k, 1, "0912000111 8188 ucs2 "+ucs2URL("Tìm cấp lại căn cước"))
	if !strings.Contains(replies[0].text, "Cap lai the can cuoc") {
		t.Fatalf("UCS-2 MO reply:\n%s", replies[0].text)
	}

	// Outbound: a queued SMS goes out through sendsms; the fake SMSC's
	// delivery report reaches /channels/sms/dlr.
	db, err := store.Open(context.Background(), dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Outbox().Enqueue(context.Background(), notify.Message{Kind: notify.SMS, Recipient: "84905123456",
		DedupeKey: "e2e-mt-1", Payload: notify.Payload{Text: "Hồ sơ 000.00.20.H17-261121-0077 đã có kết quả"}}); err != nil {
		t.Fatal(err)
	}
	got := phoneSession(t, k, 2, "0905123456 8188 text HD") // the help reply and the MT, in any order
	found := false
	for _, m := range got {
		found = found || (m.to == "84905123456" && m.text == "Ho so 000.00.20.H17-261121-0077 da co ket qua")
	}
	if !found {
		t.Fatalf("the queued MT did not arrive: %+v", got)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, _ := db.Outbox().Messages(context.Background(), notify.SMS)
		// The fake SMSC reports 8 (accepted) and, while the phone is still
		// connected, 1 (delivered): either proves the report came back.
		if len(msgs) == 1 && msgs[0].State == notify.Sent && (msgs[0].DeliveryStatus == "accepted" || msgs[0].DeliveryStatus == "delivered") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox row after sending: %+v", msgs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
