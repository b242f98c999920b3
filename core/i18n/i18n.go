// Package i18n is the one place user-visible text comes from: go-i18n
// bundles with embedded Vietnamese (default) and English message files.
package i18n

import (
	"embed"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

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

// Catalog localises message ids. It is safe for concurrent use: nothing in
// it changes after New.
type Catalog struct {
	locs map[string]*goi18n.Localizer
	ids  map[string][]string
	// msgs holds each language's messages compiled once, for the common
	// templates (text, {{.Field}}, {{if .Field}}...{{else}}...{{end}} with
	// string or int fields) rendered without go-i18n's per-call language
	// matching and text/template's reflection. Anything else goes through
	// the Localizer.
	msgs map[string]map[string]*compiled
}

// New loads the embedded message files.
func New() (*Catalog, error) {
	bundle := goi18n.NewBundle(language.Vietnamese)
	bundle.RegisterUnmarshalFunc("json", json.Unmarshal)
	c := &Catalog{locs: map[string]*goi18n.Localizer{}, ids: map[string][]string{}, msgs: map[string]map[string]*compiled{}}
	for _, lang := range languages {
		mf, err := bundle.LoadMessageFileFS(files, "locales/"+lang+".json")
		if err != nil {
			return nil, fmt.Errorf("loading %s messages: %w", lang, err)
		}
		c.msgs[lang] = map[string]*compiled{}
		for _, m := range mf.Messages {
			c.ids[lang] = append(c.ids[lang], m.ID)
			if cm, ok := compile(m); ok {
				c.msgs[lang][m.ID] = cm
			} else {
				delete(c.msgs[lang], m.ID) // a later definition wins, as in the bundle
			}
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
		lang, loc = Default, c.locs[Default]
	}
	if m := c.msgs[lang][id]; m != nil {
		if s, ok := m.render(data); ok {
			return s, nil
		}
	}
	cfg := &goi18n.LocalizeConfig{MessageID: id, TemplateData: data}
	if n, ok := data[PluralCount]; ok {
		cfg.PluralCount = n
	}
	return loc.Localize(cfg)
}

// PluralCount is the Data key whose number picks a message's plural form
// ("one", "other" in English; Vietnamese has only "other").
const PluralCount = "PluralCount"

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

// compiled is a message whose template needs no more than a few map
// look-ups: constant text, fields, and ifs on fields.
type compiled struct {
	text  string // the message, when it has no action
	nodes []node
	size  int // textSize(nodes)
}

type nodeKind uint8

const (
	textNode  nodeKind = iota // text
	fieldNode                 // {{.name}}
	ifNode                    // {{if .name}}then{{else}}els{{end}}
)

type node struct {
	kind      nodeKind
	text      string // textNode: the text; fieldNode, ifNode: the field name
	then, els []node
}

// compile parses m the way go-i18n does (its default text/template
// parser, used for messages without a plural count) and keeps it when
// render can execute it.
func compile(m *goi18n.Message) (*compiled, bool) {
	src := m.Other
	if src == "" || m.Zero != "" || m.One != "" || m.Two != "" || m.Few != "" || m.Many != "" {
		return nil, false // no "other" form (go-i18n reports the error), or plural forms (go-i18n picks one)
	}
	left, right := m.LeftDelim, m.RightDelim
	if left == "" {
		left = "{{"
	}
	if !strings.Contains(src, left) {
		return &compiled{text: src}, true // go-i18n's fast path: no action
	}
	if right == "" {
		right = "}}"
	}
	t, err := template.New("").Delims(left, right).Option("missingkey=default").Parse(src)
	if err != nil || t.Tree == nil || len(t.Templates()) != 1 {
		return nil, false
	}
	nodes, ok := compileList(t.Tree.Root)
	if !ok {
		return nil, false
	}
	return &compiled{nodes: nodes, size: textSize(nodes)}, true
}

// textSize is the length of the text around the fields, at least.
func textSize(nodes []node) int {
	n := 0
	for _, nd := range nodes {
		if nd.kind == textNode {
			n += len(nd.text)
		}
		n += min(textSize(nd.then), textSize(nd.els))
	}
	return n
}

func compileList(l *parse.ListNode) ([]node, bool) {
	if l == nil {
		return nil, true
	}
	out := make([]node, 0, len(l.Nodes))
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			out = append(out, node{kind: textNode, text: string(n.Text)})
		case *parse.ActionNode:
			name, ok := fieldOf(n.Pipe)
			if !ok {
				return nil, false
			}
			out = append(out, node{kind: fieldNode, text: name})
		case *parse.IfNode:
			name, ok := fieldOf(n.Pipe)
			if !ok {
				return nil, false
			}
			then, ok := compileList(n.List)
			if !ok {
				return nil, false
			}
			els, ok := compileList(n.ElseList)
			if !ok {
				return nil, false
			}
			out = append(out, node{kind: ifNode, text: name, then: then, els: els})
		default:
			return nil, false
		}
	}
	return out, true
}

// fieldOf returns name when p is just .name.
func fieldOf(p *parse.PipeNode) (string, bool) {
	if p == nil || p.IsAssign || len(p.Decl) != 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return "", false
	}
	f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 1 {
		return "", false
	}
	return f.Ident[0], true
}

// render executes m on data as text/template would, or returns false when
// data holds something it does not handle the same way (a missing field,
// a value neither string nor int): the caller then asks go-i18n.
func (m *compiled) render(data Data) (string, bool) {
	if m.nodes == nil {
		return m.text, true
	}
	var b strings.Builder
	b.Grow(m.size + 32)
	if !renderNodes(&b, m.nodes, data) {
		return "", false
	}
	return b.String(), true
}

func renderNodes(b *strings.Builder, nodes []node, data Data) bool {
	for i := range nodes {
		n := &nodes[i]
		switch n.kind {
		case textNode:
			b.WriteString(n.text)
		case fieldNode:
			switch v := data[n.text].(type) {
			case string:
				b.WriteString(v)
			case int:
				var buf [20]byte
				b.Write(strconv.AppendInt(buf[:0], int64(v), 10))
			default:
				return false
			}
		case ifNode:
			var truth bool
			switch v := data[n.text].(type) {
			case string:
				truth = v != ""
			case int:
				truth = v != 0
			default:
				return false
			}
			branch := n.els
			if truth {
				branch = n.then
			}
			if !renderNodes(b, branch, data) {
				return false
			}
		}
	}
	return true
}
