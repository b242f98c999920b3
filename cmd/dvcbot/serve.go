package main

import (
	"bufio"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/notices"
	"github.com/dvcbot/dvcbot/bots/officer"
	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/channels/email"
	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/demo"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/inbound"
	"github.com/dvcbot/dvcbot/core/message"
	"github.com/dvcbot/dvcbot/core/nationaldb"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/search"
	"github.com/dvcbot/dvcbot/core/spool"
	"github.com/dvcbot/dvcbot/core/ticket"
	"github.com/dvcbot/dvcbot/core/vntext"
	"github.com/dvcbot/dvcbot/store"
)

// app is the wired service: database, components and HTTP routes.
type app struct {
	cfg     Config
	log     *slog.Logger
	db      *store.DB
	reg     *prometheus.Registry
	mux     *http.ServeMux
	tr      *i18n.Catalog
	search  *search.Refresher
	bot     *citizen.Bot
	pipe    *inbound.Pipeline
	desk    *ticket.Desk // the hand-off desk: the pipeline's route and the console's inbox
	runners []func(context.Context) error
	senders []notify.Sender // channel-provided outbox senders (Telegram)
	syncer  *catalogsync.Syncer
	spool   *spool.Spool
	closers []func()
}

// wireConversations builds the search index, the citizen bot and the channels.
func (a *app) wireConversations(ctx context.Context) error {
	tr, err := i18n.New()
	if err != nil {
		return err
	}
	a.tr = tr
	an, err := search.NewAnalyzer()
	if err != nil {
		return err
	}
	a.search, err = search.NewRefresher(ctx, a.db, an, a.cfg.SearchRefresh, a.log, a.reg)
	if err != nil {
		return err
	}
	a.runners = append(a.runners, a.search.Run)
	holder := a.search.Holder()
	search.NewAPI(holder, a.db.Catalog(), a.log).Register(a.mux)
	a.bot = citizen.New(a.db.Dossiers(), a.db.Catalog(), holder, a.db.Ratings(), a.db.Sessions(), tr,
		citizen.WithLogger(a.log), citizen.WithRateLimit(a.cfg.RateLimit), citizen.WithMaxLen(a.cfg.MaxMessageLen),
		citizen.WithLookupAudit(a.db.LookupAudit()))
	if err := a.wirePipeline(tr); err != nil {
		return err
	}
	deps := a.channelDeps()
	var chans []channels.Channel
	for _, spec := range a.cfg.Channels {
		if !spec.Enabled() {
			continue
		}
		built, err := spec.Build(ctx, deps)
		if err != nil {
			return fmt.Errorf("channel %s: %w", spec.Name(), err)
		}
		chans = append(chans, built.Channel)
		a.senders = append(a.senders, built.Senders...)
		a.runners = append(a.runners, built.Runners...)
	}
	for _, ch := range chans {
		ch.Register(a.mux)
		a.log.Info("channel enabled", "channel", ch.Name())
	}
	return a.wireNotices(ctx) // proactive notices, then the outbox workers
}

// wirePipeline builds the inbound pipeline every channel hands its
// messages to: routes before the citizen bot (SMS opt-out, the officers'
// Telegram commands), the disk spool for database outages, the sweeper.
func (a *app) wirePipeline(tr *i18n.Catalog) error {
	opts := []inbound.Option{inbound.WithLogger(a.log), inbound.WithMetrics(a.reg), inbound.WithClaimTimeout(a.cfg.ClaimTimeout),
		// The dossier a message names is read with its claim: a look-up is two round trips in all.
		inbound.WithPrefetch(func(text string) string { return vntext.FirstNationalCode(text, time.Now()) }),
		inbound.WithRoute(notices.Route(a.db.Notices(nil, nil), a.db.Dossiers(), tr, a.log, nil)),
		inbound.WithRoute(officer.New(a.db.Officers(), a.db.Sync(), tr).Route(a.log)), a.handoffRoute(tr)}
	sp, err := spool.Open(a.cfg.spoolDir(), a.cfg.SpoolMax, spool.WithLogger(a.log), spool.WithMetrics(a.reg))
	if err != nil {
		return fmt.Errorf("DVCBOT_SPOOL_DIR: %w", err)
	}
	a.closers = append(a.closers, func() { _ = sp.Close() })
	if n, size := sp.Len(); n > 0 {
		a.log.Warn("the spool holds messages from a database outage; they are replayed now", "records", n, "bytes", size)
	}
	a.spool = sp
	opts = append(opts, inbound.WithSpool(spoolAdapter{sp}, a.db))
	a.pipe = inbound.New(a.db.Inbound(), a.bot, tr, opts...)
	a.runners = append(a.runners, a.pipe.Run)
	return nil
}

