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

// runServe loads the config and serves until ctx ends.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", getenv("DAVGATE_CONFIG"), "config file (default $DAVGATE_CONFIG)")
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
	log := newLogger(stderr, cfg.LogLevel)
	// go-redis logs connection trouble through a logger of its own, one
	// per process; send it to ours so that every line is JSON.
	redis.SetLogger(redisLog{log})

	app, err := newApp(ctx, cfg, log, stderr)
	if err != nil {
		return err
	}
	defer app.Close()

	// SIGHUP reloads the master keyring: new keys start sealing, removed
	// keys stop opening; requests in flight are not disturbed.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := app.reloadKeyring(); err != nil {
				log.Error("reload master keyring", "err", err)
				continue
			}
			log.Info("master keyring reloaded", "file", cfg.MasterKeyFile)
		}
	}()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	limited := connlimit.New(ln, cfg.MaxUnauthenticatedConns, log)
	ln = limited
	srv := &http.Server{
		Handler:           app.handler,
		ConnContext:       limited.ConnContext,
		ReadHeaderTimeout: 20 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	if cfg.TLS.Cert != "" {
		scheme = "https"
	}
	errc := make(chan error, 2)
	var msrv *http.Server
	if cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("metrics_listen: %w", err)
		}
		msrv = newMetricsServer(app.metrics, log)
		msrv.Handler = app.withAdmin(msrv.Handler) // davgate sessions (sessions_admin.go)
		log.Info("metrics serving", "url", fmt.Sprintf("http://%s/metrics", mln.Addr()))
		fmt.Fprintf(stdout, "metrics listening on http://%s/metrics\n", mln.Addr())
		go func() { errc <- fmt.Errorf("metrics: %w", msrv.Serve(mln)) }()
	}
	log.Info("davgate serving", "url", fmt.Sprintf("%s://%s/", scheme, ln.Addr()), "version", versionString(), "store", storeKind(cfg.Store))
	fmt.Fprintf(stdout, "davgate listening on %s://%s/\n", scheme, ln.Addr())

	go func() {
		if cfg.TLS.Cert != "" {
			errc <- srv.ServeTLS(ln, cfg.TLS.Cert, cfg.TLS.Key)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	if msrv != nil {
		msrv.Close() // a scrape loses nothing by being cut short
	}
	return nil
}

// newMetricsServer serves reg at /metrics, and nothing else, in plain
// HTTP: it belongs on a loopback or otherwise private address.
func newMetricsServer(reg *prometheus.Registry, log *slog.Logger) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.Handler(reg))
	return &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// storeKind names the store without its URL, which may hold a password.
func storeKind(spec string) string {
	if spec == "memory" {
		return "memory"
	}
	if session.IsFileStore(spec) {
		return "file"
	}
	return "redis"
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
