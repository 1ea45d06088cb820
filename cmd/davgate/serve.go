package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/internal/connlimit"
	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/internal/metrics"
	"github.com/davgate/davgate/session"
)

var addKey = session.AddKey

// runServe loads the config and serves until ctx ends (SIGTERM or
// SIGINT), then shuts down gracefully (shutdown).
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := configFlag(fl, getenv)
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *cfgPath == "" {
		return errors.New("serve: --config FILE or DAVGATE_CONFIG is required")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if err := cfg.expandCredentials(getenv); err != nil {
		return fmt.Errorf("config %s: %w", *cfgPath, err)
	}
	log := newLogger(stderr, cfg.LogLevel)
	// go-redis logs connection trouble through a logger of its own, one
	// per process; send it to ours so that every line is JSON.
	redis.SetLogger(redisLog{log})

	app, err := newApp(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	defer app.Close() // after shutdown: no handler uses SMB or the store any more
	var certs *certReloader
	if cfg.TLS.Cert != "" {
		if certs, err = newCertReloader(cfg.TLS.Cert, cfg.TLS.Key); err != nil {
			return err
		}
	}
	stopHUP := reloadOnHUP(app, certs, log)
	defer stopHUP()
	return serveUntil(ctx, cfg, app, certs, log, stdout)
}

// reloadOnHUP reloads the master keyring and the TLS certificate on
// SIGHUP: new keys start sealing, removed keys stop opening, new
// handshakes get the new certificate; requests and connections in flight
// are not disturbed. What does not load is logged and the old is kept.
func reloadOnHUP(app *app, certs *certReloader, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for range hup {
			if err := app.reloadKeyring(); err != nil {
				log.Error("reload master keyring; keeping the keys loaded before", "err", err)
			} else {
				log.Info("master keyring reloaded", "file", app.cfg.MasterKeyFile)
			}
			if certs == nil {
				continue
			}
			if err := certs.reload(); err != nil {
				log.Error("reload TLS certificate; keeping the certificate loaded before", "err", err)
				continue
			}
			leaf := certs.cert.Load().Leaf
			log.Info("TLS certificate reloaded", "file", certs.certFile, "subject", leaf.Subject.String(), "not_after", leaf.NotAfter)
		}
	}()
	return func() { signal.Stop(hup); close(hup) }
}

// serveUntil serves the public and metrics listeners until ctx ends or a
// listener fails, then shuts down.
func serveUntil(ctx context.Context, cfg Config, app *app, certs *certReloader, log *slog.Logger, stdout io.Writer) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	d := newDrain()
	registerDrainMetric(app.metrics, d)
	h := &health{drain: d, ping: app.stores.ping, log: log,
		keyring: func() bool { k := app.keyring.Load(); return k != nil && len(k.IDs()) > 0 }}
	limited := connlimit.New(ln, cfg.MaxUnauthenticatedConns, log)
	ln = limited
	proxies, _ := httplog.ParseProxies(cfg.TrustedProxies) // checked with the config
	srv := &http.Server{
		// The access log covers the probes (at debug) and the requests
		// refused while draining too; app.handler's own httplog
		// middleware joins this one.
		Handler:           httplog.Middleware(log, proxies, nil, h.routes(d.wrap(app.handler))),
		ConnContext:       limited.ConnContext,
		ReadHeaderTimeout: 20 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if certs != nil {
		scheme = "https"
		srv.TLSConfig = serverTLSConfig(certs)
	}
	errc := make(chan error, 2)
	var msrv *http.Server
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics_listen: %w", err)
		}
		msrv = newMetricsServer(app.metrics, h, log)
		msrv.Handler = httplog.Middleware(log, nil, nil, app.withAdmin(msrv.Handler)) // davgate sessions (sessions_admin.go)
		log.Info("metrics serving", "url", fmt.Sprintf("http://%s/metrics", mln.Addr()))
		fmt.Fprintf(stdout, "metrics listening on http://%s/metrics\n", mln.Addr())
		go func() { errc <- fmt.Errorf("metrics: %w", msrv.Serve(mln)) }()
	}
	log.Info("davgate serving", "url", fmt.Sprintf("%s://%s/", scheme, ln.Addr()), "version", versionString(), "store", storeKind(cfg.Store))
	fmt.Fprintf(stdout, "davgate listening on %s://%s/\n", scheme, ln.Addr())
	go func() {
		if certs != nil {
			errc <- srv.ServeTLS(ln, "", "") // certificates from srv.TLSConfig
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err = <-errc:
		err = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	force := make(chan os.Signal, 1)
	signal.Notify(force, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(force)
	shutdown(srv, d, cfg.Shutdown, force, log)
	if msrv != nil {
		msrv.Close() // a scrape loses nothing by being cut short
	}
	return err
}

// newMetricsServer serves reg at /metrics, and the probes, and nothing
// else, in plain HTTP: it belongs on a loopback or otherwise private
// address.
func newMetricsServer(reg *prometheus.Registry, h *health, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", quietAccess(metrics.Handler(reg)))
	return &http.Server{
		Handler:           h.routes(mux),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// storeKind names the store without its URL, which may hold a password.
func storeKind(spec string) string {
	switch {
	case spec == "" || spec == "memory":
		return "memory"
	case isRedisURL(spec):
		return "redis"
	}
	if i := strings.Index(spec, ":"); i > 0 {
		return spec[:i]
	}
	return "unknown"
}

// redisLog passes go-redis' messages (dial failures; no credentials) on.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.WarnContext(ctx, "redis client", "detail", fmt.Sprintf(format, v...))
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level))
	return slog.New(httplog.NewHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}
