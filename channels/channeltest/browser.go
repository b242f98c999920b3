package channeltest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Browser starts headless Chromium (Debian's, which `make test` installs,
// or DVCBOT_TEST_CHROMIUM) in a phone-sized window and returns a context
// driving one tab, cancelled after timeout and at the test's end. A missing
// browser fails the test: browser tests are never skipped.
func Browser(t testing.TB, timeout time.Duration) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(BrowserAllocator(t))
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() { cancelTimeout(); cancel() })
	return ctx
}

// BrowserAllocator starts the browser Browser uses and returns its
// allocator, for tests that need several independent users (each
// chromedp.NewContext of it is a fresh profile).
func BrowserAllocator(t testing.TB) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ChromiumPath(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(390, 844)) // a phone screen
	allocCtx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	return allocCtx
}

// ChromiumPath finds the browser Browser starts.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	for _, name := range []string{os.Getenv("DVCBOT_TEST_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium found: run the suite with `make test`, which installs Debian's chromium, or set DVCBOT_TEST_CHROMIUM")
	return ""
}

// Until polls a JavaScript predicate in the page until it holds (20 s at
// most).
func Until(js string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))(ctx, t)
		return chromedp.Void{}, err
	}
}
