// Package i18n is the one place user-visible text comes from: go-i18n
// bundles with embedded Vietnamese (default) and English message files.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed locales/*.json
var files embed.FS

// Languages the bot speaks; the first is the default.
var languages = []string{"vi", "en"}

// Default is the language of a user who has not chosen one.
const Default = "vi"

// Supported reports whether lang is one of the bot's languages.
func Supported(lang string) bool {
	for _, l := range languages {
		if l == lang {
			return true
		}
	}
	return false
}

// Languages lists the supported languages.
func Languages() []string { return append([]string(nil), languages...) }

// Data is a message's template data.
type Data = map[string]any

// Catalog localises message ids.
type Catalog struct {
	locs map[string]*goi18n.Localizer
	ids  map[string][]string
}

// New loads the embedded message files.
func New() (*Catalog, error) {
	bundle := goi18n.NewBundle(language.Vietnamese)
	bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	c := &Catalog{locs: map[string]*goi18n.Localizer{}, ids: map[string][]string{}}
	for _, lang := range languages {
		mf, err := bundle.LoadMessageFileFS(files, "locales/"+lang+".json")
		if err != nil {
			return nil, fmt.Errorf("loading %s messages: %w", lang, err)
		}
		for _, m := range mf.Messages {
			c.ids[lang] = append(c.ids[lang], m.ID)
		}
		sort.Strings(c.ids[lang])
		c.locs[lang] = goi18n.NewLocalizer(bundle, lang)
	}
	return c, nil
}

// IDs lists the message ids of a language, sorted.
func (c *Catalog) IDs(lang string) []string { return append([]string(nil), c.ids[lang]...) }

// Localize renders id in lang, or returns the error (tests use it).
func (c *Catalog) Localize(lang, id string, data Data) (string, error) {
	loc, ok := c.locs[lang]
	if !ok {
		loc = c.locs[Default]
	}
	return loc.Localize(&goi18n.LocalizeConfig{MessageID: id, TemplateData: data})
}

// T renders id in lang. A missing id or broken template cannot reach users:
// the i18n tests fail first; at run time it falls back to the id.
func (c *Catalog) T(lang, id string, data ...Data) string {
	var d Data
	if len(data) > 0 {
		d = data[0]
	}
	s, err := c.Localize(lang, id, d)
	if err != nil {
		return id
	}
	return s
}
