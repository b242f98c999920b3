package citizen

import (
	"errors"
	"strconv"
	"strings"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/vntext"
)

func (b *Bot) searchFirst(tn *turn, query string) message.Reply {
	tn.st.Query, tn.st.Offset, tn.st.Results, tn.st.Pending = strings.TrimSpace(query), 0, nil, ""
	return b.page(tn, true)
}

func (b *Bot) nextPage(tn *turn) message.Reply {
	if tn.st.Query == "" {
		return message.Reply{Text: b.t(tn, "more_nothing")}
	}
	return b.page(tn, false)
}

// page shows the next PageSize results of the current query.
func (b *Bot) page(tn *turn, first bool) message.Reply {
	hits := b.search.Search(tn.st.Query, PageSize, tn.st.Offset)
	if len(hits) == 0 {
		tn.st.Results = nil
		if first {
			q := tn.st.Query
			tn.st.Query = ""
			return message.Reply{Text: b.t(tn, "search_none", i18n.Data{"Query": q})}
		}
		return message.Reply{Text: b.t(tn, "search_no_more")}
	}
	lines := []string{b.t(tn, "search_header", i18n.Data{"Query": tn.st.Query})}
	if !first {
		lines[0] = b.t(tn, "search_header_more")
	}
	r := message.Reply{}
	tn.st.Results = tn.st.Results[:0]
	for i, h := range hits {
		n := i + 1
		lines = append(lines, b.t(tn, "search_line", i18n.Data{"N": n, "Name": h.Name, "Code": h.Code}))
		tn.st.Results = append(tn.st.Results, h.Code)
		if tn.caps.Buttons {
			r.Choices = append(r.Choices, message.Choice{Label: strconv.Itoa(n) + ". " + shorten(h.Name, 60), Value: strconv.Itoa(n)})
		}
	}
	tn.st.Offset += len(hits)
	lines = append(lines, b.t(tn, "search_pick"))
	if tn.caps.Buttons {
		r.Choices = append(r.Choices, message.Choice{Label: b.t(tn, "btn_more"), Value: "THEM"})
		r.Hint = b.t(tn, "hint_pick")
	}
	r.Text = strings.Join(lines, "\n")
	return r
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// details shows the n-th procedure of the current page.
func (b *Bot) details(tn *turn, n int) message.Reply {
	if n < 1 || n > len(tn.st.Results) {
		return message.Reply{Text: b.t(tn, "pick_out_of_range", i18n.Data{"Max": len(tn.st.Results)})}
	}
	p, err := b.procedures.Procedure(tn.ctx, tn.st.Results[n-1])
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && p.Status == catalog.Cancelled) {
		return message.Reply{Text: b.t(tn, "procedure_gone")}
	}
	if err != nil {
		b.log.Error("loading procedure", "code", tn.st.Results[n-1], "error", err)
		return message.Reply{Text: b.t(tn, "error_generic")}
	}
	return b.procedureReply(tn, p)
}

// maxDocuments is how many required documents a details reply lists.
const maxDocuments = 6

func (b *Bot) procedureReply(tn *turn, p catalog.Procedure) message.Reply {
	none := b.t(tn, "detail_none")
	or := func(s string) string {
		s = vntext.Clean(s)
		if s == "" {
			return none
		}
		return shorten(s, 300)
	}
	lines := []string{
		b.t(tn, "detail_title", i18n.Data{"Name": p.Name, "Code": p.Code}),
		b.t(tn, "detail_time", i18n.Data{"Value": or(p.TimeLimit)}),
		b.t(tn, "detail_fee", i18n.Data{"Value": or(strings.TrimSpace(p.Fee + " " + p.Charge))}),
		b.t(tn, "detail_agency", i18n.Data{"Value": or(p.Agency)}),
	}
	if p.Address != "" {
		lines = append(lines, b.t(tn, "detail_address", i18n.Data{"Value": or(p.Address)}))
	}
	if p.Level != "" {
		lines = append(lines, b.t(tn, "detail_level", i18n.Data{"Value": or(p.Level)}))
	}
	if p.OnlineLevel != "" {
		lines = append(lines, b.t(tn, "detail_online", i18n.Data{"Value": or(p.OnlineLevel)}))
	}
	if len(p.Documents) > 0 {
		lines = append(lines, b.t(tn, "detail_documents", i18n.Data{"Count": len(p.Documents)}))
		for i, d := range p.Documents {
			if i == maxDocuments {
				lines = append(lines, b.t(tn, "detail_documents_more", i18n.Data{"Count": len(p.Documents) - maxDocuments}))
				break
			}
			lines = append(lines, "- "+shorten(vntext.Clean(d.Name), 160))
		}
	}
	if p.Result != "" {
		lines = append(lines, b.t(tn, "detail_result", i18n.Data{"Value": or(p.Result)}))
	}
	r := message.Reply{Text: strings.Join(lines, "\n")}
	if tn.caps.Buttons && len(tn.st.Results) > 0 {
		for i := range tn.st.Results {
			r.Choices = append(r.Choices, message.Choice{Label: strconv.Itoa(i + 1), Value: strconv.Itoa(i + 1)})
		}
		r.Choices = append(r.Choices, message.Choice{Label: b.t(tn, "btn_more"), Value: "THEM"})
	}
	return r
}
