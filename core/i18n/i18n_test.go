package i18n

import (
	"strings"
	"testing"
)

// sample holds every template field any message uses.
var sample = Data{
	"Code": "000.00.20.H17-240305-0001", "Procedure": "Đăng ký khai sinh", "Agency": "UBND phường",
	"Due": "08/03/2024", "Received": "05/03/2024", "Finished": "07/03/2024", "Name": "Nguyễn V. A.",
	"Status": "Đang giải quyết", "Days": 2, "Note": "ghi chú", "Next": "chờ", "Limit": 10, "Max": 1000,
	"Query": "khai sinh", "N": 1, "Total": 9, "Count": 3, "Value": "5 ngày", "Level": "Hài lòng",
	"Left": 2, "Criterion": "Thái độ", "When": "22/11/2026 10:00", "New": 1, "Modified": 2, "Cancelled": 1,
	"Restored": 0, "List": "Sua: 1.001193 (phi)", "State": "ok", "Fetched": 10, "Alerts": 3, "Error": "timeout",
	"Hours": "Mon-Fri 07:30-17:00", "About": " về hồ sơ 000.00.20.H17-240305-0001", "Text": "Đã nhận hồ sơ.",
}

func TestEveryMessageInEveryLanguage(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, lang := range Languages() {
		for _, id := range c.IDs(lang) {
			ids[id] = true
		}
	}
	if len(ids) < 50 {
		t.Fatalf("only %d message ids", len(ids))
	}
	for id := range ids {
		for _, lang := range Languages() {
			got, err := c.Localize(lang, id, sample)
			if err != nil {
				t.Errorf("%s/%s: %v", lang, id, err)
				continue
			}
			if strings.TrimSpace(got) == "" || strings.Contains(got, "<no value>") || strings.Contains(got, "{{") {
				t.Errorf("%s/%s renders badly: %q", lang, id, got)
			}
		}
	}
	for _, lang := range Languages() {
		have := map[string]bool{}
		for _, id := range c.IDs(lang) {
			have[id] = true
		}
		for id := range ids {
			if !have[id] {
				t.Errorf("%s lacks a translation of %q", lang, id)
			}
		}
	}
}

func TestDefaultAndFallback(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if got := c.T("fr", "status_3"); got != "Hồ sơ không được tiếp nhận" {
		t.Fatalf("unknown language should fall back to Vietnamese: %q", got)
	}
	if got := c.T("en", "status_3"); got != "Not accepted" {
		t.Fatalf("en: %q", got)
	}
	if got := c.T("vi", "no_such_id"); got != "no_such_id" {
		t.Fatalf("missing id: %q", got)
	}
}