// spoolAdapter fits core/spool to the pipeline's small interface.
type spoolAdapter struct{ s *spool.Spool }

func (a spoolAdapter) Append(ctx context.Context, key string, data []byte) error {
	return a.s.Append(ctx, spool.Record{Key: key, Data: data})
}

func (a spoolAdapter) Replay(ctx context.Context, fn func(ctx context.Context, key string, data []byte) error) (int, error) {
	return a.s.Replay(ctx, func(ctx context.Context, r spool.Record) error { return fn(ctx, r.Key, r.Data) })
}

func (a spoolAdapter) Len() (int, int64) { return a.s.Len() }

// channelDeps is what every channel is built from.
func (a *app) channelDeps() channels.Deps {
	d := channelDeps(a.cfg, a.db, a.pipe, a.tr, a.log, a.reg)
	d.Sessions = a.bot
	if a.desk != nil { // a nil *ticket.Desk would make a non-nil interface
		d.Rotator = a.desk
	}
	if a.db.Dialect() == store.Postgres && a.channelEnabled(message.WebChat) {
		// Web chat pushes reach pages open on other replicas; the bus
		// listens until the runners stop (shutdown closes its connection).
		bus, err := store.NewWebChatBus(a.db, a.cfg.DatabaseURL, store.WithBusLogger(a.log))
		if err != nil {
			a.log.Error("web chat bus: pushes reach this replica's pages only", "error", err)
		} else if bus != nil {
			d.WebChatBus = bus
			a.runners = append(a.runners, bus.Run)
		}
	}
	return d
}

// channelEnabled reports whether the channel named name is configured on.
func (a *app) channelEnabled(name string) bool {
	for _, spec := range a.cfg.Channels {
		if spec.Name() == name && spec.Enabled() {
			return true
		}
	}
	return false
}

func channelDeps(cfg Config, db *store.DB, pipe *inbound.Pipeline, tr *i18n.Catalog, log *slog.Logger, reg prometheus.Registerer) channels.Deps {
	return channels.Deps{Pipe: pipe, Log: log, Metrics: reg, Tr: tr, PublicURL: cfg.publicURL(),
		Credentials: db.Credentials(), OptOuts: db.SMSOptOuts(), Receipts: db.Outbox()}
}

// wireOutbox starts the delivery workers for the channels' senders and the
// configured mail server, and the scheduled sync.
func (a *app) wireOutbox() error {
	if senders := append(mailSenders(a.cfg), a.senders...); len(senders) > 0 {
		opts := append(workerOptions(a.cfg), notify.WithWorkerLogger(a.log), notify.WithWorkerMetrics(a.reg))
		w := notify.NewWorker(a.db.Outbox(), senders, opts...)
		a.runners = append(a.runners, w.Run)
	}
	if a.cfg.NationalDBURL == nil {
		a.log.Info("DVCBOT_NATIONALDB_URL is not set: no catalogue sync")
		return nil
	}
	syncer, err := newSyncer(a.cfg, a.db, a.log, a.reg)
	if err != nil {
		return err
	}
	a.syncer = syncer
	a.runners = append(a.runners, func(ctx context.Context) error { return syncer.Loop(ctx, a.cfg.SyncInterval) })
	return nil
}

// workerOptions are the outbox worker's settings, the channels' included
// (the SMS delivery-report wait).
func workerOptions(cfg Config) []notify.WorkerOption {
	opts := []notify.WorkerOption{notify.WithMaxAttempts(cfg.OutboxAttempts)}
	for _, spec := range cfg.Channels {
		if w, ok := spec.(interface{ WorkerOptions() []notify.WorkerOption }); ok {
			opts = append(opts, w.WorkerOptions()...)
		}
	}
	return opts
}

