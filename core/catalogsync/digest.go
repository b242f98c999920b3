package catalogsync

import (
	"html/template"
	"strconv"
	"strings"
	"time"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// Digest is one alert about a sync's changes, in every form a recipient gets.
type Digest struct {
	Subject string
	Text    string
	HTML    string
	SMS     string // accent-free, at most two segments
	Counts  Counts
}

// Counts tallies changes by kind.
type Counts struct {
	New, Modified, Cancelled, Restored int
}

// Total is the number of changes.
func (c Counts) Total() int { return c.New + c.Modified + c.Cancelled + c.Restored }

// Count tallies changes.
func Count(changes []catalog.Change) Counts {
	var c Counts
	for _, ch := range changes {
		switch ch.Kind {
		case catalog.ChangeNew:
			c.New++
		case catalog.ChangeModified:
			c.Modified++
		case catalog.ChangeCancelled:
			c.Cancelled++
		case catalog.ChangeRestored:
			c.Restored++
		}
	}
	return c
}

// MaxListed is how many changes a digest describes one by one.
const MaxListed = 200

// DigestBuilder renders digests; link gives a procedure's address.
type DigestBuilder struct {
	tr   *i18n.Catalog
	lang string
	link func(code string) string
}

// NewDigestBuilder returns a builder for officers reading lang.
func NewDigestBuilder(tr *i18n.Catalog, lang string, link func(code string) string) *DigestBuilder {
	return &DigestBuilder{tr: tr, lang: lang, link: link}
}

type digestRow struct {
	Kind, Code, Name, Link string
	Fields                 []digestField
}

type digestField struct{ Label, Old, New string }

var digestHTML = template.Must(template.New("digest").Parse(`<!doctype html>
<html lang="{{.Lang}}"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body style="font-family: Arial, sans-serif; font-size: 14px; color: #1b1f24">
<p>{{.Intro}}</p>
<table cellpadding="6" cellspacing="0" border="1" style="border-collapse: collapse; border-color: #c8ced6">
<thead style="background: #eef2f7"><tr><th align="left">{{.ColKind}}</th><th align="left">{{.ColCode}}</th><th align="left">{{.ColName}}</th><th align="left">{{.ColFields}}</th></tr></thead>
<tbody>
{{range .Rows}}<tr><td valign="top">{{.Kind}}</td><td valign="top"><a href="{{.Link}}">{{.Code}}</a></td><td valign="top">{{.Name}}</td><td valign="top">{{range .Fields}}<div><b>{{.Label}}</b>: <span style="color:#8a1c1c">{{.Old}}</span> → <span style="color:#1c6b2a">{{.New}}</span></div>{{end}}</td></tr>
{{end}}</tbody></table>
{{if .More}}<p>{{.More}}</p>{{end}}
</body></html>`))

// Build renders the digest of changes found at when.
func (b *DigestBuilder) Build(changes []catalog.Change, when time.Time) Digest {
	t := func(id string, data ...i18n.Data) string { return b.tr.T(b.lang, id, data...) }
	counts := Count(changes)
	whenS := when.In(vntext.VietnamTime()).Format("02/01/2006 15:04")
	data := i18n.Data{"When": whenS, "New": counts.New, "Modified": counts.Modified, "Cancelled": counts.Cancelled, "Restored": counts.Restored}
	d := Digest{Subject: t("alert_subject", data), Counts: counts}

	var rows []digestRow
	for i, ch := range changes {
		if i == MaxListed {
			break
		}
		r := digestRow{Kind: t("alert_kind_" + string(ch.Kind)), Code: ch.Code, Name: ch.Name, Link: b.link(ch.Code)}
		for _, f := range ch.Fields {
			r.Fields = append(r.Fields, digestField{Label: t("alert_field_" + f.Field), Old: f.Old, New: f.New})
		}
		rows = append(rows, r)
	}
	more := ""
	if len(changes) > MaxListed {
		more = t("alert_more", i18n.Data{"Count": len(changes) - MaxListed})
	}

	var text strings.Builder
	text.WriteString(t("alert_intro", data) + "\n\n")
	for _, r := range rows {
		text.WriteString("- [" + r.Kind + "] " + r.Code + " " + r.Name + "\n")
		for _, f := range r.Fields {
			text.WriteString("    " + f.Label + ": " + f.Old + " → " + f.New + "\n")
		}
		text.WriteString("    " + t("alert_link") + ": " + r.Link + "\n")
	}
	if more != "" {
		text.WriteString("\n" + more + "\n")
	}
	d.Text = text.String()

	var html strings.Builder
	_ = digestHTML.Execute(&html, map[string]any{
		"Lang": b.lang, "Subject": d.Subject, "Intro": t("alert_intro", data), "Rows": rows, "More": more,
		"ColKind": t("alert_col_kind"), "ColCode": t("alert_col_code"), "ColName": t("alert_col_name"), "ColFields": t("alert_col_fields"),
	})
	d.HTML = html.String()
	d.SMS = b.sms(changes, data)
	return d
}

// sms is the accent-free summary: counts, then the codes (with the changed
// fields for modifications) as far as two segments allow.
func (b *DigestBuilder) sms(changes []catalog.Change, data i18n.Data) string {
	var items []string
	for _, ch := range changes {
		item := ch.Code
		if ch.Kind == catalog.ChangeModified && len(ch.Fields) > 0 {
			var names []string
			for _, f := range ch.Fields {
				names = append(names, strings.ToLower(b.tr.T(b.lang, "alert_field_"+f.Field)))
			}
			item += " (" + strings.Join(names, ", ") + ")"
		} else {
			item += " (" + strings.ToLower(b.tr.T(b.lang, "alert_kind_"+string(ch.Kind))) + ")"
		}
		items = append(items, item)
	}
	data["List"] = strings.Join(items, "; ")
	full := vntext.ToGSM(b.tr.T(b.lang, "alert_sms", data))
	if vntext.CountSMS(full).Segments <= 2 {
		return full
	}
	// Too long: drop codes from the end until it fits, saying how many more.
	// Two segments hold a few dozen codes at most: start there.
	for n := min(len(items)-1, 40); n >= 0; n-- {
		data["List"] = strings.Join(items[:n], "; ") + "; +" + strconv.Itoa(len(items)-n)
		if n == 0 {
			data["List"] = "+" + strconv.Itoa(len(items))
		}
		s := vntext.ToGSM(b.tr.T(b.lang, "alert_sms", data))
		if vntext.CountSMS(s).Segments <= 2 {
			return s
		}
	}
	s, _ := vntext.FitSMS(full, "", 2)
	return s
}
