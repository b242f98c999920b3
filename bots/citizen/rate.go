package citizen

import (
	"crypto/subtle"
	"errors"
	"strings"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/phone"
	"github.com/dvcbot/dvcbot/core/rating"
	"github.com/dvcbot/dvcbot/core/session"
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
		return b.failure(tn)
	}
	tn.st.Dossier = d.Code
	if !d.Status.Rateable() {
		return message.Reply{Text: b.t(tn, "rate_not_rateable", i18n.Data{"Code": d.Code})}
	}
	if !b.applicant(tn, d) {
		if tn.phoneOnly() || d.ApplicantPhone == "" {
			return message.Reply{Text: b.t(tn, "rate_not_applicant")}
		}
		if r, locked := b.verifyLocked(tn, d.Code); locked {
			return r
		}
		tn.st.Pending, tn.st.Level, tn.st.Reason, tn.st.Raw = pendVerifyRate, string(lvl), reason, raw
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
		return b.failure(tn)
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
		out.Choices = []message.Choice{{Label: b.t(tn, "btn_yes"), Value: "TC " + code}, {Label: b.t(tn, "btn_no"), Value: "TC " + code + " x"}}
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
		if len(digits) == 4 {
			tn.secret = true // whatever else it says, it holds the digits asked for
		}
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
	if tn.phoneOnly() {
		// The network proves an SMS sender's number; digits typed by someone
		// else's phone must not make them the applicant.
		return message.Reply{Text: b.t(tn, "verify_sms_phone_only")}
	}
	cs := vntext.ParseCodes(vntext.CleanCodeText(arg), tn.now)
	code := tn.st.Dossier
	if len(cs) == 1 && cs[0].Kind == vntext.CodeNational {
		code = cs[0].Value
	}
	if code == "" {
		return message.Reply{Text: b.t(tn, "status_usage")}
	}
	tn.st.Dossier, tn.st.Pending = code, ""
	if r, locked := b.verifyLocked(tn, code); locked {
		return r
	}
	tn.st.Pending = pendVerifyStatus
	return message.Reply{Text: b.t(tn, "verify_ask", i18n.Data{"Code": code}), Hint: b.t(tn, "hint_digits")}
}

func (b *Bot) attempt(tn *turn, code string) session.Attempt {
	return session.Attempt{Key: tn.key, Dossier: code, Channel: tn.in.Channel, UserID: tn.in.UserID, Source: tn.in.Source, At: tn.now}
}

// verifyLocked answers with the lock message when a guess for code would
// be refused now, so nobody is asked for digits that cannot be checked.
func (b *Bot) verifyLocked(tn *turn, code string) (message.Reply, bool) {
	v, err := b.sessions.AttemptsLocked(tn.ctx, b.attempt(tn, code), VerifyLimits)
	if err != nil {
		b.log.Error("reading verification attempts", "code", code, "error", err)
		return b.failure(tn), true
	}
	if v != session.Allowed {
		return b.lockedReply(tn, v), true
	}
	return message.Reply{}, false
}

// lockedReply leaves a pending verification as it is: more digits sent
// are recorded as guesses too and get this answer again.
func (b *Bot) lockedReply(tn *turn, v session.Verdict) message.Reply {
	switch v {
	case session.SourceLocked:
		return message.Reply{Text: b.t(tn, "verify_locked_source")}
	case session.UserLocked:
		return message.Reply{Text: b.t(tn, "verify_locked_user")}
	}
	return message.Reply{Text: b.t(tn, "verify_locked_dossier")}
}

// verify checks the last four digits of the applicant's phone. The guess
// is recorded as a failure in the database before it is compared, so the
// limits hold across sessions, users, channels and concurrent messages.
func (b *Bot) verify(tn *turn, digits string) message.Reply {
	d, err := b.dossiers.Dossier(tn.ctx, tn.st.Dossier)
	if err != nil {
		tn.st.Pending = ""
		return message.Reply{Text: b.t(tn, "status_not_found", i18n.Data{"Code": tn.st.Dossier})}
	}
	check, err := b.sessions.BeginAttempt(tn.ctx, b.attempt(tn, d.Code), VerifyLimits)
	if err != nil {
		b.log.Error("recording a verification attempt", "code", d.Code, "error", err)
		tn.st.Pending = ""
		return b.failure(tn)
	}
	if check.Verdict != session.Allowed {
		return b.lockedReply(tn, check.Verdict)
	}
	if d.ApplicantPhone == "" || subtle.ConstantTimeCompare([]byte(phone.LastDigits(d.ApplicantPhone, 4)), []byte(digits)) != 1 {
		if check.Left <= 0 {
			v, err := b.sessions.AttemptsLocked(tn.ctx, b.attempt(tn, d.Code), VerifyLimits)
			if err != nil || v == session.Allowed {
				v = session.DossierLocked
			}
			return b.lockedReply(tn, v)
		}
		return message.Reply{Text: b.t(tn, "verify_wrong", i18n.Data{"Left": check.Left}), Hint: b.t(tn, "hint_digits")}
	}
	if err := b.sessions.AttemptSucceeded(tn.ctx, tn.key); err != nil {
		b.log.Error("recording a verification success", "code", d.Code, "error", err)
	}
	if !tn.isVerified(d.Code) {
		tn.st.Verified = append(tn.st.Verified, d.Code)
	}
	tn.verified = true
	purpose := tn.st.Pending
	tn.st.Pending = ""
	if purpose == pendVerifyRate {
		return b.rate(tn, d.Code, rating.Level(tn.st.Level), tn.st.Reason, tn.st.Raw)
	}
	r := b.statusReply(tn, d)
	r.Text = b.t(tn, "verify_ok") + "\n" + r.Text
	return r
}
