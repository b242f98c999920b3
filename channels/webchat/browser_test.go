package webchat_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/dvcbot/dvcbot/channels/channeltest"
)

func botSays(text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('.msg.bot')].some(e => e.textContent.includes(%q))`, text)
}

// lastInView: the newest bot message's last line and last button lie inside
// the visible part of the log.
const lastInView = `(() => {
  const log = document.getElementById('log').getBoundingClientRect();
  const msgs = document.querySelectorAll('.msg.bot');
  const last = msgs[msgs.length - 1];
  const buttons = last.querySelectorAll('button');
  const el = buttons.length ? buttons[buttons.length - 1] : last;
  const r = el.getBoundingClientRect();
  return r.bottom <= log.bottom + 1 && r.top >= log.top - 1;
})()`

// pageTexts reads the page's own words.
const pageTexts = `[document.documentElement.lang, document.getElementById('title').textContent,
  document.getElementById('text').placeholder, document.getElementById('send').textContent,
  document.getElementById('label').textContent, document.getElementById('log').getAttribute('aria-label'),
  document.title].join('|')`

// minContrast is the lowest WCAG contrast ratio among the page's texts and
// their backgrounds (the nearest opaque background up the tree).
const minContrast = `(() => {
  const rgb = s => (s.match(/[\d.]+/g) || []).map(Number);
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const bg = el => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length === 3 || c[3] > 0) { return c; } } return [255, 255, 255]; };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const els = [...document.querySelectorAll('h1, header p, .msg, .choices button, #send, #status')];
  let min = 99;
  for (const el of els) { min = Math.min(min, ratio(rgb(getComputedStyle(el).color), bg(el))); }
  const input = document.getElementById('text');
  min = Math.min(min, ratio(rgb(getComputedStyle(input, '::placeholder').color), bg(input)));
  return Math.round(min * 100) / 100;
})()`

func TestPageInBrowser(t *testing.T) {
	srv, _ := newKeptServer(t)
	ctx := channeltest.Browser(t, 90*time.Second)

	wait := channeltest.Until
	say := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.WaitEnabled(chromedp.CSS(`#send`)), chromedp.SendKeys(chromedp.CSS(`#text`), text+"\r"))
	}
	fail := func(step string, err error) {
		t.Helper()
		if err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("browser, %s: %v\npage now:\n%s", step, err, page)
		}
	}
	// exchange sends text (or presses the newest reply's first button) and
	// waits for a new bot message holding want.
	exchange := func(step string, send chromedp.Action[chromedp.Void], want string) {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.msg.bot').length`))
		fail(step, err)
		fail(step, chromedp.Do(ctx, send, wait(fmt.Sprintf(`(() => { const m = document.querySelectorAll('.msg.bot');
			return m.length > %d && m[m.length - 1].textContent.includes(%q); })()`, n, want))))
	}
	texts := func(step, want string) {
		t.Helper()
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](pageTexts))
		fail(step, err)
		if got != want {
			t.Fatalf("%s: page texts\n%s\nwant\n%s", step, got, want)
		}
	}

	// ?lang=en: the whole page and the greeting are English.
	fail("open in English", chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/?lang=en"), wait(botSays("Hello!"))))
	texts("?lang=en", "en|Public services assistant|Type DVC <dossier code> or a procedure name|Send|Your message|Conversation|Public services assistant")

	// VI typed in the conversation relabels the page.
	exchange("VI", say("VI"), "Đã chuyển sang tiếng Việt")
	texts("after VI", "vi|Trợ lý dịch vụ công|Nhập DVC <mã hồ sơ> hoặc tên thủ tục|Gửi|Tin nhắn của bạn|Cuộc trò chuyện|Trợ lý dịch vụ công")

	// A reply with buttons is scrolled into view, on a phone and on a desktop.
	var resultLabels []string
	for _, size := range []struct {
		name string
		w, h int64
	}{{"phone", 390, 844}, {"desktop", 1280, 720}} {
		fail(size.name, chromedp.Do(ctx, chromedp.EmulateViewport(size.w, size.h)))
		exchange(size.name+" search", say("dang ky khai sinh"), "Thủ tục phù hợp")
		fail(size.name+" search in view", chromedp.Do(ctx, wait(lastInView)))
		var err error
		resultLabels, err = chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('.msg.bot:last-child .choices button')].map(b => b.textContent)`))
		fail(size.name+" result buttons", err)
		exchange(size.name+" details", chromedp.Click(chromedp.CSS(`.msg.bot:last-child .choices button`)), "Thành phần hồ sơ")
		fail(size.name+" details in view", chromedp.Do(ctx, wait(lastInView)))
	}
	// After the details of result 1: the other results, labelled, and the next results.
	labels, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.msg.bot:last-child .choices button')].map(b => b.textContent).join('|')`))
	fail("details buttons", err)
	if len(resultLabels) != 4 || labels != strings.Join(resultLabels[1:], "|") || resultLabels[3] != "Kết quả tiếp theo" {
		t.Fatalf("buttons after the details: %q; the results were %q", labels, resultLabels)
	}

	// EN typed: English again, placeholder included.
	exchange("EN", say("EN"), "Switched to English")
	texts("after EN", "en|Public services assistant|Type DVC <dossier code> or a procedure name|Send|Your message|Conversation|Public services assistant")

	// Accessibility: every control is named, Tab goes from the input to
	// the send button, and every text has a contrast of at least 4.5:1.
	named, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`[...document.querySelectorAll('button')].every(b => b.textContent.trim() !== '') &&
		document.querySelector('label[for=text]').textContent.trim() !== '' &&
		[...document.querySelectorAll('.choices')].every(g => g.getAttribute('role') === 'group' && g.getAttribute('aria-label') === 'Choices')`))
	fail("names", err)
	if !named {
		t.Fatal("a control has no accessible name")
	}
	fail("focus order", chromedp.Do(ctx, chromedp.Focus(chromedp.CSS(`#text`)), chromedp.KeyEvent("\t"),
		wait(`document.activeElement && document.activeElement.id === 'send'`)))
	contrast, err := chromedp.Run(ctx, chromedp.Evaluate[float64](minContrast))
	fail("contrast", err)
	if contrast < 4.5 {
		t.Fatalf("lowest text contrast %.2f, want at least 4.5", contrast)
	}
}