// mailSenders is the SMTP sender when a mail server is configured.
func mailSenders(cfg Config) []notify.Sender {
	if cfg.SMTPURL == nil {
		return nil
	}
	var opts []email.Option
	if cfg.SMTPRoots != nil {
		opts = append(opts, email.WithTLSConfig(&tls.Config{RootCAs: cfg.SMTPRoots, ServerName: cfg.SMTPURL.Hostname(), MinVersion: tls.VersionTLS12}))
	}
	return []notify.Sender{email.New(cfg.SMTPURL, cfg.AlertFrom, opts...)}
}

// outboxSenders are the senders usable outside serve (commands that send
// alerts): mail, and the channels whose senders need no running service.
func outboxSenders(cfg Config, db *store.DB) []notify.Sender {
	senders := mailSenders(cfg)
	deps := channelDeps(cfg, db, nil, nil, slog.Default(), nil)
	for _, spec := range cfg.Channels {
		if s, ok := spec.(channels.SenderSpec); ok {
			senders = append(senders, s.Senders(deps)...)
		}
	}
	return senders
}

// newSyncer builds the catalogue sync from the configuration.
func newSyncer(cfg Config, db *store.DB, log *slog.Logger, reg prometheus.Registerer) (*catalogsync.Syncer, error) {
	tr, err := i18n.New()
	if err != nil {
		return nil, err
	}
	var recips []catalogsync.Recipient
	for _, e := range cfg.AlertEmails {
		recips = append(recips, catalogsync.Recipient{Kind: notify.Email, Address: e})
	}
	for _, p := range cfg.AlertPhones {
		recips = append(recips, catalogsync.Recipient{Kind: notify.SMS, Address: p})
	}
	base := cfg.publicURL()
	digests := catalogsync.NewDigestBuilder(tr, i18n.Default, func(code string) string {
		return base + "/api/v1/procedures/" + url.PathEscape(code)
	})
	opts := []catalogsync.Option{catalogsync.WithLogger(log), catalogsync.WithRecipients(recips...)}
	clientOpts := []nationaldb.Option{nationaldb.WithConcurrency(cfg.NationalDBConc), nationaldb.WithLogger(log)}
	if reg != nil {
		opts = append(opts, catalogsync.WithMetrics(reg))
		clientOpts = append(clientOpts, nationaldb.WithMetrics(reg))
	}
	client := nationaldb.New(cfg.NationalDBURL, cfg.NationalDBDept, clientOpts...)
	return catalogsync.New(client, db.Catalog(), db.Sync(), digests, opts...), nil
}

// buildSearch indexes the published catalogue once (command-line tools).
func buildSearch(ctx context.Context, db *store.DB) (*search.Holder, error) {
	an, err := search.NewAnalyzer()
	if err != nil {
		return nil, err
	}
	docs, err := db.SearchDocs(ctx)
	if err != nil {
		return nil, err
	}
	return search.NewHolder(search.BuildDocs(docs, an)), nil
}

// openStore opens and migrates the configured database.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (*store.DB, error) {
	db, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	n, err := db.Migrate(ctx)
	if err != nil {
		db.Close()
		return nil, err
	}
	if n > 0 {
		log.Info("database migrated", "applied", n, "dialect", db.Dialect())
	}
	return db, nil
}

// seedDemo loads the demo data into an empty database when DVCBOT_DEMO is on.
func seedDemo(ctx context.Context, cfg Config, db *store.DB, log *slog.Logger) error {
	if !cfg.Demo {
		return nil
	}
	seeded, err := demo.Seed(ctx, db.Catalog(), db.Dossiers(), time.Now())
	if err != nil {
		return fmt.Errorf("loading demo data: %w", err)
	}
	if seeded {
		log.Info("empty database: demo catalogue and dossiers loaded", "demo_phone", demo.ApplicantPhone)
	}
	return nil
}

