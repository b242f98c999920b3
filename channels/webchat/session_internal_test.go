package webchat

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
)

type fakeKeeper struct {
	SessionKeeper // only RotateSession is called
	newID, ticket string
	err           error
}

func (f fakeKeeper) RotateSession(context.Context, string, string) (string, string, error) {
	return f.newID, f.ticket, f.err
}

// rotateSession is what serveWS calls after a reply with RotateSession.
func TestRotateSession(t *testing.T) {
	for _, tc := range []struct {
		name               string
		keeper             SessionKeeper
		wantID, wantTicket string
	}{
		{"no keeper: nothing to rotate", nil, "old", ""},
		{"rotated", fakeKeeper{newID: "new", ticket: "t1"}, "new", "t1"},
		{"store failed: the old id stays", fakeKeeper{err: errors.New("database away")}, "old", ""},
	} {
		c := &Channel{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
		if tc.keeper != nil {
			WithSessions(tc.keeper)(c)
		}
		id, ticket := c.rotateSession(context.Background(), "old")
		if id != tc.wantID || ticket != tc.wantTicket {
			t.Errorf("%s: rotateSession = %q, %q; want %q, %q", tc.name, id, ticket, tc.wantID, tc.wantTicket)
		}
	}
}
