package notices_test

import (
	"testing"

	"github.com/dvcbot/dvcbot/bots/notices"
	"github.com/dvcbot/dvcbot/core/message"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   message.Inbound
		cmd  notices.Command
		rest string
	}{
		{message.Inbound{Text: "TU CHOI"}, notices.OptOut, ""},
		{message.Inbound{Text: "từ chối"}, notices.OptOut, ""},
		{message.Inbound{Text: "stop"}, notices.OptOut, ""},
		{message.Inbound{Text: "HUY"}, notices.OptOut, ""},
		{message.Inbound{Text: "bật"}, notices.OptIn, ""},
		{message.Inbound{Text: "Theo dõi 000.00.20.H17-261125-0009"}, notices.Subscribe, "000.00.20.H17-261125-0009"},
		{message.Inbound{Text: "DK 000.00.20.H17-261125-0009"}, notices.Subscribe, "000.00.20.H17-261125-0009"},
		{message.Inbound{Text: "huỷ 000.00.20.H17-261125-0009"}, notices.Unsubscribe, "000.00.20.H17-261125-0009"},
		{message.Inbound{Event: message.EventContact, Phone: "84905123456"}, notices.Contact, ""},
		{message.Inbound{Event: message.EventContact}, notices.None, ""},
		{message.Inbound{Text: "DVC 000.00.20.H17-261125-0009"}, notices.None, ""},
		{message.Inbound{Text: "stop tôi muốn hỏi thủ tục khai sinh"}, notices.None, ""},
		{message.Inbound{Text: "/start"}, notices.None, ""},
	} {
		cmd, rest := notices.Parse(c.in)
		if cmd != c.cmd || rest != c.rest {
			t.Errorf("Parse(%+v) = %v %q, want %v %q", c.in, cmd, rest, c.cmd, c.rest)
		}
	}
}
