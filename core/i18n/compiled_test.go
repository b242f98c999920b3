package i18n

import (
	"fmt"
	"testing"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

type stringer struct{}

func (stringer) String() string { return "stringer" }

type named string

// Every message, in every language, renders exactly as go-i18n renders
// it, whatever the data: the compiled messages are only a shortcut.
func TestCompiledMatchesGoI18n(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	zero := Data{}
	empty := Data{}
	for k, v := range sample {
		switch v.(type) {
		case string:
			zero[k] = ""
		case int:
			zero[k] = 0
		}
		empty[k] = nil
	}
	odd := Data{}
	for k := range sample {
		odd[k] = []any{int64(7), stringer{}, named("named"), true, 1.5, -3, fmt.Errorf("err")}[len(k)%7]
	}
	partial := Data{"Code": "X", "Due": "01/01/2027", "Days": -1}
	datas := []Data{nil, sample, zero, empty, odd, partial}
	compiledCount := 0
	for _, lang := range []string{"vi", "en", "fr", ""} {
		ids := append(c.IDs(Default), "no_such_id")
		for _, id := range ids {
			if c.msgs[lang][id] != nil {
				compiledCount++
			}
			for i, d := range datas {
				got, gotErr := c.Localize(lang, id, d)
				loc, ok := c.locs[lang]
				if !ok {
					loc = c.locs[Default]
				}
				want, wantErr := loc.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: d})
				if got != want || (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
					t.Errorf("%s/%s data #%d: got %q, %v; go-i18n %q, %v", lang, id, i, got, gotErr, want, wantErr)
				}
				if got, want := c.T(lang, id, d), tRef(loc, id, d); got != want {
					t.Errorf("T %s/%s data #%d: got %q, want %q", lang, id, i, got, want)
				}
			}
		}
	}
	if compiledCount < 100 {
		t.Errorf("only %d messages compiled", compiledCount)
	}
}

func tRef(loc *goi18n.Localizer, id string, d Data) string {
	s, err := loc.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: d})
	if err != nil {
		return id
	}
	return s
}

func TestCompile(t *testing.T) {
	for _, tc := range []struct {
		src      string
		compiles bool
	}{
		{"plain", true},
		{"{{.A}} and {{.B}}", true},
		{"{{if .A}}a{{else if .B}}b{{else}}c{{end}}", true},
		{"{{- .A -}} x", true},
		{"{{.A.B}}", false},
		{"{{.A | printf \"%q\"}}", false},
		{"{{range .A}}x{{end}}", false},
		{"{{with .A}}x{{end}}", false},
		{"{{$x := .A}}{{$x}}", false},
		{"{{if eq .A 1}}x{{end}}", false},
		{"{{define \"x\"}}y{{end}}z", false},
		{"{{.A", false},
		{"", false},
	} {
		_, ok := compile(&goi18n.Message{ID: "x", Other: tc.src})
		if ok != tc.compiles {
			t.Errorf("compile(%q) = %v, want %v", tc.src, ok, tc.compiles)
		}
	}
}

// Templates of every shape compile accepts render as go-i18n renders them.
func TestCompiledShapesMatchGoI18n(t *testing.T) {
	msgs := []*goi18n.Message{
		{ID: "plain", Other: "no action }} here"},
		{ID: "fields", Other: "{{.A}} and {{.B}}, {{.A}}"},
		{ID: "trim", Other: "x  {{- .A -}}  y"},
		{ID: "if", Other: "{{if .A}}a={{.A}}{{end}}!"},
		{ID: "else", Other: "{{if .A}}a{{else if .B}}b={{.B}}{{else}}c{{end}}"},
		{ID: "nested", Other: "{{if .A}}{{if .B}}ab{{else}}a{{end}}{{end}}."},
		{ID: "delims", Other: "<<.A>> {{.B}} <<if .B>>b<<end>>", LeftDelim: "<<", RightDelim: ">>"},
		{ID: "delims-none", Other: "{{.A}}", LeftDelim: "<<", RightDelim: ">>"},
	}
	bundle := goi18n.NewBundle(language.English)
	if err := bundle.AddMessages(language.English, msgs...); err != nil {
		t.Fatal(err)
	}
	loc := goi18n.NewLocalizer(bundle, "en")
	datas := []Data{
		nil, {}, {"A": "x", "B": "y"}, {"A": "", "B": ""}, {"A": 0, "B": -12}, {"A": 5, "B": "<b>"},
		{"A": "x"}, {"A": int64(1), "B": "y"}, {"A": named("n"), "B": stringer{}}, {"A": nil, "B": 1},
	}
	for _, m := range msgs {
		cm, ok := compile(m)
		if !ok {
			t.Errorf("%s does not compile", m.ID)
			continue
		}
		for i, d := range datas {
			got, ok := cm.render(d)
			if !ok {
				continue // go-i18n renders it
			}
			want, err := loc.Localize(&goi18n.LocalizeConfig{MessageID: m.ID, TemplateData: d})
			if err != nil || got != want {
				t.Errorf("%s data #%d: got %q, go-i18n %q (%v)", m.ID, i, got, want, err)
			}
		}
	}
}

// A message with plural forms takes its form from Data[PluralCount].
func TestPluralForms(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		lang string
		days int
		want string
	}{
		{"en", 1, "The result came 1 day early (due date 04/12/2026)."},
		{"en", 3, "The result came 3 days early (due date 04/12/2026)."},
		{"vi", 1, "Kết quả có trước hạn 1 ngày (hẹn trả 04/12/2026)."},
		{"vi", 3, "Kết quả có trước hạn 3 ngày (hẹn trả 04/12/2026)."},
	} {
		got := c.T(tc.lang, "notice_early", Data{"Days": tc.days, "Due": "04/12/2026", PluralCount: tc.days})
		if got != tc.want {
			t.Errorf("%s, %d days: %q, want %q", tc.lang, tc.days, got, tc.want)
		}
	}
}
