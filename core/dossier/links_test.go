package dossier_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/store/storetest"
)

// fakeLinker links every code but one.
type fakeLinker struct{ fail string }

func (l fakeLinker) LookupURL(_ context.Context, code string) (string, error) {
	if code == l.fail {
		return "", errors.New("database away")
	}
	return "https://dvc.example.vn/tra-cuu/" + code, nil // a real linker's token hides the code
}

// With a linker every result carries its dossier's lookup_url; a link that
// cannot be made is left out and the events are still answered 200.
func TestAPILookupURLs(t *testing.T) {
	const a, b = "000.00.20.H17-240305-0001", "000.00.20.H17-240305-0002"
	batch := `{"events": [` + withEvent(field("event_id", "ev-1")) + `,` +
		withEvent(func(m map[string]any) { m["event_id"] = "ev-2"; dossierField("code", b)(m) }) + `,` +
		withEvent(func(m map[string]any) { m["event_id"] = "ev-3"; m["occurred_at"] = "2024-03-04T09:00:00+07:00" }) + `]}`
	tests := []struct {
		name   string
		linker dossier.Linker
		want   []any
	}{
		{"no linker", nil, []any{
			map[string]any{"event_id": "ev-1", "result": "accepted"},
			map[string]any{"event_id": "ev-2", "result": "accepted"},
			map[string]any{"event_id": "ev-3", "result": "stale"},
		}},
		{"linker", fakeLinker{}, []any{
			map[string]any{"event_id": "ev-1", "result": "accepted", "lookup_url": "https://dvc.example.vn/tra-cuu/" + a},
			map[string]any{"event_id": "ev-2", "result": "accepted", "lookup_url": "https://dvc.example.vn/tra-cuu/" + b},
			map[string]any{"event_id": "ev-3", "result": "stale", "lookup_url": "https://dvc.example.vn/tra-cuu/" + a},
		}},
		{"a link fails", fakeLinker{fail: b}, []any{
			map[string]any{"event_id": "ev-1", "result": "accepted", "lookup_url": "https://dvc.example.vn/tra-cuu/" + a},
			map[string]any{"event_id": "ev-2", "result": "accepted"},
			map[string]any{"event_id": "ev-3", "result": "stale", "lookup_url": "https://dvc.example.vn/tra-cuu/" + a},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := storetest.SQLite(t)
			opts := []dossier.APIOption{dossier.WithClock(func() time.Time { return now }),
				dossier.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
			if tc.linker != nil {
				opts = append(opts, dossier.WithLinker(tc.linker))
			}
			status, out := post(t, dossier.NewAPI(db.Dossiers(), secret, opts...), request{body: batch})
			if status != 200 || !reflect.DeepEqual(out["results"], tc.want) {
				t.Fatalf("%d %v, want %v", status, out, tc.want)
			}
		})
	}
}
