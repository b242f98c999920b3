// Package catalogsync keeps the catalogue in step with the national
// procedures database (seed 000, Điều 4–5): it fetches each time window's
// modified procedures, stores new versions, and queues one change digest per
// recipient in the outbox, in the same transaction that moves the
// checkpoint, so no change goes unreported and none is reported twice.
package catalogsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dvcbot/dvcbot/core/catalog"
	"github.com/dvcbot/dvcbot/core/nationaldb"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/vntext"
)

// FirstStart is where the first sync starts (nationaldb-api.md).
var FirstStart = time.Date(2016, 1, 1, 0, 0, 0, 0, vntext.VietnamTime())

// Overlap re-reads the end of the previous window, so a procedure stamped
// just before our clock's "now" on a slower upstream clock is not missed.
// Overlapping windows change nothing.
const Overlap = 10 * time.Minute

// BatchSize is how many procedures one catalogue transaction stores.
const BatchSize = 200

// ErrBusy means another replica is syncing.
var ErrBusy = errors.New("another sync is running")

// Recipient receives change digests.
type Recipient struct {
	Kind    string // notify.Email, notify.SMS, notify.Telegram
	Address string
}

// Pending is a stored change not yet reported.
type Pending struct {
	VersionID int64
	Change    catalog.Change
}

// Run is one sync run as stored.
type Run struct {
	ID                                          int64
	StartedAt                                   time.Time
	FinishedAt                                  *time.Time
	WindowStart, WindowEnd                      time.Time
	State                                       string
	Fetched, New, Modified, Cancelled, Restored int
	Alerts                                      int
	Error                                       string
	// Skipped counts the listed procedures the portal would not serve;
	// Skips are they, and Resolved the earlier skips served this time
	// (both written by Finish).
	Skipped  int
	Skips    []Skip
	Resolved []int64
}

