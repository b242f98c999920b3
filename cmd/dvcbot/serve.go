package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dvcbot/dvcbot/bots/citizen"
	"github.com/dvcbot/dvcbot/bots/officer"
	"github.com/dvcbot/dvcbot/channels"
	"github.com/dvcbot/dvcbot/channels/email"
	"github.com/dvcbot/dvcbot/channels/sms"
	"github.com/dvcbot/dvcbot/channels/telegram"
	"github.com/dvcbot/dvcbot/channels/webchat"
	"github.com/dvcbot/dvcbot/channels/zalo"
	"github.com/dvcbot/dvcbot/core/catalogsync"
	"github.com/dvcbot/dvcbot/core/demo"
	"github.com/dvcbot/dvcbot/core/dossier"
	"github.com/dvcbot/dvcbot/core/httpx"
	"github.com/dvcbot/dvcbot/core/i18n"
	"github.com/dvcbot/dvcbot/core/nationaldb"
	"github.com/dvcbot/dvcbot/core/notify"
	"github.com/dvcbot/dvcbot/core/search"
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
	runners []func(context.Context) error
	senders []notify.Sender // channel-provided outbox senders (Telegram)
	syncer  *catalogsync.Syncer
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
		citizen.WithLogger(a.log), citizen.WithRateLimit(a.cfg.RateLimit), citizen.WithMaxLen(a.cfg.MaxMessageLen))
	smsCfg := sms.Config{Key: a.cfg.SMSKey, AllowCIDRs: a.cfg.SMSAllowCIDRs, Secret: a.cfg.SMSSecret,
		Accents: a.cfg.SMSAccents, MaxSegments: a.cfg.SMSMaxSegments}
	chans := []channels.Channel{
		webchat.New(a.bot, tr, webchat.WithOrigins(a.cfg.WebOrigins), webchat.WithLogger(a.log), webchat.WithMetrics(a.reg)),
		sms.New(smsCfg, a.bot, a.db.Inbox(), a.db.SMSOptOuts(), a.db.Outbox(), tr, sms.WithLogger(a.log), sms.WithMetrics(a.reg)),
	}
	if a.cfg.ZaloAppID != "" {
		tokens := zalo.NewTokens(a.db.Credentials(), a.cfg.ZaloOAuthURL, a.cfg.ZaloAppID, a.cfg.ZaloAppSecret, a.log)
		tokens.Register(a.reg)
		a.runners = append(a.runners, tokens.KeepFresh)
		chans = append(chans, zalo.New(zalo.Config{AppID: a.cfg.ZaloAppID, OASecret: a.cfg.ZaloOASecret, OAID: a.cfg.ZaloOAID},
			a.bot, a.db.Inbox(), zalo.NewAPI(a.cfg.ZaloAPIURL, tokens), tr, zalo.WithLogger(a.log), zalo.WithMetrics(a.reg)))
	}
	if a.cfg.TelegramToken != "" {
		officers := officer.New(a.db.Officers(), a.db.Sync(), tr)
		tg, err := telegram.New(ctx, telegram.Config{Token: a.cfg.TelegramToken, Secret: a.cfg.TelegramSecret, Mode: a.cfg.TelegramMode,
			APIURL: a.cfg.TelegramAPIURL, PublicURL: a.cfg.PublicURL}, a.bot, officers, a.db.Inbox(), tr,
			telegram.WithLogger(a.log), telegram.WithMetrics(a.reg))
		if err != nil {
			return err
		}
		a.senders = append(a.senders, tg.Sender())
		chans = append(chans, tg)
	}
	for _, ch := range chans {
		ch.Register(a.mux)
		if r, ok := ch.(channels.Runner); ok {
			a.runners = append(a.runners, r.Run)
		}
		a.log.Info("channel enabled", "channel", ch.Name())
	}
	return a.wireOutbox()
}

// wireOutbox starts the delivery workers for the configured senders and the
// scheduled sync.
func (a *app) wireOutbox() error {
	if senders := append(outboxSenders(a.cfg, a.db), a.senders...); len(senders) > 0 {
		w := notify.NewWorker(a.db.Outbox(), senders, notify.WithMaxAttempts(a.cfg.OutboxAttempts),
			notify.WithWorkerLogger(a.log), notify.WithWorkerMetrics(a.reg))
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

// outboxSenders are the configured delivery channels of the outbox.
func outboxSenders(cfg Config, db *store.DB) []notify.Sender {
	var senders []notify.Sender
	if cfg.SMSSendURL != nil {
		dlr := cfg.publicURL() + "/channels/sms/dlr"
		if cfg.SMSKey != "" {
			dlr += "?key=" + url.QueryEscape(cfg.SMSKey)
		}
		senders = append(senders, sms.NewSender(sms.SenderConfig{URL: cfg.SMSSendURL, Kind: cfg.SMSSendKind,
			Shortcode: cfg.SMSShortcode, Secret: cfg.SMSSecret, DLRURL: dlr, Accents: cfg.SMSAccents,
			MaxSegments: cfg.SMSMaxSegments}, db.SMSOptOuts(), nil))
	}
	if cfg.SMTPURL != nil {
		var opts []email.Option
		if cfg.SMTPRoots != nil {
			opts = append(opts, email.WithTLSConfig(&tls.Config{RootCAs: cfg.SMTPRoots, ServerName: cfg.SMTPURL.Hostname(), MinVersion: tls.VersionTLS12}))
		}
		senders = append(senders, email.New(cfg.SMTPURL, cfg.AlertFrom, opts...))
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
	if cfg.DossierSecret == "" {
		log.Warn("DVCBOT_DOSSIER_SECRET is not set: POST /api/v1/dossiers answers 503")
	}
	a.mux.Handle("POST /api/v1/dossiers", dossier.NewAPI(db.Dossiers(), []byte(cfg.DossierSecret),
		dossier.WithLogger(log), dossier.WithMetrics(a.reg)))
	a.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	a.mux.HandleFunc("GET /readyz", a.readyz)
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{Registry: a.reg}))
	return a, nil
}

func (a *app) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	if err := a.db.Ping(ctx); err != nil {
		httpx.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": err.Error()})
		return
	}
	pending, err := a.db.PendingMigrations(ctx)
	if err != nil || pending > 0 {
		msg := fmt.Sprintf("%d migrations pending", pending)
		if err != nil {
			msg = err.Error()
		}
		httpx.JSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": msg})
		return
	}
	httpx.JSON(w, http.StatusOK, map[string]string{"status": "ready", "database": string(a.db.Dialect())})
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
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
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
