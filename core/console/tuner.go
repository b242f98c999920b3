package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvcbot/dvcbot/core/search"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// TunerStore keeps the synonyms and stop-words edited in the console, a
// version that changes with them (so every replica notices), and the
// search misses.
type TunerStore interface {
	OverridesVersion(ctx context.Context) (int64, error)
	Overrides(ctx context.Context) ([]Override, error)
	RecordMisses(ctx context.Context, misses []MissHit) error
}

// MissHit is one search that found nothing or little.
type MissHit struct {
	Key   string // a hash of the folded query: the counter's key
	Query string // the query as typed (stripped by retention)
	Kind  string // "none" or "weak"
	At    time.Time
}

// Searcher is what the citizen bot searches through.
type Searcher interface {
	Search(query string, limit, offset int) []search.Hit
}

// DefaultWeakScore: a best hit scoring below this is a weak result.
const DefaultWeakScore = 2.0

// Tuner applies the console's synonyms and stop-words to queries at run
// time, and counts the queries that find nothing or little. Run keeps it in
// step with the database: an edit on one replica reaches every replica
// within one refresh interval, without a restart.
type Tuner struct {
	store   TunerStore
	every   time.Duration
	weak    float64
	log     *slog.Logger
	rules   atomic.Pointer[rules]
	version atomic.Int64
	mu      sync.Mutex
	pending []MissHit
	now     func() time.Time
}

type rules struct {
	synonyms []synonym // longest first
	stop     map[string]bool
}

type synonym struct {
	words []string // folded
	to    string
}

// NewTuner returns a tuner with no rules yet (call Refresh or Run).
func NewTuner(st TunerStore, every time.Duration, log *slog.Logger) *Tuner {
	if log == nil {
		log = slog.Default()
	}
	t := &Tuner{store: st, every: every, weak: DefaultWeakScore, log: log, now: time.Now}
	t.rules.Store(&rules{})
	t.version.Store(-1)
	return t
}

// Refresh reloads the rules when their version moved; it reports whether
// it did.
func (t *Tuner) Refresh(ctx context.Context) (bool, error) {
	v, err := t.store.OverridesVersion(ctx)
	if err != nil {
		return false, err
	}
	if v == t.version.Load() {
		return false, nil
	}
	list, err := t.store.Overrides(ctx)
	if err != nil {
		return false, err
	}
	t.rules.Store(compile(list))
	t.version.Store(v)
	return true, nil
}

func compile(list []Override) *rules {
	r := &rules{stop: map[string]bool{}}
	for _, o := range list {
		words := vntext.FoldWords(o.Term)
		if len(words) == 0 {
			continue
		}
		switch o.Kind {
		case Synonym:
			r.synonyms = append(r.synonyms, synonym{words: words, to: o.Replacement})
		case StopWord:
			r.stop[strings.Join(words, " ")] = true
		}
	}
	// Longest synonym first, so "giay khai sinh" wins over "khai sinh".
	for i := 1; i < len(r.synonyms); i++ {
		for j := i; j > 0 && len(r.synonyms[j].words) > len(r.synonyms[j-1].words); j-- {
			r.synonyms[j], r.synonyms[j-1] = r.synonyms[j-1], r.synonyms[j]
		}
	}
	return r
}

// Rewrite applies the synonyms (a phrase is replaced by what it means)
// and drops the stop-words; a query no rule touches comes back unchanged.
func (t *Tuner) Rewrite(q string) string {
	r := t.rules.Load()
	if len(r.synonyms) == 0 && len(r.stop) == 0 {
		return q
	}
	words := vntext.Words(q)
	folded := make([]string, len(words))
	for i, w := range words {
		folded[i] = vntext.Fold(w)
	}
	var out []string
	changed := false
	for i := 0; i < len(words); {
		matched := false
		for _, s := range r.synonyms {
			if i+len(s.words) <= len(folded) && equalWords(folded[i:i+len(s.words)], s.words) {
				out = append(out, s.to)
				i += len(s.words)
				matched, changed = true, true
				break
			}
		}
		if matched {
			continue
		}
		if r.stop[folded[i]] && len(words) > 1 {
			i++
			changed = true
			continue
		}
		out = append(out, words[i])
		i++
	}
	if !changed || len(out) == 0 {
		return q
	}
	return strings.Join(out, " ")
}

func equalWords(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Observe counts a query that found nothing, or whose best hit is weak.
// It never blocks: misses are written by Run in batches.
func (t *Tuner) Observe(query string, hits []search.Hit) {
	kind := ""
	switch {
	case len(hits) == 0:
		kind = "none"
	case hits[0].Score < t.weak:
		kind = "weak"
	default:
		return
	}
	folded := strings.Join(vntext.FoldWords(query), " ")
	if folded == "" {
		return
	}
	sum := sha256.Sum256([]byte(folded))
	m := MissHit{Key: hex.EncodeToString(sum[:16]), Query: strings.TrimSpace(vntext.NFC(query)), Kind: kind, At: t.now().UTC()}
	if len(m.Query) > 300 {
		m.Query = m.Query[:300]
	}
	t.mu.Lock()
	if len(t.pending) < 10000 {
		t.pending = append(t.pending, m)
	}
	t.mu.Unlock()
}

// Flush writes the misses observed so far.
func (t *Tuner) Flush(ctx context.Context) error {
	t.mu.Lock()
	batch := t.pending
	t.pending = nil
	t.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	return t.store.RecordMisses(ctx, batch)
}

// Searcher wraps a searcher: queries are rewritten, misses counted.
func (t *Tuner) Searcher(inner Searcher) Searcher { return tunedSearcher{t, inner} }

type tunedSearcher struct {
	t     *Tuner
	inner Searcher
}

func (s tunedSearcher) Search(query string, limit, offset int) []search.Hit {
	hits := s.inner.Search(s.t.Rewrite(query), limit, offset)
	if offset == 0 {
		s.t.Observe(query, hits)
	}
	return hits
}

// Run refreshes the rules and writes the misses every interval until ctx
// ends.
func (t *Tuner) Run(ctx context.Context) error {
	tick := time.NewTicker(t.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
			_ = t.Flush(fctx)
			cancel()
			return nil
		case <-tick.C:
		}
		if _, err := t.Refresh(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("search overrides: refresh failed", "error", err)
		}
		if err := t.Flush(ctx); err != nil && ctx.Err() == nil {
			t.log.Warn("search misses: write failed", "error", err)
		}
	}
}