// A Skip is a listed procedure the portal would not serve: unknown to it
// (ReasonNotFound) or served unusable (ReasonInvalid). The checkpoint moves
// past it, so it is kept and fetched again by the following syncs until it
// comes, at most MaxSkipAttempts times.
type Skip struct {
	SystemID  int64     `json:"id_hethong"`
	Reason    string    `json:"reason"`
	Error     string    `json:"error"`
	Attempts  int       `json:"attempts"`
	Retried   bool      `json:"retried"` // Attempts < MaxSkipAttempts: the syncs still ask for it
	FirstRun  int64     `json:"first_run"`
	LastRun   int64     `json:"last_run"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

const (
	ReasonNotFound = "not_found"
	ReasonInvalid  = "invalid"
	// MaxSkipAttempts bounds the re-fetches of a skipped procedure: after
	// that it stays listed for the operators, who may ask the portal.
	MaxSkipAttempts = 10
)

// Store is what the sync needs beyond the catalogue.
type Store interface {
	// TryLock takes the one-sync-at-a-time lock; ok is false when another
	// process holds it.
	TryLock(ctx context.Context) (unlock func(), ok bool, err error)
	// Checkpoint is the end of the last fully stored window.
	Checkpoint(ctx context.Context) (time.Time, bool, error)
	StartRun(ctx context.Context, start, end time.Time) (int64, error)
	// Finish, in one transaction: reads every unreported change (this run's
	// and any left by a crashed run), queues the messages build returns,
	// marks the changes reported, records run.Skips and forgets
	// run.Resolved, moves the checkpoint to end and closes the run. It
	// returns how many messages were queued.
	Finish(ctx context.Context, run Run, build func([]Pending) []notify.Message) (int, error)
	// Skips are the skipped procedures still waiting to be served.
	Skips(ctx context.Context) ([]Skip, error)
	FailRun(ctx context.Context, run Run) error
	LastRun(ctx context.Context) (Run, bool, error)
	// Subscribers are the recipients stored in the database.
	Subscribers(ctx context.Context) ([]Recipient, error)
}

// Syncer runs syncs.
type Syncer struct {
	client     *nationaldb.Client
	catalog    catalog.Store
	store      Store
	digests    *DigestBuilder
	recipients []Recipient
	now        func() time.Time
	log        *slog.Logger
	m          metrics
}

type metrics struct {
	runs     *prometheus.CounterVec
	duration prometheus.Histogram
	fetched  prometheus.Counter
	changes  *prometheus.CounterVec
	queued   *prometheus.CounterVec
	lastOK   prometheus.Gauge
}

// Option configures a Syncer.
type Option func(*Syncer)

// WithClock replaces time.Now.
func WithClock(now func() time.Time) Option { return func(s *Syncer) { s.now = now } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Syncer) { s.log = l } }

// WithRecipients adds configured recipients (DVCBOT_ALERT_EMAILS, _PHONES).
func WithRecipients(r ...Recipient) Option {
	return func(s *Syncer) { s.recipients = append(s.recipients, r...) }
}

// WithMetrics registers the sync's metrics.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(s *Syncer) {
		reg.MustRegister(s.m.runs, s.m.duration, s.m.fetched, s.m.changes, s.m.queued, s.m.lastOK)
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "dvcbot_sync_checkpoint_age_seconds", Help: "Age of the sync checkpoint (0 before the first sync).",
		}, func() float64 {
			cp, ok, err := s.store.Checkpoint(context.Background())
			if err != nil || !ok {
				return 0
			}
			return s.now().Sub(cp).Seconds()
		}))
	}
}

// New returns a syncer.
func New(client *nationaldb.Client, cat catalog.Store, st Store, digests *DigestBuilder, opts ...Option) *Syncer {
	s := &Syncer{client: client, catalog: cat, store: st, digests: digests, now: time.Now, log: slog.Default(),
		m: metrics{
			runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dvcbot_sync_runs_total", Help: "Sync runs by result."}, []string{"result"}),
			duration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "dvcbot_sync_duration_seconds", Help: "Sync run duration.",
				Buckets: prometheus.ExponentialBuckets(0.5, 2, 12)}),
			fetched: prometheus.NewCounter(prometheus.CounterOpts{Name: "dvcbot_sync_procedures_fetched_total", Help: "Procedure details fetched."}),
			changes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dvcbot_sync_changes_total", Help: "Catalogue changes found by the sync, by kind."}, []string{"kind"}),
			queued:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "dvcbot_sync_alerts_queued_total", Help: "Change digests queued, by channel."}, []string{"kind"}),
			lastOK:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "dvcbot_sync_last_success_timestamp_seconds", Help: "When the last sync succeeded."}),
		}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Summary is what one run did.
type Summary struct {
	Run     Run
	Skipped int
	Queued  int
}

// RunOnce syncs the window from the checkpoint to now. It returns ErrBusy
// when another replica is syncing.
func (s *Syncer) RunOnce(ctx context.Context) (Summary, error) {
	unlock, ok, err := s.store.TryLock(ctx)
	if err != nil {
		return Summary{}, err
	}
	if !ok {
		return Summary{}, ErrBusy
	}
	defer unlock()

	begin := s.now()
	start := FirstStart
	if cp, ok, err := s.store.Checkpoint(ctx); err != nil {
		return Summary{}, err
	} else if ok {
		start = cp.Add(-Overlap)
	}
	end := begin.Truncate(time.Second)
	run := Run{StartedAt: begin.UTC(), WindowStart: start.UTC(), WindowEnd: end.UTC(), State: "running"}
	if run.ID, err = s.store.StartRun(ctx, run.WindowStart, run.WindowEnd); err != nil {
		return Summary{}, err
	}
	sum, err := s.run(ctx, &run)
	s.m.duration.Observe(s.now().Sub(begin).Seconds())
	if err != nil {
		s.m.runs.WithLabelValues("failed").Inc()
		run.State, run.Error = "failed", err.Error()
		if ferr := s.store.FailRun(context.WithoutCancel(ctx), run); ferr != nil {
			s.log.Error("recording a failed sync", "error", ferr)
		}
		s.log.Error("sync failed; the checkpoint stays and the next run resumes", "window_start", start, "error", err)
		return Summary{Run: run}, err
	}
	s.m.runs.WithLabelValues("ok").Inc()
	s.m.lastOK.Set(float64(s.now().Unix()))
	s.log.Info("sync done", "fetched", run.Fetched, "new", run.New, "modified", run.Modified, "cancelled", run.Cancelled,
		"restored", run.Restored, "skipped", sum.Skipped, "alerts", sum.Queued, "took", s.now().Sub(begin).String())
	return sum, nil
}

func (s *Syncer) run(ctx context.Context, run *Run) (Summary, error) {
	sum := Summary{}
	// Listing, fetching and storing overlap: the lister hands ids to the
	// fetchers as each page arrives, and the fetchers hand procedures to one
	// storer, which writes them in batches while the next ones download.
	fetchCtx, stopFetching := context.WithCancel(ctx)
	defer stopFetching()
	ids := make(chan int64, nationaldb.PageSize)
	listed := make(chan error, 1)
	// Procedures skipped by earlier runs are asked for again first.
	earlier, err := s.store.Skips(ctx)
	if err != nil {
		return sum, err
	}
	retry := map[int64]bool{}
	for _, k := range earlier {
		if k.Retried {
			retry[k.SystemID] = true
		}
	}
	go func() {
		defer close(ids)
		seen := map[int64]bool{} // a procedure may be listed twice (pages shifting under us)
		for id := range retry {
			seen[id] = true
			select {
			case ids <- id:
			case <-fetchCtx.Done():
				listed <- fetchCtx.Err()
				return
			}
		}
		err := s.client.ListPages(fetchCtx, run.WindowStart, run.WindowEnd, func(items []nationaldb.Item) error {
			for _, it := range items {
				if seen[it.SystemID] {
					continue
				}
				seen[it.SystemID] = true
				select {
				case ids <- it.SystemID:
				case <-fetchCtx.Done():
					return fetchCtx.Err()
				}
			}
			return nil
		})
		if err != nil {
			stopFetching() // an incomplete window cannot be checkpointed
		}
		listed <- err
	}()
	fetched := make(chan catalog.Procedure, 2*BatchSize)
	stored := make(chan error, 1)
	go func() {
		err := s.storeBatches(ctx, run, fetched)
		if err != nil {
			stopFetching() // no point downloading what cannot be stored
		}
		stored <- err
	}()
	fetchErr := s.client.Details(fetchCtx, ids, func(p catalog.Procedure) error {
		run.Fetched++
		s.m.fetched.Inc()
		if retry[p.SystemID] {
			run.Resolved = append(run.Resolved, p.SystemID)
		}
		select {
		case fetched <- p:
			return nil
		case <-fetchCtx.Done():
			return fetchCtx.Err()
		}
	}, func(id int64, err error) {
		sum.Skipped++
		reason := ReasonInvalid
		if errors.Is(err, nationaldb.ErrNotFound) {
			reason = ReasonNotFound
		}
		run.Skips = append(run.Skips, Skip{SystemID: id, Reason: reason, Error: err.Error()})
		s.log.Warn("listed procedure cannot be fetched; skipped", "id_hethong", id, "error", err)
	})
	run.Skipped = sum.Skipped
	close(fetched)
	storeErr := <-stored
	stopFetching() // releases the lister if the fetchers stopped first
	listErr := <-listed
	if err := cause(ctx, listErr, fetchErr, storeErr); err != nil {
		return sum, fmt.Errorf("syncing the window: %w", err)
	}
	recipients, err := s.allRecipients(ctx)
	if err != nil {
		return sum, err
	}
	run.State = "ok"
	finished := s.now().UTC()
	run.FinishedAt = &finished
	var built []notify.Message
	queued, err := s.store.Finish(ctx, *run, func(pending []Pending) []notify.Message {
		built = s.messages(run.ID, pending, recipients)
		return built
	})
	if err != nil {
		return sum, err
	}
	for _, m := range built {
		s.m.queued.WithLabelValues(m.Kind).Inc()
	}
	run.Alerts = queued
	sum.Run, sum.Queued = *run, queued
	return sum, nil
}

// cause picks the error that stopped a run: the first that is not just
// another stage being cancelled because of it.
func cause(ctx context.Context, errs ...error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var canceled error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			canceled = err
		default:
			return err
		}
	}
	return canceled
}

// storeBatches writes what arrives on fetched in batches, each in one catalogue
// transaction, and counts the changes into run. After a failed batch it
// drains the channel so the fetchers can finish.
func (s *Syncer) storeBatches(ctx context.Context, run *Run, fetched <-chan catalog.Procedure) error {
	var batch []catalog.Procedure
	var failed error
	flush := func() {
		if len(batch) == 0 || failed != nil {
			batch = batch[:0]
			return
		}
		failed = s.catalog.CatalogTx(ctx, func(ctx context.Context, tx catalog.Tx) error {
			changes, err := catalog.Apply(ctx, tx, batch, catalog.SourceSync, s.now())
			if err != nil {
				return err
			}
			c := Count(changes)
			run.New, run.Modified, run.Cancelled, run.Restored = run.New+c.New, run.Modified+c.Modified, run.Cancelled+c.Cancelled, run.Restored+c.Restored
			for _, ch := range changes {
				s.m.changes.WithLabelValues(string(ch.Kind)).Inc()
			}
			return nil
		})
		batch = batch[:0]
	}
	for p := range fetched {
		batch = append(batch, p)
		if len(batch) >= BatchSize {
			flush()
		}
	}
	flush()
	return failed
}

func (s *Syncer) allRecipients(ctx context.Context) ([]Recipient, error) {
	subs, err := s.store.Subscribers(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[Recipient]bool{}
	var out []Recipient
	for _, r := range append(slices.Clone(s.recipients), subs...) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out, nil
}

// messages builds one digest for the pending changes and addresses it to
// every recipient. The dedupe key names the run and the recipient.
func (s *Syncer) messages(runID int64, pending []Pending, recipients []Recipient) []notify.Message {
	if len(pending) == 0 || len(recipients) == 0 {
		return nil
	}
	changes := make([]catalog.Change, len(pending))
	for i, p := range pending {
		changes[i] = p.Change
	}
	d := s.digests.Build(changes, s.now())
	var out []notify.Message
	for _, r := range recipients {
		m := notify.Message{Kind: r.Kind, Recipient: r.Address, DedupeKey: fmt.Sprintf("sync-%d-%s-%s", runID, r.Kind, r.Address)}
		switch r.Kind {
		case notify.Email:
			m.Payload = notify.Payload{Subject: d.Subject, Text: d.Text, HTML: d.HTML}
		case notify.SMS:
			m.Payload = notify.Payload{Text: d.SMS}
		default:
			m.Payload = notify.Payload{Subject: d.Subject, Text: d.Subject + "\n\n" + d.Text}
		}
		out = append(out, m)
	}
	return out
}

// LastRun is the most recent run (officers' /sync, `dvcbot sync --status`).
func (s *Syncer) LastRun(ctx context.Context) (Run, bool, error) { return s.store.LastRun(ctx) }

// Loop runs a sync every interval until ctx ends; a busy or failed run is
// logged and the loop goes on.
func (s *Syncer) Loop(ctx context.Context, every time.Duration) error {
	for {
		if _, err := s.RunOnce(ctx); err != nil && !errors.Is(err, ErrBusy) && ctx.Err() == nil {
			s.log.Error("scheduled sync failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}
