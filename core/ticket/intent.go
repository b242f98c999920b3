package ticket

import (
	"strconv"
	"strings"

	"github.com/dvcbot/dvcbot/core/vntext"
)

// ButtonValue is what the "talk to a person" button sends on rich
// channels (a citizen may type it too).
const ButtonValue = "GAP CAN BO"

// intents are folded phrases (no diacritics, lower case) that ask for a
// person, by kind. Longer phrases first.
var intents = []struct {
	phrase string
	kind   Kind
}{
	{"talk to a person", Question}, {"talk to a human", Question}, {"speak to a person", Question},
	{"speak to someone", Question}, {"talk to someone", Question}, {"talk to an officer", Question},
	{"real person", Question}, {"human agent", Question}, {"live agent", Question},
	{"gap can bo", Question}, {"gap nguoi", Question}, {"noi chuyen voi can bo", Question},
	{"tong dai vien", Question}, {"tong dai", Question}, {"nguoi that", Question}, {"can bo tu van", Question},
	{"ho tro truc tiep", Question}, {"lien he can bo", Question}, {"gap truc tiep", Question},
	{"khieu nai", Complaint}, {"complaint", Complaint}, {"complain", Complaint},
	{"phan anh", Feedback}, {"kien nghi", Feedback}, {"gop y", Feedback}, {"feedback", Feedback},
}

// searchy words say the citizen looks for a procedure about complaints
// ("thủ tục giải quyết khiếu nại"), not that they complain.
var searchy = []string{"thu tuc", "tthc", "quy trinh", "mau don", "to khai", "giay to", "ho so gom", "lam the nao", "cach "}

// Intent reports whether text asks for a person, and which kind. Only
// short messages count (a long one is a question for the search), and a
// message that names a procedure search does not.
func Intent(text string) (Kind, bool) {
	f := " " + strings.Join(strings.Fields(vntext.Fold(strings.NewReplacer(",", " ", ".", " ", "!", " ", "?", " ").Replace(text))), " ") + " "
	if strings.TrimSpace(f) == "" || len(strings.Fields(f)) > 14 {
		return "", false
	}
	if strings.TrimSpace(f) == strings.ToLower(ButtonValue) {
		return Question, true
	}
	for _, in := range intents {
		if !strings.Contains(f, " "+in.phrase+" ") {
			continue
		}
		if in.kind != Question {
			for _, s := range searchy {
				if strings.Contains(f, " "+s) {
					return "", false
				}
			}
		}
		// "phan anh" with "khieu nai" in one message is a complaint.
		if in.kind == Feedback && strings.Contains(f, " khieu nai ") {
			return Complaint, true
		}
		return in.kind, true
	}
	return "", false
}

// Command is what a message asks of the route while a ticket is open.
type Command int

const (
	None Command = iota
	// BotCommand is an explicit command the bot still answers (DVC <mã>,
	// TIM …, HD, XACMINH).
	BotCommand
	// End closes the open ticket (KET THUC).
	End
)

// ParseCommand reads the commands that matter while a ticket is open.
func ParseCommand(text string) Command {
	words := strings.Fields(strings.ToUpper(vntext.Unaccent(text)))
	if len(words) == 0 {
		return None
	}
	all := strings.Join(words, " ")
	switch all {
	case "KET THUC", "KETTHUC", "END", "/END", "DONG PHIEU", "XONG", "KET THUC PHIEU":
		return End
	}
	w := words[0]
	switch {
	case w == "DVC" || w == "/DVC" || w == "TRACUU" || w == "STATUS" || w == "/STATUS" || w == "MHS":
		return BotCommand
	case strings.HasPrefix(w, "DVC") && len(w) > 3 && (w[3] < 'A' || w[3] > 'Z'):
		return BotCommand
	case len(words) > 1 && ((w == "TRA" && words[1] == "CUU") || (w == "MA" && words[1] == "HS")):
		return BotCommand
	case (w == "TIM" || w == "/TIM" || w == "SEARCH" || w == "/SEARCH" || w == "TTHC") && len(words) > 1:
		return BotCommand
	case len(words) == 1 && (w == "HD" || w == "HELP" || w == "/HELP" || w == "HUONGDAN" || w == "/START"):
		return BotCommand
	case len(words) == 2 && w == "HUONG" && words[1] == "DAN":
		return BotCommand
	case w == "XACMINH" || w == "VERIFY" || (len(words) > 1 && w == "XAC" && words[1] == "MINH"):
		// Verifying as the applicant (the web chat's button after a look-up):
		// an officer may ask for it, and only the bot can check it.
		return BotCommand
	}
	return None
}

// RatingValue is the button value that rates ticket n (PHIEU n level).
func RatingValue(n int64, level int) string {
	return "PHIEU " + itoa(n) + " " + strconv.Itoa(level)
}

// ParseRating reads a satisfaction answer: "PHIEU n level" (a button, any
// time) or a bare level 1-3 (number 0: the ticket that asked last).
func ParseRating(text string) (number int64, level int, ok bool) {
	words := strings.Fields(strings.ToUpper(vntext.Unaccent(strings.ReplaceAll(text, "#", " "))))
	if len(words) == 3 && words[0] == "PHIEU" {
		n, err := strconv.ParseInt(words[1], 10, 64)
		l, err2 := strconv.Atoi(words[2])
		if err == nil && err2 == nil && n > 0 && l >= 1 && l <= 3 {
			return n, l, true
		}
		return 0, 0, false
	}
	if len(words) == 1 && len(words[0]) == 1 && words[0][0] >= '1' && words[0][0] <= '3' {
		return 0, int(words[0][0] - '0'), true
	}
	return 0, 0, false
}
