package handoff

import (
	"time"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// firstDossier is a dossier code the message names ("khieu nai ho so …").
func firstDossier(text string, now time.Time) string {
	return vntext.FirstNationalCode(text, now)
}
