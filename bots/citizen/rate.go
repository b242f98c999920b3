package citizen

import (
	"errors"
	"strings"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/phone"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// rateCommand reads "DG <code> <1|2|3|words> [reason]" or "DG <level> [reason]"
// about the last dossier looked up.
func (b *Bot) rateCommand(tn *turn, arg, raw string) message.Reply {
	words := strings.Fields(arg)
	code := tn.st.Dossier
	// The code may be typed with spaces: take the shortest prefix that is a
	// whole code (a longer one would swallow the level).
	for n := 1; n <= len(words); n++ {
		cs := vntext.ParseCodes(vntext.CleanCodeText(strings.Join(words[:n], " ")), tn.now)
		if len(cs) == 1 && cs[0].Kind == vntext.CodeNational && !cs[0].ShortSeq {
			code, words = cs[0].Value, words[n:]
			break
		}
	}
	if code == "" || len(words) == 0 {
		return message.Reply{Text: b.t(tn, "rate_usage")}
	}
	// The level is one word (1, RHL) or the words (rat hai long, khong hai long).
	for n := min(4, len(words)); n > 0; n-- {
		if lvl, ok := rating.ParseLevel(strings.Join(words[:n], " ")); ok {
			return b.rate(tn, code, lvl, strings.Join(words[n:], " "), raw)
		}
	}
	return message.Reply{Text: b.t(tn, "rate_usage")}
}

// rate records a rating after checking the dossier, its status and that the
// sender is the applicant.
func (b *Bot) rate(tn *turn, code string, lvl rating.Level, reason, raw string) message.Reply {
	d, err := b.dossiers.Dossier(tn.ctx, code)
	if errors.Is(err, dossier.ErrNotFound) {
		return message.Reply{Text: b.t(tn, "status_not_found", i18n.Data{"Code": code})}
	}
	if err != nil {
		b.log.Error("looking up dossier to rate", "code", code, "error", err)
		return message.Reply{Text: b.t(tn, "error_generic")}
	}
	tn.st.Dossier = d.Code
	if !d.Status.Rateable() {
		return message.Reply{Text: b.t(tn, "rate_not_rateable", i18n.Data{"Code": d.Code})}
	}
	if !b.applicant(tn, d) {
		if tn.in.Channel == message.SMS || d.ApplicantPhone == "" {
			return message.Reply{Text: b.t(tn, "rate_not_applicant")}
		}
		tn.st.Pending, tn.st.Level, tn.st.Reason, tn.st.Raw, tn.st.Attempts = pendVerifyRate, string(lvl), reason, raw, 0
		return message.Reply{Text: b.t(tn, "verify_ask", i18n.Data{"Code": d.Code}), Hint: b.t(tn, "hint_digits")}
	}
	if lvl == rating.KhongHaiLong && strings.TrimSpace(reason) == "" {
		tn.st.Pending, tn.st.Level, tn.st.Raw = pendReason, string(lvl), raw
		return message.Reply{Text: b.t(tn, "rate_ask_reason"), Hint: b.t(tn, "hint_reason")}
	}
	return b.saveRating(tn, d.Code, lvl, reason, raw)
}

func (b *Bot) saveRating(tn *turn, code string, lvl rating.Level, reason, raw string) message.Reply {
	r := rating.Rating{DossierCode: code, Level: lvl, Reason: strings.TrimSpace(reason), Channel: tn.in.Channel,
		UserID: tn.in.UserID, RawText: raw, UpdatedAt: tn.now}
	if old, err := b.ratings.Rating(tn.ctx, code); err == nil && old.Level == lvl {
		r.Criteria = old.Criteria // re-rating at the same level keeps the details
	}
	updated, err := b.ratings.SaveRating(tn.ctx, r)
	tn.st.Pending, tn.st.Level, tn.st.Reason, tn.st.Raw = "", "", "", ""
	switch {
	case errors.Is(err, rating.ErrLocked):
		return message.Reply{Text: b.t(tn, "rate_locked")}
	case err != nil:
		b.log.Error("saving rating", "code", code, "error", err)
		return message.Reply{Text: b.t(tn, "error_generic")}
	}
	data := i18n.Data{"Code": code, "Level": b.t(tn, "level_"+string(lvl))}
	id := "rate_saved"
	if updated {
		id = "rate_updated"
	}
	out := message.Reply{Text: b.t(tn, id, data)}
	if tn.caps.Buttons {
		tn.st.Pending = pendCriteriaOffer
		out.Text += "\n" + b.t(tn, "criteria_offer")
		out.Choices = []message.Choice{{Label: b.t(tn, "btn_yes"), Value: b.t(tn, "word_yes")}, {Label: b.t(tn, "btn_no"), Value: b.t(tn, "word_no")}}
	}
	return out
}

// pending handles the answer to a question the bot asked. It reports false
// when the message is not such an answer (then it is handled as new).
func (b *Bot) pending(tn *turn, text string) (message.Reply, bool) {
	switch tn.st.Pending {
	case pendReason:
		if len(strings.Fields(text)) < 2 && !hasLetters(text) {
			return message.Reply{}, false
		}
		return b.saveRating(tn, tn.st.Dossier, rating.KhongHaiLong, text, tn.st.Raw+"\n"+text), true
	case pendVerifyRate, pendVerifyStatus:
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, text)
		if len(digits) != 4 || len(strings.Fields(text)) > 2 {
			return message.Reply{}, false
		}
		return b.verify(tn, digits), true
	case pendCriteriaOffer:
		switch yesNo(text) {
		case 1:
			tn.st.Pending, tn.st.Index = pendCriteria, 0
			return b.askCriterion(tn), true
		case -1:
			tn.st.Pending = ""
			return message.Reply{Text: b.t(tn, "criteria_skipped")}, true
		}
	case pendCriteria:
		return b.answerCriterion(tn, text)
	}
	return message.Reply{}, false
}

