package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath finds Debian's chromium; `make test` installs it. A missing
// browser fails the test: it is never skipped.
func chromiumPath(t *testing.T) string {
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

// lastBotHas is a JS predicate: some bot message contains text.
func botSays(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('.msg.bot')].some(e => e.textContent.includes(%q))`, text)
}

func TestWebChatInBrowser(t *testing.T) {
	browser := chromiumPath(t)
	base, _ := startServe(t, map[string]string{
		"DVCBOT_DATABASE_URL": filepath.Join(t.TempDir(), "dvcbot.db"), "DVCBOT_DOSSIER_SECRET": testSecret,
	})
	// A dossier pushed through the API, then asked about in another casing and spacing.
	if code, body := postEvent(t, base, eventJSON("browser-1", "000.00.20.H17-261121-0042", "DANG_XU_LY"), testSecret); code != 200 {
		t.Fatalf("pushing the dossier: %d %s", code, body)
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.WindowSize(390, 844)) // a phone screen
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	defer cancelTimeout()

	wait := func(js string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))(ctx, t)
			return chromedp.Void{}, err
		}
	}
	say := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(
			chromedp.WaitEnabled(chromedp.CSS(`#send`)),
			chromedp.SendKeys(chromedp.CSS(`#text`), text+"\r"),
		)
	}
	fail := func(step string, err error) {
		if err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("browser, %s: %v\npage now:\n%s", step, err, page)
		}
	}
	fail("open", chromedp.Do(ctx, chromedp.Navigate(base+"/"), wait(botSays("Xin chào"))))
	title, err := chromedp.Run(ctx, chromedp.Title())
	fail("title", err)
	lang, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`html`), "lang"))
	fail("lang", err)
	fail("status", chromedp.Do(ctx,
		say("dvc 000.00.20.h17 261121 0042"),
		wait(botSays("Hồ sơ 000.00.20.H17-261121-0042")),
		wait(botSays("Hồ sơ đang được giải quyết, hẹn trả ngày 25/11/2026")),
	))
	lastStatus, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`.msg.bot:last-child`)))
	fail("status text", err)
	fail("search", chromedp.Do(ctx, say("dang ky khai sinh"), wait(botSays("Thủ tục phù hợp"))))
	buttons, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.msg.bot:last-child .choices button').length`))
	fail("buttons", err)
	fail("details", chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`.msg.bot:last-child .choices button`)), // the first result
		wait(botSays("Thời hạn giải quyết")),
		wait(botSays("Thủ tục đăng ký khai sinh (mã 1.001193)")),
	))
	fail("english", chromedp.Do(ctx,
		say("EN"),
		wait(botSays("Switched to English")),
		say("DVC 000.00.20.H17-261121-0042"),
		wait(botSays("Being processed, result due on 25/11/2026")),
	))
	if !lang.Exists || lang.Value != "vi" || title != "Trợ lý dịch vụ công" {
		t.Fatalf("page title %q, lang %+v", title, lang)
	}
	if buttons < 4 {
		t.Fatalf("search results showed %d buttons, want 3 results and More", buttons)
	}
	if strings.Contains(lastStatus, "Nguyễn Văn An") || strings.Contains(lastStatus, "0905") || !strings.Contains(lastStatus, "Nguyễn V. A.") {
		t.Fatalf("status shown to an unverified browser leaks personal data:\n%s", lastStatus)
	}
}
