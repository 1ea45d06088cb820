package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/davgate/davgate/internal/httplog"
)

// health answers the probes, on the public listener and on the metrics
// listener: /healthz says the process serves HTTP (liveness), /readyz
// that it can serve users (readiness): its master keyring is loaded, its
// store answers and it is not shutting down. Neither needs a session, and
// neither body says more than which check failed.
type health struct {
	drain   *drain
	keyring func() bool                     // a keyring with at least one key is loaded
	ping    func(ctx context.Context) error // the store answers
	log     *slog.Logger

	mu    sync.Mutex
	ready bool // at the last check, for logging changes
}

// readyTimeout bounds the store check of one /readyz.
const readyTimeout = 3 * time.Second

// routes serves /healthz and /readyz ahead of next, which gets the rest.
// Their access lines are at debug level (quietAccess): a kubelet polls
// every few seconds, and a change of readiness is logged by itself.
func (h *health) routes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			switch r.URL.Path {
			case "/healthz":
				httplog.SetAccessLevel(r.Context(), slog.LevelDebug)
				h.handleHealthz(w, r)
				return
			case "/readyz":
				httplog.SetAccessLevel(r.Context(), slog.LevelDebug)
				h.handleReadyz(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// quietAccess logs next's requests at debug level: polls (probes,
// Prometheus scrapes) that would flood the log at info.
func quietAccess(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httplog.SetAccessLevel(r.Context(), slog.LevelDebug)
		next.ServeHTTP(w, r)
	})
}

func (h *health) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeProbe(w, http.StatusOK, "ok\n")
}

func (h *health) handleReadyz(w http.ResponseWriter, r *http.Request) {
	failed := h.check(r.Context())
	if len(failed) > 0 {
		writeProbe(w, http.StatusServiceUnavailable, "not ready: "+strings.Join(failed, ", ")+"\n")
		return
	}
	writeProbe(w, http.StatusOK, "ready\n")
}

// check returns the names of the failed checks, and logs when readiness
// changes.
func (h *health) check(ctx context.Context) []string {
	var failed []string
	var storeErr error
	if !h.keyring() {
		failed = append(failed, "keyring not loaded")
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if storeErr = h.ping(ctx); storeErr != nil {
		failed = append(failed, "store unreachable")
	}
	if h.drain.Draining() {
		failed = append(failed, "shutting down")
	}
	h.mu.Lock()
	changed := h.ready != (len(failed) == 0)
	h.ready = len(failed) == 0
	h.mu.Unlock()
	if changed && len(failed) > 0 {
		attrs := []any{"failed", strings.Join(failed, ", ")}
		if storeErr != nil {
			attrs = append(attrs, "err", storeErr)
		}
		h.log.Warn("not ready", attrs...)
	} else if changed {
		h.log.Info("ready")
	}
	return failed
}

func writeProbe(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// registerDrainMetric exports the shutdown state: 1 while draining.
func registerDrainMetric(reg prometheus.Registerer, d *drain) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "davgate_draining",
		Help: "1 while davgate is shutting down and refuses new requests, else 0.",
	}, func() float64 {
		if d.Draining() {
			return 1
		}
		return 0
	}))
}
