package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/dvcbot/dvcbot/channels/channeltest"
)

// lastBotHas is a JS predicate: some bot message contains text.
func botSays(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('.msg.bot')].some(e => e.textContent.includes(%q))`, text)
}

func TestWebChatInBrowser(t *testing.T) {
	base, _ := startServe(t, map[string]string{
		"DVCBOT_DATABASE_URL": filepath.Join(t.TempDir(), "dvcbot.db"), "DVCBOT_DOSSIER_SECRET": testSecret,
	})
	// A dossier pushed through the API, then asked about in another casing and spacing.
	if code, body := postEvent(t, base, eventJSON("browser-1", "000.00.20.H17-261121-0042", "DANG_XU_LY"), testSecret); code != 200 {
		t.Fatalf("pushing the dossier: %d %s", code, body)
	}

	ctx := channeltest.Browser(t, 90*time.Second)

	wait := channeltest.Until
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
