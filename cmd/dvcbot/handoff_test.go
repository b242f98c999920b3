package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/dvcbot/dvcbot/channels/channeltest"
)

// Issue 15's done criterion, in the binary and a real Chromium: a web chat
// user typing "gap can bo" gets a ticket number, the officer of that
// agency sees it appear in the inbox without reloading, replies, and the
// reply shows in the user's chat; while the ticket is open "xin chao" goes
// to the officer, not to the bot; after closing, DVC <mã> is answered by
// the bot again; an SMS user's ticket reply arrives as an MT from 8188;
// an officer of another agency does not see the ticket.
func TestHandOffDoneWhen(t *testing.T) {
	sendsms := fltStartSendsms(t)
	dbURL := filepath.Join(t.TempDir(), "dvcbot.db")
	env := map[string]string{"DVCBOT_DATABASE_URL": dbURL, "DVCBOT_LOG_LEVEL": "error", "DVCBOT_NOTICES": "false",
		"DVCBOT_WORKING_HOURS": "Mon-Sun 00:00-23:59", "DVCBOT_SMS_KEY": fltSMSKey, "DVCBOT_SMS_ALLOW_CIDRS": "127.0.0.1/32",
		"DVCBOT_SMS_SEND_URL": sendsms.URL(), "DVCBOT_DOSSIER_SECRET": testSecret}
	for _, u := range []struct{ email, agency, password string }{
		{"lan@example.gov.vn", haiChau, "lan-password-1"},
		{"minh@example.gov.vn", "UBND phường Thạch Thang", "minh-password-1"},
	} {
		code, out, stderr := runCmdIn(t, env, u.password+"\n", "console", "user", "add", "--email", u.email, "--role", "officer",
			"--agency", u.agency, "--password-stdin")
		if code != 0 {
			t.Fatalf("user add: %d %s %s", code, out, stderr)
		}
	}
	code, out, _ := runCmdIn(t, env, "", "apikey", "create", "--role", "officer", "--agency", haiChau, "--name", "hotline")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	key := lines[len(lines)-1]
	if code != 0 || !strings.HasPrefix(key, "dvck_") {
		t.Fatalf("apikey create: %d %q", code, out)
	}
	base, logs := startServe(t, env)
	const dossierCode = "000.00.20.H17-261102-0004"

	allocCtx := channeltest.BrowserAllocator(t)
	officer, cancel := chromedp.NewContext(allocCtx)
	defer cancel()
	officer, cancelTimeout := context.WithTimeout(officer, 150*time.Second)
	defer cancelTimeout()
	fail := func(ctx context.Context, step string, err error) {
		t.Helper()
		if err != nil {
			page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
			t.Fatalf("browser, %s: %v\npage now:\n%s\nlogs:\n%s", step, err, page, logs.String())
		}
	}
	wait := func(js string) chromedp.Action[chromedp.Void] {
		return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
			_, err := chromedp.Poll[bool](js, chromedp.WithPollingTimeout(30*time.Second))(ctx, t)
			return chromedp.Void{}, err
		}
	}
	signIn := func(ctx context.Context, email, password string) {
		t.Helper()
		fail(ctx, "sign in "+email, chromedp.Do(ctx,
			chromedp.Navigate(base+"/console/signin"),
			chromedp.WaitVisible(chromedp.CSS(`#email`)),
			chromedp.SendKeys(chromedp.CSS(`#email`), email),
			chromedp.SendKeys(chromedp.CSS(`#password`), password),
			chromedp.Click(chromedp.CSS(`#signin`)),
			chromedp.WaitVisible(chromedp.CSS(`#scope`)),
		))
	}

	// The officer of Hải Châu opens the inbox first: it is empty and live.
	signIn(officer, "lan@example.gov.vn", "lan-password-1")
	fail(officer, "inbox", chromedp.Do(officer, chromedp.Navigate(base+"/console/inbox"), chromedp.WaitVisible(chromedp.CSS(`#tickets`)),
		wait(`!document.getElementById('live').hidden`)))

	// The citizen, in another tab, looks up the dossier and asks for a person.
	citizen, cancelCitizen := chromedp.NewContext(officer)
	defer cancelCitizen()
	say := func(text string) chromedp.Action[chromedp.Void] {
		return chromedp.Steps(chromedp.WaitEnabled(chromedp.CSS(`#send`)), chromedp.SendKeys(chromedp.CSS(`#text`), text+"\r"))
	}
	botCount := func() int {
		n, err := chromedp.Run(citizen, chromedp.Evaluate[int](`document.querySelectorAll('.msg.bot').length`))
		fail(citizen, "count", err)
		return n
	}
	fail(citizen, "web chat", chromedp.Do(citizen, chromedp.Navigate(base+"/"), wait(botSays("Xin chào")),
		say("DVC "+dossierCode), wait(botSays("Hồ sơ "+dossierCode)),
		say("gap can bo"), wait(botSays("phiếu #1"))))

	// The ticket appears in the officer's inbox without a reload.
	fail(officer, "ticket appears", chromedp.Do(officer, wait(`!!document.getElementById('ticket-1')`)))
	row, err := chromedp.Run(officer, chromedp.TextContent(chromedp.CSS(`#ticket-1`)))
	fail(officer, "row", err)
	if !strings.Contains(row, "gap can bo") || !strings.Contains(row, haiChau) {
		t.Fatalf("inbox row: %q", row)
	}

	// "xin chao" goes to the officer, not to the bot.
	before := botCount()
	fail(citizen, "xin chao", chromedp.Do(citizen, say("xin chao")))
	// The live list re-renders its rows as the ticket moves: open the page by
	// its address rather than click a row that may be replaced meanwhile.
	fail(officer, "ticket page", chromedp.Do(officer, chromedp.Navigate(base+"/console/inbox/1"), chromedp.WaitVisible(chromedp.CSS(`#conversation`)),
		wait(`!document.getElementById('live').hidden`),
		wait(`document.getElementById('conversation').innerText.includes('xin chao')`)))
	page, err := chromedp.Run(officer, chromedp.Evaluate[string](`document.body.innerText`))
	fail(officer, "page", err)
	for _, want := range []string{"Trợ lý tự động", "Hồ sơ " + dossierCode, "DANG_XU_LY", "gap can bo"} {
		if !strings.Contains(page, want) {
			t.Errorf("ticket page lacks %q (the bot's turns, the dossier's status):\n%s", want, page)
		}
	}
	if n := botCount(); n != before {
		t.Fatalf("the bot answered \"xin chao\" during the ticket (%d → %d messages)", before, n)
	}

	// The officer replies; the reply shows in the citizen's chat.
	const answer = "Chào anh, hồ sơ đang được Công an phường thẩm định."
	fail(officer, "reply", chromedp.Do(officer, chromedp.SendKeys(chromedp.CSS(`#reply`), answer), chromedp.Click(chromedp.CSS(`#send`)),
		chromedp.WaitVisible(chromedp.CSS(`.flash`))))
	fail(citizen, "reply arrives", chromedp.Do(citizen, wait(botSays(answer))))

	// Another agency's officer sees nothing of it.
	other, cancelOther := chromedp.NewContext(allocCtx)
	defer cancelOther()
	other, cancelOtherT := context.WithTimeout(other, 60*time.Second)
	defer cancelOtherT()
	signIn(other, "minh@example.gov.vn", "minh-password-1")
	fail(other, "other inbox", chromedp.Do(other, chromedp.Navigate(base+"/console/inbox"), chromedp.WaitVisible(chromedp.CSS(`#tickets`))))
	if n, err := chromedp.Run(other, chromedp.Evaluate[int](`document.querySelectorAll('#tickets tbody tr').length`)); err != nil || n != 0 {
		t.Fatalf("the other agency's officer sees %d tickets (%v)", n, err)
	}
	if st, err := chromedp.Run(other, chromedp.Evaluate[int](`fetch('/console/api/v1/tickets/1').then(r => r.status)`, chromedp.EvalAwaitPromise)); err != nil || st != 403 {
		t.Fatalf("the other agency's officer reads ticket 1: %d %v", st, err)
	}

	// The officer closes it; the citizen is asked for satisfaction; DVC is answered by the bot again.
	fail(officer, "close", chromedp.Do(officer, chromedp.Click(chromedp.CSS(`#close`)), chromedp.WaitVisible(chromedp.CSS(`#reopen`))))
	fail(citizen, "closed", chromedp.Do(citizen, wait(botSays("Cán bộ đã đóng phiếu #1")),
		say("DVC "+dossierCode), wait(fmt.Sprintf(`[...document.querySelectorAll('.msg.bot')].filter(e => e.textContent.includes(%q)).length >= 2`, "Hồ sơ "+dossierCode))))

	// An SMS citizen's ticket, answered through the API: the MT leaves from 8188.
	client := fltNewClient(base)
	status, body, err := client.send("mo-1", "0912345678", "Toi muon phan anh")
	if err != nil || status != 200 || !strings.Contains(body, "phieu #2") {
		t.Fatalf("SMS opening: %d %q %v", status, body, err)
	}
	req, _ := http.NewRequest("POST", base+"/console/api/v1/tickets/2/reply", strings.NewReader(`{"text":"Dạ, cán bộ đã ghi nhận phản ánh của anh."}`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"agency":"`+haiChau+`"`) {
		t.Fatalf("API reply: %d %s", resp.StatusCode, b)
	}
	waitUntil(t, "the MT of the answer", func() bool {
		mts, _, _ := sendsms.snapshot()
		for _, m := range mts[fltPhoneKey("0912345678")] {
			if strings.Contains(m, "Phieu #2: Da, can bo da ghi nhan phan anh") {
				return true
			}
		}
		return false
	})
	if _, _, bad := sendsms.snapshot(); len(bad) > 0 {
		t.Fatalf("malformed sendsms calls (not from 8188?): %v", bad)
	}
	// While it is open, "xin chao" by SMS gets silence.
	if status, body, _ := client.send("mo-2", "0912345678", "xin chao"); status != 200 || body != "" {
		t.Fatalf("SMS during the ticket: %d %q", status, body)
	}
}
