package main

// Helpers of the fault tests (fault_test.go): a throwaway Postgres cluster
// that can be stopped and started, `dvcbot serve` as a subprocess that can
// be killed, a fake Kannel sendsms, and a ledger of the MOs sent and the
// answers they got. Every name starts with flt so as not to collide with
// the package's other test helpers.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

const (
	fltSMSKey   = "fault-test-key-0123456789"
	fltDossier  = "000.00.20.H17-261102-0004" // a demo dossier
	fltBusyLine = "He thong dang ban"         // the start of the spool's Kannel acknowledgement
)

// fltWaitFor polls cond on a ticker until it holds or timeout passes; it
// reports whether cond held.
func fltWaitFor(timeout, every time.Duration, cond func() bool) bool {
	if cond() {
		return true
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			return cond()
		case <-tick.C:
			if cond() {
				return true
			}
		}
	}
}

// fltWaitDuration lets d pass on a ticker (used to hold a fault for a
// while; the condition is the elapsed time).
func fltWaitDuration(d time.Duration) {
	start := time.Now()
	fltWaitFor(d+time.Second, 50*time.Millisecond, func() bool { return time.Since(start) >= d })
}

func fltFreePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// fltTail is the end of a log file, for failure messages.
func fltTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// ---- a throwaway Postgres cluster ----

type fltPostgres struct {
	t    *testing.T
	bin  string
	dir  string
	port int
}

func fltPostgresBin(t *testing.T) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { // newest major first
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi > vj
	})
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if fltExecutable(filepath.Join(d, "initdb")) && fltExecutable(filepath.Join(d, "pg_ctl")) {
			return d
		}
	}
	t.Fatal("the fault tests need Postgres's initdb and pg_ctl (looked in /usr/lib/postgresql/*/bin and $PATH): " +
		"install postgresql (apt-get install postgresql) — this test is never skipped")
	return ""
}

func fltExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// fltStartPostgres initialises and starts a private cluster on a free
// loopback port; cleanup stops it and removes its folder.
func fltStartPostgres(t *testing.T) *fltPostgres {
	t.Helper()
	p := &fltPostgres{t: t, bin: fltPostgresBin(t), port: fltFreePort(t)}
	// Not t.TempDir: its parents are 0700, and Postgres runs as another user.
	dir, err := os.MkdirTemp("", "dvcbot-fault-pg.")
	if err != nil {
		t.Fatal(err)
	}
	p.dir = dir
	t.Cleanup(func() {
		_ = p.pgctl(30*time.Second, "stop", "-m", "immediate")
		os.RemoveAll(dir)
	})
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, Postgres needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := p.run(60*time.Second, filepath.Join(p.bin, "initdb"), "-D", p.data(), "-U", "postgres", "-A", "trust", "--no-sync"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	return p
}

func (p *fltPostgres) data() string { return filepath.Join(p.dir, "data") }

// URL is the cluster's default database.
func (p *fltPostgres) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// run runs a Postgres program, as the postgres user when we are root.
func (p *fltPostgres) run(timeout time.Duration, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", prog}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, prog, args...)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (p *fltPostgres) pgctl(timeout time.Duration, args ...string) error {
	out, err := p.run(timeout, filepath.Join(p.bin, "pg_ctl"), append([]string{"-D", p.data()}, args...)...)
	if err != nil {
		return fmt.Errorf("pg_ctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (p *fltPostgres) start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", p.port, p.dir)
	if err := p.pgctl(60*time.Second, "-o", opts, "-l", filepath.Join(p.dir, "log"), "-w", "-t", "50", "start"); err != nil {
		p.t.Fatalf("starting Postgres: %v\n%s", err, fltTail(filepath.Join(p.dir, "log"), 2000))
	}
}

func (p *fltPostgres) stop(mode string) {
	p.t.Helper()
	if err := p.pgctl(60*time.Second, "-m", mode, "-w", "-t", "50", "stop"); err != nil {
		p.t.Fatalf("stopping Postgres: %v", err)
	}
}

// ---- the binary and its process ----

// fltBuild builds dvcbot (without -race: it is the system under load, not
// under test for data races here) into a temp folder.
func fltBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "dvcbot")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// fltServe is one `dvcbot serve` at a time on a fixed address; it can be
// killed and started again with the same environment.
type fltServe struct {
	t    *testing.T
	bin  string
	env  []string
	base string
	logs string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

func fltNewServe(t *testing.T, bin string, env map[string]string) *fltServe {
	t.Helper()
	s := &fltServe{t: t, bin: bin, logs: filepath.Join(t.TempDir(), "serve.log")}
	listen := env["DVCBOT_LISTEN"]
	s.base = "http://" + listen
	s.env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "TZ=Asia/Ho_Chi_Minh"}
	for k, v := range env {
		s.env = append(s.env, k+"="+v)
	}
	t.Cleanup(func() { s.kill() })
	return s
}

// start runs serve and waits until /healthz answers (serve listens only
// once it is wired).
func (s *fltServe) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.mu.Lock()
	s.starts++
	fmt.Fprintf(logf, "==== start %d at %s\n", s.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.CommandContext(context.Background(), s.bin, "serve")
	cmd.Env = s.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.mu.Unlock()
		logf.Close()
		s.t.Fatalf("starting serve: %v", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()

	client := &http.Client{Timeout: time.Second}
	ok := fltWaitFor(30*time.Second, 25*time.Millisecond, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		resp, err := client.Get(s.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	select {
	case <-exited:
		s.t.Fatalf("serve exited at start:\n%s", fltTail(s.logs, 4000))
	default:
	}
	if !ok {
		s.t.Fatalf("serve did not answer /healthz within 30 s:\n%s", fltTail(s.logs, 4000))
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *fltServe) kill() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		s.t.Errorf("serve (pid %d) did not exit after SIGKILL", cmd.Process.Pid)
	}
}

// ---- the fake Kannel sendsms ----

type fltSendsms struct {
	srv *httptest.Server
	mu  sync.Mutex
	mts map[string][]string // phone key → texts
	all int
	bad []string // requests that were not well-formed Kannel sendsms calls
}

func fltStartSendsms(t *testing.T) *fltSendsms {
	t.Helper()
	f := &fltSendsms{mts: map[string][]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f.mu.Lock()
		if r.URL.Path != "/cgi-bin/sendsms" || q.Get("username") != "tester" || q.Get("password") != "foobar" ||
			q.Get("from") != "8188" || q.Get("to") == "" {
			f.bad = append(f.bad, r.URL.String())
			f.mu.Unlock()
			http.Error(w, "Authorization failed for sendsms", http.StatusForbidden)
			return
		}
		k := fltPhoneKey(q.Get("to"))
		f.mts[k] = append(f.mts[k], q.Get("text"))
		f.all++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, "0: Accepted for delivery")
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the sendsms URL with Kannel's user and password.
func (f *fltSendsms) URL() string {
	u, _ := url.Parse(f.srv.URL)
	return fmt.Sprintf("http://tester:foobar@%s/cgi-bin/sendsms", u.Host)
}

func (f *fltSendsms) snapshot() (map[string][]string, int, []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := make(map[string][]string, len(f.mts))
	for k, v := range f.mts {
		m[k] = append([]string(nil), v...)
	}
	return m, f.all, append([]string(nil), f.bad...)
}

func (f *fltSendsms) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.all
}

// fltPhoneKey identifies a Vietnamese mobile whatever its form
// (0912345678, 84912345678, +84912345678): its last nine digits.
func fltPhoneKey(p string) string {
	if len(p) > 9 {
		return p[len(p)-9:]
	}
	return p
}

// ---- MOs and what answered them ----

// fltMO is one citizen's message and what happened to it.
type fltMO struct {
	ID, Phone string
	// the last attempt's answer
	Status int
	Body   string
	Err    string
	// Cut: the first attempt got no HTTP answer (the process was killed, or
	// it was down); Resent: it was sent again once to the next process.
	Cut, Refused, Resent bool
	Resends              int
	FirstErr             string
}

// fltMaxResends bounds the resends of one MO.
const fltMaxResends = 3

type fltLedger struct {
	mu  sync.Mutex
	mos []*fltMO
}

func (l *fltLedger) add(m *fltMO) {
	l.mu.Lock()
	l.mos = append(l.mos, m)
	l.mu.Unlock()
}

func (l *fltLedger) all() []fltMO {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]fltMO, len(l.mos))
	for i, m := range l.mos {
		out[i] = *m
	}
	return out
}

// fltClient sends MOs to serve the way smsbox's get-url does.
type fltClient struct {
	base string
	http *http.Client
}

func fltNewClient(base string) *fltClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// A connection per request: Go's transport silently repeats a GET whose
	// reused connection died without an answer, which would hide the
	// requests a kill cut (they are resent explicitly, and counted).
	tr.DisableKeepAlives = true
	tr.Proxy = nil
	return &fltClient{base: base, http: &http.Client{Timeout: 30 * time.Second, Transport: tr}}
}