func newApp(ctx context.Context, cfg Config, log *slog.Logger) (*app, error) {
	db, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, db: db, reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	a.closers = append(a.closers, func() { db.Close() })
	a.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	if err := seedDemo(ctx, cfg, db, log); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.wireConversations(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.wireConsole(ctx); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.wireLookup(); err != nil {
		a.Close()
		return nil, err
	}
	if cfg.DossierSecret == "" {
		log.Warn("DVCBOT_DOSSIER_SECRET is not set: POST /api/v1/dossiers answers 503")
	}
	a.mux.Handle("POST /api/v1/dossiers", dossier.NewAPI(db.Dossiers(), []byte(cfg.DossierSecret),
		dossier.WithLogger(log), dossier.WithMetrics(a.reg), dossier.WithLinker(a.lookupLinker())))
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.mux.HandleFunc("GET /readyz", a.readyz)
	if cfg.MetricsListen == "" {
		a.mux.Handle("GET /metrics", a.metricsHandler(false))
	}
	return a, nil
}

// readyz tells a load balancer ok, degraded (answering from the disk
// spool while the database is away) or down; the details go to the log,
// not to the caller.
func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	status, problem := "ok", ""
	if err := a.db.Ping(ctx); err != nil {
		problem = err.Error()
	} else if pending, err := a.db.PendingMigrations(ctx); err != nil || pending > 0 {
		problem = fmt.Sprintf("%d migrations pending", pending)
		if err != nil {
			problem = err.Error()
		}
	}
	switch {
	case problem != "" && a.spool != nil:
		status = "degraded" // messages are still taken, into the spool
	case problem != "":
		status = "down"
	case a.pipe != nil && a.pipe.Degraded():
		status = "degraded"
	}
	if problem != "" {
		a.log.Warn("readiness check", "status", status, "problem", problem)
	}
	code := http.StatusOK
	if status == "down" {
		code = http.StatusServiceUnavailable
	}
	httpx.JSON(w, code, map[string]string{"status": status})
}

// metricsHandler serves /metrics: behind DVCBOT_METRICS_TOKEN when set,
// else to loopback callers only on the main listener (a separate
// DVCBOT_METRICS_LISTEN is for the operators' network alone).
func (a *app) metricsHandler(onOwnListener bool) http.Handler {
	h := promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg})
	token := a.cfg.MetricsToken
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case token != "":
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
				httpx.Error(w, http.StatusUnauthorized, "a bearer token is required")
				return
			}
		case !onOwnListener && !isLoopback(r.RemoteAddr):
			httpx.Error(w, http.StatusForbidden, "metrics are served to loopback callers or with DVCBOT_METRICS_TOKEN")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Handler is the app's HTTP handler with metrics and access logs.
func (a *app) Handler() http.Handler {
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "dvcbot_http_request_duration_seconds", Help: "HTTP requests by route and status.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "code"})
	a.reg.MustRegister(dur)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		a.mux.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		dur.WithLabelValues(route, strconv.Itoa(rec.status)).Observe(time.Since(start).Seconds())
		a.log.Debug("http", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Hijack hands the connection to the websocket upgrader, which asserts
// http.Hijacker directly.
func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	s.status = http.StatusSwitchingProtocols
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// Close releases what the app opened, in reverse order.
func (a *app) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

func cmdServe(ctx context.Context, e env, cfg Config, args []string) error {
	if len(args) > 0 {
		return usageError("serve takes no arguments")
	}
	log := newLogger(e.stderr, cfg.LogLevel)
	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	log.Info("dvcbot serving", "addr", ln.Addr().String(), "version", buildVersion(), "database", string(a.db.Dialect()))
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("listening on DVCBOT_METRICS_LISTEN %s: %w", cfg.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.metricsHandler(true))
		// Profiles only here, on the operators' listener.
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- msrv.Serve(mln) }()
		defer msrv.Close()
		log.Info("metrics served", "addr", mln.Addr().String())
	}
	bg, stopBG := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, run := range a.runners {
		wg.Go(func() {
			if err := run(bg); err != nil {
				log.Error("background worker stopped", "error", err)
			}
		})
	}
	defer func() { stopBG(); wg.Wait() }()
	select {
	case err := <-errc:
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