func hasLetters(s string) bool {
	for _, r := range s {
		if r > '9' || r < '0' && r != ' ' {
			return true
		}
	}
	return false
}

func yesNo(s string) int {
	switch vntext.Fold(strings.TrimSpace(s)) {
	case "co", "yes", "y", "ok", "dong y", "c":
		return 1
	case "khong", "no", "n", "k", "ko", "thoi":
		return -1
	}
	return 0
}

// verifyCommand handles "XACMINH <code>": the user wants to prove they are
// the applicant to see the full status.
func (b *Bot) verifyCommand(tn *turn, arg string) message.Reply {
	cs := vntext.ParseCodes(vntext.CleanCodeText(arg), tn.now)
	code := tn.st.Dossier
	if len(cs) == 1 && cs[0].Kind == vntext.CodeNational {
		code = cs[0].Value
	}
	if code == "" {
		return message.Reply{Text: b.t(tn, "status_usage")}
	}
	tn.st.Dossier, tn.st.Pending, tn.st.Attempts = code, pendVerifyStatus, 0
	return message.Reply{Text: b.t(tn, "verify_ask", i18n.Data{"Code": code}), Hint: b.t(tn, "hint_digits")}
}

// verify checks the last four digits of the applicant's phone.
func (b *Bot) verify(tn *turn, digits string) message.Reply {
	d, err := b.dossiers.Dossier(tn.ctx, tn.st.Dossier)
	if err != nil {
		tn.st.Pending = ""
		return message.Reply{Text: b.t(tn, "status_not_found", i18n.Data{"Code": tn.st.Dossier})}
	}
	if d.ApplicantPhone == "" || phone.LastDigits(d.ApplicantPhone, 4) != digits {
		tn.st.Attempts++
		if tn.st.Attempts >= MaxVerifyAttempts {
			tn.st.Pending = ""
			return message.Reply{Text: b.t(tn, "verify_refused")}
		}
		return message.Reply{Text: b.t(tn, "verify_wrong", i18n.Data{"Left": MaxVerifyAttempts - tn.st.Attempts}), Hint: b.t(tn, "hint_digits")}
	}
	tn.st.Verified = append(tn.st.Verified, d.Code)
	purpose := tn.st.Pending
	tn.st.Pending, tn.st.Attempts = "", 0
	if purpose == pendVerifyRate {
		return b.rate(tn, d.Code, rating.Level(tn.st.Level), tn.st.Reason, tn.st.Raw)
	}
	r := b.statusReply(tn, d)
	r.Text = b.t(tn, "verify_ok") + "\n" + r.Text
	return r
}

func (b *Bot) askCriterion(tn *turn) message.Reply {
	crit := rating.Criteria()
	c := crit[tn.st.Index]
	r := message.Reply{Text: b.t(tn, "criteria_question", i18n.Data{"N": tn.st.Index + 1, "Total": len(crit),
		"Criterion": b.t(tn, "criterion_"+string(c))})}
	for _, l := range rating.Levels() {
		r.Choices = append(r.Choices, message.Choice{Label: b.t(tn, "level_"+string(l)), Value: b.t(tn, "level_"+string(l))})
	}
	r.Choices = append(r.Choices, message.Choice{Label: b.t(tn, "btn_skip"), Value: b.t(tn, "word_skip")}, message.Choice{Label: b.t(tn, "btn_stop"), Value: b.t(tn, "word_stop")})
	return r
}

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
		cur, err := b.ratings.Rating(tn.ctx, tn.st.Dossier)
		if err != nil {
			tn.st.Pending = ""
			b.log.Error("loading rating for criteria", "code", tn.st.Dossier, "error", err)
			return message.Reply{Text: b.t(tn, "error_generic")}, true
		}
		if cur.Criteria == nil {
			cur.Criteria = map[rating.Criterion]rating.Level{}
		}
		cur.Criteria[crit[tn.st.Index]] = lvl
		cur.Channel, cur.UserID, cur.RawText, cur.UpdatedAt = tn.in.Channel, tn.in.UserID, text, tn.now
		if _, err := b.ratings.SaveRating(tn.ctx, cur); err != nil {
			tn.st.Pending = ""
			if errors.Is(err, rating.ErrLocked) {
				return message.Reply{Text: b.t(tn, "rate_locked")}, true
			}
			b.log.Error("saving criterion", "code", tn.st.Dossier, "error", err)
			return message.Reply{Text: b.t(tn, "error_generic")}, true
		}
	}
	tn.st.Index++
	if tn.st.Index >= len(crit) {
		tn.st.Pending = ""
		return message.Reply{Text: b.t(tn, "criteria_done")}, true
	}
	return b.askCriterion(tn), true
}