func (c *fltClient) send(id, phone, text string) (int, string, error) {
	q := url.Values{"sender": {phone}, "to": {"8188"}, "text": {text}, "id": {id}, "key": {fltSMSKey}}
	resp, err := c.http.Get(c.base + "/channels/sms/kannel?" + q.Encode())
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8192))
	if err != nil {
		return 0, "", err // the body was cut: no answer reached Kannel
	}
	return resp.StatusCode, string(b), nil
}

// fltGate is open while serve is up; workers whose request failed wait on
// it before their one resend.
type fltGate struct {
	mu sync.Mutex
	ch chan struct{}
}

func fltOpenGate() *fltGate {
	g := &fltGate{ch: make(chan struct{})}
	close(g.ch)
	return g
}

func (g *fltGate) close() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.ch:
		g.ch = make(chan struct{})
	default:
	}
}

func (g *fltGate) open() {
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.ch:
	default:
		close(g.ch)
	}
}

func (g *fltGate) wait(timeout time.Duration) bool {
	g.mu.Lock()
	ch := g.ch
	g.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-time.After(timeout):
		return false
	}
}

// fltLoad sends count MOs (one per phone, unique ids) from `workers`
// goroutines, `burst` started per tick of `every`. With resend, a request
// that got no HTTP answer waits for the gate and is sent again with the
// same id and sender, as Kannel with http-request-retry would: once, and
// again (at most fltMaxResends in all) only when a later kill cut the
// resend too.
type fltLoad struct {
	client  *fltClient
	ledger  *fltLedger
	gate    *fltGate
	resend  bool
	prefix  string
	sent    atomic.Int64 // MOs started
	ok      atomic.Int64 // 200s
	okSince atomic.Int64 // 200s since the last reset (kill pacing)
	flying  atomic.Int64 // requests awaiting their answer
	done    chan struct{}
}

func fltStartLoad(c *fltClient, l *fltLedger, g *fltGate, resend bool, prefix string, count, workers, burst int, every time.Duration) *fltLoad {
	ld := &fltLoad{client: c, ledger: l, gate: g, resend: resend, prefix: prefix, done: make(chan struct{})}
	jobs := make(chan int)
	go func() {
		defer close(jobs)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := range count {
			if i%burst == 0 {
				<-tick.C
			}
			jobs <- i
		}
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				ld.one(i)
			}
		})
	}
	go func() { wg.Wait(); close(ld.done) }()
	return ld
}

func (ld *fltLoad) one(i int) {
	m := &fltMO{ID: fmt.Sprintf("%s-%05d", ld.prefix, i), Phone: fmt.Sprintf("091%07d", 1000000+i)}
	ld.ledger.add(m)
	ld.sent.Add(1)
	text := "DVC " + fltDossier
	ld.flying.Add(1)
	status, body, err := ld.client.send(m.ID, m.Phone, text)
	ld.flying.Add(-1)
	if err != nil && ld.resend {
		ld.ledger.mu.Lock()
		m.Cut, m.FirstErr = true, err.Error()
		m.Refused = strings.Contains(err.Error(), "connection refused")
		ld.ledger.mu.Unlock()
		for r := 0; r < fltMaxResends && err != nil && ld.gate.wait(60*time.Second); r++ {
			status, body, err = ld.client.send(m.ID, m.Phone, text)
			ld.ledger.mu.Lock()
			m.Resent = true
			m.Resends++
			ld.ledger.mu.Unlock()
		}
	}
	ld.ledger.mu.Lock()
	m.Status, m.Body = status, body
	if err != nil {
		m.Err = err.Error()
	}
	ld.ledger.mu.Unlock()
	if status == http.StatusOK {
		ld.ok.Add(1)
		ld.okSince.Add(1)
	}
}

func (ld *fltLoad) finished() bool {
	select {
	case <-ld.done:
		return true
	default:
		return false
	}
}

// fltReport is the reckoning of MOs against answers.
type fltReport struct {
	Sent, OK200, BodyAnswers, Busy, Empty, OtherBody int
	Non200, TransportErrors, Cut, Refused, Resent    int
	ResentMoreThanOnce                               int
	MTs, MTPhones, Missing, Duplicates               int
	MTNotReply, MTToUnacked, MTToUnknown, BusyNotGSM int
	problems                                         []string
}

func (r *fltReport) problem(format string, args ...any) {
	if len(r.problems) < 40 {
		r.problems = append(r.problems, fmt.Sprintf(format, args...))
	}
}

