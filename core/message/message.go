// Package message holds the channel-agnostic shapes of a conversation: what a
// citizen sent, what the bot answers, and what a channel can display. Channels
// translate wire formats to these; bots never see wire formats.
package message

import "time"

// Channel names, used as session and dedupe keys.
const (
	WebChat  = "webchat"
	SMS      = "sms"
	Zalo     = "zalo"
	Telegram = "telegram"
	Terminal = "terminal"
)

// Events besides a text message.
const (
	EventWelcome = "welcome" // a conversation starts: greet
	EventMedia   = "media"   // a picture, sticker, file: say what we read
	EventContact = "contact" // the user shared a phone (Inbound.Phone): Zalo user_submit_info
	// EventAdminReply: a person wrote to the user from the platform's own
	// console (a Zalo OA admin; Text is what they wrote): never bot input;
	// the hand-off route pauses the bot for that user.
	EventAdminReply = "admin_reply"
)

// Inbound is one message from a user.
type Inbound struct {
	Channel   string
	UserID    string // stable per channel: a cookie id, a phone, a Zalo or Telegram user id
	Text      string
	MessageID string // the platform's id; empty when the platform has none
	Time      time.Time
	// Phone is the sender's normalised phone number when the channel proves
	// it (SMS: the MSISDN; Zalo: a shared number). It decides who the
	// applicant of a dossier is.
	Phone string
	// Choice is set when the user pressed a button instead of typing.
	Choice bool
	// Event says what happened: a text (""), a new conversation (Welcome:
	// follow, chat opened) or something the bot cannot read (Media).
	Event string
	// ReplyTo is where an answer goes when it is sent rather than returned
	// (a Telegram chat id); empty means UserID.
	ReplyTo string
	// Source is where the message came from on the network (the web chat's
	// client IP), for per-source limits; empty where the platform relays.
	Source string
}

// Address is where replies to in are sent.
func (in Inbound) Address() string {
	if in.ReplyTo != "" {
		return in.ReplyTo
	}
	return in.UserID
}

// Choice is a button or quick reply.
type Choice struct {
	Label string `json:"label"`
	Value string `json:"value"` // what comes back as Inbound.Text when pressed
}

// Reply is the bot's answer.
type Reply struct {
	Text    string   `json:"text"`
	Choices []Choice `json:"choices,omitempty"`
	// Hint is a short follow-up suggestion (an input placeholder on rich
	// channels), e.g. "Nhập 1, 2 hoặc 3".
	Hint string `json:"hint,omitempty"`
	// Secret: the inbound text held a secret (verification digits); it is
	// not kept in clear in the inbound log.
	Secret bool `json:"-"`
	// Failed: the bot could not answer (its database is away, a call
	// failed) and says so; the pipeline does not record this as the answer
	// but tries again later and sends the real one.
	Failed bool `json:"-"`
	// RotateSession: the user just proved who they are; a channel with
	// cookie sessions issues a new session id (no fixation).
	RotateSession bool `json:"-"`
}

// Capabilities says what a channel can show.
type Capabilities struct {
	// Buttons: choices are shown as buttons; otherwise the text must stand alone.
	Buttons bool
	// Plain: SMS-like plain text with a segment budget.
	Plain bool
	// Accents: diacritics are kept in plain text (UCS-2 SMS); default off.
	Accents bool
	// MaxSegments is the SMS segment budget of one reply (Plain only).
	MaxSegments int
	// MaxChars splits or cuts long texts on rich channels (0 = no limit).
	MaxChars int
	// NoPersonalData: the platform keeps messages abroad (Telegram), so
	// replies never carry personal data, even to a verified applicant.
	NoPersonalData bool
}

// RichCaps is the capability set of the web chat, Zalo and Telegram.
func RichCaps() Capabilities { return Capabilities{Buttons: true} }

// SMSCaps returns the capability set of an SMS channel.
func SMSCaps(maxSegments int, accents bool) Capabilities {
	return Capabilities{Plain: true, Accents: accents, MaxSegments: maxSegments}
}
