package search

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Source is where the index comes from: the catalogue, and a version that
// changes whenever it does (a counter in the database, so every replica sees
// an import or a sync another one made).
type Source interface {
	CatalogVersion(ctx context.Context) (int64, error)
	SearchDocs(ctx context.Context) ([]Doc, error)
}

// Refresher keeps a Holder's index in step with the catalogue: it polls the
// version and rebuilds in the background, swapping the new index in
// atomically; queries never wait.
type Refresher struct {
	holder  *Holder
	src     Source
	an      *Analyzer
	every   time.Duration
	log     *slog.Logger
	version int64
	builds  prometheus.Counter
	size    prometheus.Gauge
	took    prometheus.Histogram
}

// NewRefresher builds the first index and returns the refresher and its holder.
func NewRefresher(ctx context.Context, src Source, an *Analyzer, every time.Duration, log *slog.Logger, reg prometheus.Registerer) (*Refresher, error) {
	r := &Refresher{src: src, an: an, every: every, log: log, version: -1,
		builds: prometheus.NewCounter(prometheus.CounterOpts{Name: "dvcbot_search_index_builds_total", Help: "Search index builds."}),
		size:   prometheus.NewGauge(prometheus.GaugeOpts{Name: "dvcbot_search_index_procedures", Help: "Procedures in the search index."}),
		took: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dvcbot_search_index_build_seconds", Help: "Search index build time.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 10)}),
	}
	if reg != nil {
		reg.MustRegister(r.builds, r.size, r.took)
	}
	r.holder = NewHolder(BuildDocs(nil, an))
	if _, err := r.Refresh(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Holder is what searches go through.
func (r *Refresher) Holder() *Holder { return r.holder }

// Refresh rebuilds the index if the catalogue version moved; it reports
// whether it did.
func (r *Refresher) Refresh(ctx context.Context) (bool, error) {
	v, err := r.src.CatalogVersion(ctx)
	if err != nil {
		return false, err
	}
	if v == r.version {
		return false, nil
	}
	start := time.Now()
	docs, err := r.src.SearchDocs(ctx)
	if err != nil {
		return false, err
	}
	ix := BuildDocs(docs, r.an)
	r.holder.Swap(ix)
	r.version = v
	r.builds.Inc()
	r.size.Set(float64(ix.Len()))
	r.took.Observe(time.Since(start).Seconds())
	r.log.Info("search index built", "procedures", ix.Len(), "catalogue_version", v, "took", time.Since(start).String())
	return true, nil
}

// Run polls until ctx ends. A failed check is logged and retried next tick.
func (r *Refresher) Run(ctx context.Context) error {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := r.Refresh(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("refreshing the search index", "error", err)
			}
		}
	}
}
