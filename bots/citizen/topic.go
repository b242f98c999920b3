package citizen

import (
	"encoding/json"
	"time"

	"github.com/dvcbot/dvcbot/core/session"
)

// Topic reads from a citizen's session what the conversation is about, for
// a hand-off to a person: the last dossier looked up, and the procedure of
// the newest list when it shows just one. Empty strings when none (or the
// dialog state expired).
func Topic(s session.Session, now time.Time) (dossierCode, procedureCode string) {
	raw := s.LiveState(now)
	if raw == nil {
		return "", ""
	}
	var st state
	if json.Unmarshal(raw, &st) != nil {
		return "", ""
	}
	if l := st.latest(); l != nil && len(l.Items) == 1 {
		procedureCode = l.Items[0].Code
	}
	return st.Dossier, procedureCode
}

// AwaitsVerification reports whether the bot has asked this citizen for the
// last four digits of an applicant's phone (XACMINH, or a rating that needs
// it) and waits for them: a hand-off in progress lets that answer through
// to the bot, the only one able to check it.
func AwaitsVerification(s session.Session, now time.Time) bool {
	raw := s.LiveState(now)
	if raw == nil {
		return false
	}
	var st state
	if json.Unmarshal(raw, &st) != nil {
		return false
	}
	return st.Pending == pendVerifyStatus || st.Pending == pendVerifyRate
}
