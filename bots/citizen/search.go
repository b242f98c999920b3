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
	tn.st.Pending = ""
	return b.page(tn, strings.TrimSpace(query), 0)
}

// nextPage shows the results after list l, of l's own query.
func (b *Bot) nextPage(tn *turn, l *list) message.Reply {
	return b.page(tn, l.Query, l.Offset+len(l.Items))
}

// page shows PageSize results of query from offset, as a new numbered list.
func (b *Bot) page(tn *turn, query string, offset int) message.Reply {
	hits := b.search.Search(query, PageSize, offset)
	if len(hits) == 0 {
		if offset == 0 {
			return message.Reply{Text: b.t(tn, "search_none", i18n.Data{"Query": query})}
		}
		return message.Reply{Text: b.t(tn, "search_no_more")}
	}
	lines := []string{b.t(tn, "search_header", i18n.Data{"Query": query})}
	if offset > 0 {
		lines[0] = b.t(tn, "search_header_more")
	}
	l := list{Query: query, Offset: offset}
	for i, h := range hits {
		lines = append(lines, b.t(tn, "search_line", i18n.Data{"N": i + 1, "Name": h.Name, "Code": h.Code}))
		l.Items = append(l.Items, item{Code: h.Code, Name: shorten(h.Name, 60)})
	}
	pushed := tn.st.pushList(l)
	lines = append(lines, b.t(tn, "search_pick"))
	r := message.Reply{Text: strings.Join(lines, "\n")}
	if tn.caps.Buttons {
		r.Choices = b.listChoices(tn, pushed, "")
		r.Hint = b.t(tn, "hint_pick")
	}
	return r
}

// listChoices are labelled buttons for the items of l (but skip), each
// carrying its procedure code so it shows that procedure whenever pressed,
// and the next results of l's query.
func (b *Bot) listChoices(tn *turn, l *list, skip string) []message.Choice {
	var out []message.Choice
	for i, it := range l.Items {
		if it.Code == skip {
			continue
		}
		out = append(out, message.Choice{Label: strconv.Itoa(i+1) + ". " + it.Name, Value: "TIM " + it.Code})
	}
	if len(l.Items) == PageSize {
		out = append(out, message.Choice{Label: b.t(tn, "btn_next"), Value: "TIEP " + strconv.Itoa(l.ID)})
	}
	return out
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// details shows the n-th procedure of list l.
func (b *Bot) details(tn *turn, l *list, n int) message.Reply {
	if n < 1 || n > len(l.Items) {
		return message.Reply{Text: b.t(tn, "pick_out_of_range", i18n.Data{"Max": len(l.Items)})}
	}
	return b.showProcedure(tn, l.Items[n-1].Code, l)
}

// detailsByCode shows a procedure named by its code (a button, or TIM
// 1.001193), with the list it was shown in if it is still kept.
func (b *Bot) detailsByCode(tn *turn, code string) message.Reply {
	return b.showProcedure(tn, code, tn.st.listWith(code))
}

func (b *Bot) showProcedure(tn *turn, code string, from *list) message.Reply {
	p, err := b.procedures.Procedure(tn.ctx, code)
	if errors.Is(err, catalog.ErrNotFound) || (err == nil && p.Status == catalog.Cancelled) {
		return message.Reply{Text: b.t(tn, "procedure_gone")}
	}
	if err != nil {
		b.log.Error("loading procedure", "code", code, "error", err)
		return b.failure(tn)
	}
	r := b.procedureReply(tn, p)
	if tn.caps.Buttons && from != nil {
		r.Choices = b.listChoices(tn, from, p.Code)
	}
	return r
}

// maxDocuments is how many required documents a details reply lists.
const maxDocuments = 6

// procedureReply lists what a citizen needs first: what it costs, how long
// it takes, where to go, what to bring; then the rest.
func (b *Bot) procedureReply(tn *turn, p catalog.Procedure) message.Reply {
	// An SMS has two segments: shorter fields let the documents start in
	// the first message.
	long, doc := 300, 160
	if tn.caps.Plain {
		long, doc = 110, 110
	}
	or := func(s string, n int) string {
		if s = vntext.Clean(s); s == "" {
			return b.t(tn, "detail_none")
		}
		return shorten(s, n)
	}
	timeLimit := cleanTimeLimit(p.TimeLimit)
	if timeLimit == "" {
		timeLimit = b.t(tn, "detail_time_unknown")
	}
	lines := []string{
		b.t(tn, "detail_title", i18n.Data{"Name": p.Name, "Code": p.Code}),
		b.t(tn, "detail_fee", i18n.Data{"Value": or(cleanFee(p.Fee, p.Charge), long)}),
		b.t(tn, "detail_time", i18n.Data{"Value": shorten(timeLimit, long)}),
		b.t(tn, "detail_agency", i18n.Data{"Value": or(p.Agency, long)}),
	}
	if p.Address != "" {
		lines = append(lines, b.t(tn, "detail_address", i18n.Data{"Value": or(p.Address, long)}))
	}
	if len(p.Documents) > 0 {
		lines = append(lines, b.t(tn, "detail_documents", i18n.Data{"Count": len(p.Documents)}))
		for i, d := range p.Documents {
			if i == maxDocuments {
				lines = append(lines, b.t(tn, "detail_documents_more", i18n.Data{"Count": len(p.Documents) - maxDocuments}))
				break
			}
			lines = append(lines, "- "+shorten(vntext.Clean(d.Name), doc))
		}
	}
	if p.Level != "" {
		lines = append(lines, b.t(tn, "detail_level", i18n.Data{"Value": or(p.Level, long)}))
	}
	if p.OnlineLevel != "" {
		lines = append(lines, b.t(tn, "detail_online", i18n.Data{"Value": or(p.OnlineLevel, long)}))
	}
	if res := cleanResult(p.Result); res != "" {
		lines = append(lines, b.t(tn, "detail_result", i18n.Data{"Value": shorten(res, long)}))
	}
	return message.Reply{Text: strings.Join(lines, "\n")}
}
