package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dvcbot/dvcbot/core/lookup/lookuptest"

	"github.com/dvcbot/dvcbot/store/storetest"
)

// The service answers each stored dossier with a look-up link whose page
// and QR code work, `dvcbot link` prints the same link, and the read API
// takes the console's API keys.
func TestLookupLinksEndToEnd(t *testing.T) {
	for _, backend := range []struct{ name, url, linkSecret string }{
		{"sqlite", filepath.Join(t.TempDir(), "dvcbot.db"), ""}, // the generated secret
		{"postgres", storetest.PostgresSchemaURL(t), "a-configured-link-secret-0123"},
	} {
		t.Run(backend.name, func(t *testing.T) {
			env := map[string]string{"DVCBOT_DATABASE_URL": backend.url, "DVCBOT_DOSSIER_SECRET": testSecret,
				"DVCBOT_LINK_SECRET": backend.linkSecret, "DVCBOT_LINK_ZALO_URL": "https://zalo.me/4368496045530575990"}
			base, _ := startServe(t, env)
			const code = "000.00.20.H17-261120-0042"
			status, body := postEvent(t, base, `{"events": [`+eventJSON("lk-1", code, "DANG_XU_LY")+`,`+
				eventJSON("lk-2", "000.00.20.H17-261120-0043", "DA_TIEP_NHAN")+`]}`, testSecret)
			if status != 200 {
				t.Fatalf("events: %d %s", status, body)
			}
			var res struct {
				Results []struct {
					EventID   string `json:"event_id"`
					Result    string `json:"result"`
					LookupURL string `json:"lookup_url"`
				} `json:"results"`
			}
			if err := json.Unmarshal([]byte(body), &res); err != nil || len(res.Results) != 2 {
				t.Fatalf("answer %s: %v", body, err)
			}
			shape := regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `/tra-cuu/[a-z2-7]{32}$`)
			for i, r := range res.Results {
				if r.Result != "accepted" || !shape.MatchString(r.LookupURL) {
					t.Fatalf("result %d: %+v", i, r)
				}
			}
			link := res.Results[0].LookupURL
			if res.Results[1].LookupURL == link || strings.Contains(link, "261120") {
				t.Fatalf("links %s and %s", link, res.Results[1].LookupURL)
			}
			// A replay is a duplicate with the same link.
			_, again := postEvent(t, base, eventJSON("lk-1", code, "DANG_XU_LY"), testSecret)
			if want := `{"results":[{"event_id":"lk-1","result":"duplicate","lookup_url":"` + link + `"}]}`; strings.TrimSpace(again) != want {
				t.Fatalf("replay: %s, want %s", again, want)
			}

			status, page := httpGet(t, link, "")
			if status != 200 || !strings.Contains(page, code) || !strings.Contains(page, "Đăng ký khai sinh") ||
				!strings.Contains(page, `href="https://zalo.me/4368496045530575990"`) || strings.Contains(page, "Tiếp tục trên Telegram") {
				t.Fatalf("page: %d %s", status, page)
			}
			for _, secret := range []string{"Nguyễn Văn An", "Nguyễn V. A.", "0905123456", "84905123456", "Chuyển phòng Tư pháp thẩm định"} {
				if strings.Contains(page, secret) {
					t.Errorf("the page shows %q", secret)
				}
			}
			status, png := httpGet(t, link+"/qr.png", "")
			if status != 200 {
				t.Fatalf("qr.png: %d", status)
			}
			if got := lookuptest.DecodeQR(t, []byte(png)); got != link {
				t.Fatalf("the QR code reads %q, want %q", got, link)
			}
			if status, _ := httpGet(t, base+"/tra-cuu/"+strings.Repeat("q", 32), ""); status != 404 {
				t.Fatalf("random token: %d", status)
			}

			// dvcbot link prints the same link and writes the same QR code.
			file := filepath.Join(t.TempDir(), "hs.png")
			exit, out, stderr := runCmd(t, env, "link", "--png", file, "000.00.20.h17-261120-0042")
			if want := code + "\nURL: " + link + "\nQR:  " + link + "/qr.png\nPNG: " + file + "\n"; exit != 0 || out != want {
				t.Fatalf("link: exit %d, %q (want %q), %s", exit, out, want, stderr)
			}
			img, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if got := lookuptest.DecodeQR(t, img); got != link {
				t.Fatalf("the PNG reads %q", got)
			}
			if exit, _, stderr := runCmd(t, env, "link", "000.00.20.H17-261120-0099"); exit != exitFail || !strings.Contains(stderr, "không tìm thấy hồ sơ") {
				t.Fatalf("unknown dossier: exit %d %s", exit, stderr)
			}
			if exit, _, _ := runCmd(t, env, "link"); exit != exitConfig {
				t.Fatalf("no code: exit %d", exit)
			}

			// The read API: a console API key is required.
			api := base + "/api/v1/dossiers/" + code
			exit, out, stderr = runCmd(t, env, "apikey", "create", "--role", "viewer", "--name", "Da Nang Smart City")
			if exit != 0 {
				t.Fatalf("apikey create: %d %s", exit, stderr)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			key := lines[len(lines)-1]
			tests := []struct {
				name, url, auth string
				status          int
			}{
				{"no key", api, "", 401},
				{"wrong key", api, "Bearer dvck_not-a-key", 401},
				{"good key", api, "Bearer " + key, 200},
				{"unknown code", base + "/api/v1/dossiers/000.00.20.H17-261120-0099", "Bearer " + key, 404},
			}
			for _, tc := range tests {
				status, body := httpGet(t, tc.url, tc.auth)
				if status != tc.status {
					t.Errorf("%s: %d %s, want %d", tc.name, status, body, tc.status)
				}
				if status == 200 {
					var got map[string]any
					if err := json.Unmarshal([]byte(body), &got); err != nil {
						t.Fatal(err)
					}
					if got["code"] != code || got["status"] != "DANG_XU_LY" || got["lookup_url"] != link || got["agency"] != "UBND phường Hải Châu I" {
						t.Errorf("%s: %s", tc.name, body)
					}
					for _, secret := range []string{"Nguyễn", "0905123456", "905123456", "Chuyển phòng"} {
						if strings.Contains(body, secret) {
							t.Errorf("the read API shows %q", secret)
						}
					}
				}
			}
		})
	}
}

func httpGet(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}