func (r fltReport) String() string {
	return fmt.Sprintf("MOs sent %d; HTTP 200 %d (real reply in the body %d, busy line %d, empty %d, other body %d); "+
		"non-200 %d (transport errors %d); first attempt cut %d (refused %d), resent %d (more than once %d); "+
		"MTs %d to %d phones; unanswered 200s %d; phones answered twice %d; MTs that are not the reply %d; "+
		"MTs to MOs without a 200 %d, to unknown phones %d",
		r.Sent, r.OK200, r.BodyAnswers, r.Busy, r.Empty, r.OtherBody, r.Non200, r.TransportErrors, r.Cut, r.Refused, r.Resent, r.ResentMoreThanOnce,
		r.MTs, r.MTPhones, r.Missing, r.Duplicates, r.MTNotReply, r.MTToUnacked, r.MTToUnknown)
}

// fltReckon checks every MO: a 200 with the reply in the body needs no MT;
// a 200 with the busy line or an empty body needs exactly one MT; nobody
// gets two answers.
func fltReckon(mos []fltMO, mts map[string][]string, total int) fltReport {
	r := fltReport{Sent: len(mos), MTs: total, MTPhones: len(mts)}
	known := map[string]bool{}
	for _, m := range mos {
		k := fltPhoneKey(m.Phone)
		known[k] = true
		got := mts[k]
		for _, text := range got {
			if !strings.Contains(text, "Ho so "+fltDossier) {
				r.MTNotReply++
				r.problem("MT to %s is not the dossier reply: %q", m.Phone, text)
			}
		}
		if m.Cut {
			r.Cut++
		}
		if m.Refused {
			r.Refused++
		}
		if m.Resent {
			r.Resent++
		}
		if m.Resends > 1 {
			r.ResentMoreThanOnce++
		}
		if m.Status != http.StatusOK {
			r.Non200++
			if m.Err != "" {
				r.TransportErrors++
			}
			if len(got) > 0 {
				r.MTToUnacked++
				r.problem("MO %s from %s got no 200 (%d %s) yet %d MT(s): the platform's retry would answer it again",
					m.ID, m.Phone, m.Status, m.Err, len(got))
			}
			continue
		}
		r.OK200++
		body := strings.TrimSpace(m.Body)
		switch {
		case strings.Contains(body, "Ho so "+fltDossier):
			r.BodyAnswers++
			if len(got) > 0 {
				r.Duplicates++
				r.problem("MO %s from %s: reply in the body and %d MT(s)", m.ID, m.Phone, len(got))
			}
		case body == "" || strings.HasPrefix(body, fltBusyLine):
			if body == "" {
				r.Empty++
			} else {
				r.Busy++
				if !vntext.IsGSM7(body) {
					r.BusyNotGSM++
					r.problem("busy line is not accent-free GSM-7: %q", body)
				}
			}
			switch {
			case len(got) == 0:
				r.Missing++
			case len(got) > 1:
				r.Duplicates++
				r.problem("MO %s from %s: %d MTs", m.ID, m.Phone, len(got))
			}
		default:
			r.OtherBody++
			r.problem("MO %s from %s: 200 with neither the reply nor the busy line: %q", m.ID, m.Phone, body)
			if len(got) > 0 {
				r.Duplicates++
			}
		}
	}
	for k, texts := range mts {
		if !known[k] {
			r.MTToUnknown += len(texts)
			r.problem("MT to a phone that sent nothing: %s", k)
		}
	}
	return r
}

// fltAwaitAnswers waits until no 200 is left unanswered, then until the
// fake has received nothing new for `quiet` (a late duplicate would show),
// and returns the final reckoning.
func fltAwaitAnswers(t *testing.T, ledger *fltLedger, fake *fltSendsms, timeout, quiet time.Duration) fltReport {
	t.Helper()
	mos := ledger.all()
	start := time.Now()
	answered := fltWaitFor(timeout, 100*time.Millisecond, func() bool {
		mts, n, _ := fake.snapshot()
		return fltReckon(mos, mts, n).Missing == 0
	})
	t.Logf("waited %s for the MTs (all answered: %v)", time.Since(start).Round(time.Millisecond), answered)
	last, since := fake.count(), time.Now()
	fltWaitFor(quiet+30*time.Second, 100*time.Millisecond, func() bool {
		if n := fake.count(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) >= quiet
	})
	mts, n, bad := fake.snapshot()
	for _, b := range bad {
		t.Errorf("malformed sendsms request: %s", b)
	}
	return fltReckon(mos, mts, n)
}
