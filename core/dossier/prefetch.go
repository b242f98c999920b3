package dossier

import "context"

// A dossier read in the same database round trip as the inbound claim of
// the message that asks for it travels to the store in the context, so the
// look-up costs no round trip of its own.

type prefetchKey struct{}

type prefetched struct {
	code string
	d    *Dossier // nil: no such dossier
}

// WithPrefetched records what reading code found (d nil: nothing).
func WithPrefetched(ctx context.Context, code string, d *Dossier) context.Context {
	return context.WithValue(ctx, prefetchKey{}, prefetched{code: code, d: d})
}

// Prefetched returns what WithPrefetched recorded for code: known is false
// when code was not read ahead.
func Prefetched(ctx context.Context, code string) (d Dossier, known, found bool) {
	p, ok := ctx.Value(prefetchKey{}).(prefetched)
	if !ok || p.code != code {
		return Dossier{}, false, false
	}
	if p.d == nil {
		return Dossier{}, true, false
	}
	return *p.d, true, true
}
