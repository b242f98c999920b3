package spool

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// The kill -9 tests run this test binary again as a child process that
// appends (or replays) and prints each key once Append (or the handler)
// has returned; the parent kills it with SIGKILL in the middle of the work
// and checks, with a fresh Open, that nothing the child acknowledged is
// missing.

const (
	helperEnv  = "DVCBOT_SPOOL_HELPER"
	helperDir  = "DVCBOT_SPOOL_HELPER_DIR"
	helperTag  = "DVCBOT_SPOOL_HELPER_TAG"
	killMax    = 1 << 30
	killSeg    = 64 << 10
	killCkpt   = 50
	killAppGor = 8
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "append":
		helperAppend(os.Getenv(helperDir), os.Getenv(helperTag))
	case "replay":
		helperReplay(os.Getenv(helperDir))
	default:
		os.Exit(m.Run())
	}
}

func helperOpen(dir string) *Spool {
	s, err := Open(dir, killMax, WithSegmentSize(killSeg), WithCheckpointEvery(killCkpt))
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	return s
}

// helperAppend appends until it is killed.
func helperAppend(dir, tag string) {
	s := helperOpen(dir)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for g := range killAppGor {
		wg.Go(func() {
			for i := 0; ; i++ {
				key := fmt.Sprintf("%s-g%d-%07d", tag, g, i)
				if err := s.Append(context.Background(), Record{Key: key, Data: []byte(`{"text":"DVC 123456"}`)}); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintln(os.Stdout, key) // unbuffered: in the pipe before the next append
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// helperReplay replays, printing each key it handles, until it is killed.
func helperReplay(dir string) {
	s := helperOpen(dir)
	_, err := s.Replay(context.Background(), func(_ context.Context, r Record) error {
		fmt.Fprintln(os.Stdout, r.Key)
		return nil
	})
	fmt.Fprintln(os.Stdout, "DONE", err)
	select {} // wait to be killed
}

// runAndKill starts the helper and kills it (SIGKILL) after it printed n
// keys; it returns every key printed before the child died.
func runAndKill(t *testing.T, mode, dir, tag string, n int) []string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperDir+"="+dir, helperTag+"="+tag)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "DONE") {
			t.Fatalf("child finished before it was killed: %s", line)
		}
		keys = append(keys, line)
		if len(keys) == n && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	if err := sc.Err(); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("child exited after %d keys, before it was killed", len(keys))
	}
	return keys
}

func TestKill9DuringAppendAndReplay(t *testing.T) {
	dir := t.TempDir()
	// Three kill -9 while appending: every acknowledged key survives.
	var acked []string
	for round := range 3 {
		acked = append(acked, runAndKill(t, "append", dir, fmt.Sprintf("r%d", round), 2000)...)
	}
	// One kill -9 while replaying, then a full replay: every
	// acknowledged key is handed over, in order, and at most a checkpoint
	// interval of them twice.
	before := runAndKill(t, "replay", dir, "", 1500)
	s, lb := open(t, dir, killMax, WithSegmentSize(killSeg), WithCheckpointEvery(killCkpt))
	defer s.Close()
	t.Logf("after the kills: %d acknowledged, %d handed over before the replay was killed; reopen logged:\n%s", len(acked), len(before), lb)
	var after []string
	if _, err := s.Replay(context.Background(), func(_ context.Context, r Record) error {
		after = append(after, r.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	for _, k := range before {
		if seen[k] {
			t.Fatalf("key %s handed over twice by one Replay", k)
		}
		seen[k] = true
	}
	again := 0
	all := append([]string(nil), before...)
	for _, k := range after {
		if seen[k] {
			again++
			continue
		}
		seen[k] = true
		all = append(all, k)
	}
	if again > killCkpt {
		t.Fatalf("%d keys handed over again after the replay crash, more than the checkpoint interval %d", again, killCkpt)
	}
	for _, k := range acked {
		if !seen[k] {
			t.Fatalf("acknowledged key %s lost", k)
		}
	}
	// Append order: per round and goroutine, the sequence numbers rise
	// with no gap, and rounds follow each other.
	last := map[string]int{}
	round := ""
	for _, k := range all {
		var r, g string
		var i int
		parts := strings.Split(k, "-")
		if len(parts) != 3 {
			t.Fatalf("bad key %q", k)
		}
		r, g = parts[0], parts[1]
		fmt.Sscanf(parts[2], "%d", &i)
		if r < round {
			t.Fatalf("key %s after round %s", k, round)
		}
		round = r
		prev, ok := last[r+g]
		if (!ok && i != 0) || (ok && i != prev+1) {
			t.Fatalf("key %s out of order (previous %d)", k, prev)
		}
		last[r+g] = i
	}
	t.Logf("handed over %d distinct keys (%d acknowledged), %d again after the replay crash", len(all), len(acked), again)
	if r, b := s.Len(); r != 0 || b != 0 {
		t.Fatalf("Len = %d, %d", r, b)
	}
}
