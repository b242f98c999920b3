package citizen

import (
	"errors"
	"strconv"
	"strings"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// criteriaCommand is what the criteria buttons send, so a button pressed
// late still answers the question on its label: "TC <code>" starts,
// "TC <code> <criterion> <1-3>" answers one (0 skips it), "TC <code> x"
// declines, "TC <code> stop" ends.
func (b *Bot) criteriaCommand(tn *turn, words []string) message.Reply {
	cs := vntext.ParseCodes(vntext.CleanCodeText(words[0]), tn.now)
	if len(cs) != 1 || cs[0].Kind != vntext.CodeNational {
		return message.Reply{Text: b.t(tn, "rate_usage")}
	}
	d, err := b.dossiers.Dossier(tn.ctx, cs[0].Value)
	if errors.Is(err, dossier.ErrNotFound) {
		return message.Reply{Text: b.t(tn, "status_not_found", i18n.Data{"Code": cs[0].Value})}
	}
	if err != nil {
		b.log.Error("looking up dossier for criteria", "code", cs[0].Value, "error", err)
		return b.failure(tn)
	}
	if !b.applicant(tn, d) {
		return message.Reply{Text: b.t(tn, "rate_not_applicant")}
	}
	tn.st.Dossier = d.Code
	rest := words[1:]
	crit := rating.Criteria()
	switch {
	case len(rest) == 0:
		tn.st.Pending, tn.st.Index = pendCriteria, 0
		return b.askCriterion(tn)
	case len(rest) == 1 && rest[0] == "X":
		tn.st.Pending = ""
		return message.Reply{Text: b.t(tn, "criteria_skipped")}
	case len(rest) == 1 && rest[0] == "STOP":
		tn.st.Pending = ""
		return message.Reply{Text: b.t(tn, "criteria_done")}
	case len(rest) == 2:
		idx := -1
		for i, c := range crit {
			if strings.EqualFold(string(c), rest[0]) {
				idx = i
			}
		}
		if idx < 0 {
			break
		}
		if rest[1] != "0" {
			lvl, ok := rating.ParseLevel(rest[1])
			if !ok {
				break
			}
			if r, failed := b.saveCriterion(tn, crit[idx], lvl, strings.Join(words, " ")); failed {
				return r
			}
		}
		tn.st.Index = idx + 1
		if tn.st.Index >= len(crit) {
			tn.st.Pending = ""
			return message.Reply{Text: b.t(tn, "criteria_done")}
		}
		tn.st.Pending = pendCriteria
		return b.askCriterion(tn)
	}
	return message.Reply{Text: b.t(tn, "rate_usage")}
}

func (b *Bot) askCriterion(tn *turn) message.Reply {
	crit := rating.Criteria()
	c := crit[tn.st.Index]
	r := message.Reply{Text: b.t(tn, "criteria_question", i18n.Data{"N": tn.st.Index + 1, "Total": len(crit),
		"Criterion": b.t(tn, "criterion_"+string(c))})}
	prefix := "TC " + tn.st.Dossier + " " + string(c) + " "
	for _, l := range rating.Levels() {
		r.Choices = append(r.Choices, message.Choice{Label: b.t(tn, "level_"+string(l)), Value: prefix + strconv.Itoa(l.Number())})
	}
	r.Choices = append(r.Choices, message.Choice{Label: b.t(tn, "btn_skip"), Value: prefix + "0"},
		message.Choice{Label: b.t(tn, "btn_stop"), Value: "TC " + tn.st.Dossier + " stop"})
	return r
}

// answerCriterion reads a typed answer to the criterion asked.
func (b *Bot) answerCriterion(tn *turn, text string) (message.Reply, bool) {
	f := vntext.Fold(strings.TrimSpace(text))
	crit := rating.Criteria()
	if f == vntext.Fold(b.t(tn, "word_stop")) || f == "dung" || f == "stop" {
		tn.st.Pending = ""
		return message.Reply{Text: b.t(tn, "criteria_done")}, true
	}
	if f != vntext.Fold(b.t(tn, "word_skip")) && f != "bo qua" && f != "skip" {
		lvl, ok := rating.ParseLevel(text)
		if !ok {
			return message.Reply{}, false
		}
		if r, failed := b.saveCriterion(tn, crit[tn.st.Index], lvl, text); failed {
			return r, true
		}
	}
	tn.st.Index++
	if tn.st.Index >= len(crit) {
		tn.st.Pending = ""
		return message.Reply{Text: b.t(tn, "criteria_done")}, true
	}
	return b.askCriterion(tn), true
}

// saveCriterion records one criterion of the current dossier's rating; it
// reports true with the reply to send when that failed.
func (b *Bot) saveCriterion(tn *turn, c rating.Criterion, lvl rating.Level, raw string) (message.Reply, bool) {
	cur, err := b.ratings.Rating(tn.ctx, tn.st.Dossier)
	if err != nil {
		tn.st.Pending = ""
		if errors.Is(err, rating.ErrNotFound) {
			return message.Reply{Text: b.t(tn, "rate_usage")}, true
		}
		b.log.Error("loading rating for criteria", "code", tn.st.Dossier, "error", err)
		return b.failure(tn), true
	}
	if cur.Criteria == nil {
		cur.Criteria = map[rating.Criterion]rating.Level{}
	}
	cur.Criteria[c] = lvl
	cur.Channel, cur.UserID, cur.RawText, cur.UpdatedAt = tn.in.Channel, tn.in.UserID, raw, tn.now
	if _, err := b.ratings.SaveRating(tn.ctx, cur); err != nil {
		tn.st.Pending = ""
		if errors.Is(err, rating.ErrLocked) {
			return message.Reply{Text: b.t(tn, "rate_locked")}, true
		}
		b.log.Error("saving criterion", "code", tn.st.Dossier, "error", err)
		return b.failure(tn), true
	}
	return message.Reply{}, false
}
