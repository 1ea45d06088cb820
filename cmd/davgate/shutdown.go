package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/davgate/davgate/internal/httplog"
)

// drain counts the requests being served and, once shutdown begins,
// refuses new ones: they get 503 with Retry-After and Connection: close,
// so that a client or a load balancer goes to another instance, while the
// transfers already running finish.
type drain struct {
	mu       sync.Mutex
	draining bool
	active   int
	idle     chan struct{} // closed once draining with nothing active
}

func newDrain() *drain { return &drain{idle: make(chan struct{})} }

// drainRetryAfter is the Retry-After, in seconds, of a request refused
// while draining.
const drainRetryAfter = "5"

// wrap serves next unless davgate is draining.
func (d *drain) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !d.enter() {
			// The access line says why, at info.
			httplog.SetReason(r.Context(), "shutting_down")
			w.Header().Set("Retry-After", drainRetryAfter)
			// HTTP/1.1 closes the connection; HTTP/2 sends GOAWAY.
			w.Header().Set("Connection", "close")
			http.Error(w, "davgate is shutting down; try again shortly", http.StatusServiceUnavailable)
			return
		}
		defer d.leave()
		next.ServeHTTP(w, r)
	})
}

func (d *drain) enter() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return false
	}
	d.active++
	return true
}

func (d *drain) leave() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.active--
	if d.draining && d.active == 0 {
		close(d.idle)
	}
}

// start refuses every request from now on.
func (d *drain) start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining {
		return
	}
	d.draining = true
	if d.active == 0 {
		close(d.idle)
	}
}

// Draining reports whether shutdown has begun.
func (d *drain) Draining() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.draining
}

// Active is the number of requests being served.
func (d *drain) Active() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.active
}

// wait returns once every request has returned after start, or ctx's
// error when ctx ends first.
func (d *drain) wait(ctx context.Context) error {
	select {
	case <-d.idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shutdown ends srv gracefully: new requests get 503; those running get
// cfg.Drain to finish; then their connections are closed, which ends
// their body reads and writes, and shutdown waits up to cfg.Cleanup more
// for them to return (a failed PUT removes its temporary file on the way
// out). A signal on force (a second SIGTERM or Ctrl-C) ends the drain
// time at once. Only then may the caller close the SMB connections and
// the store.
func shutdown(srv *http.Server, d *drain, cfg ShutdownConfig, force <-chan os.Signal, log *slog.Logger) {
	d.start()
	log.Info("shutting down: draining", "requests", d.Active(), "drain", time.Duration(cfg.Drain).String())
	dctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.Drain))
	defer cancel()
	go func() {
		select {
		case sig := <-force:
			log.Warn("shutting down: second signal; ending the drain time now", "signal", sig.String())
			cancel()
		case <-dctx.Done():
		}
	}()
	drained := d.wait(dctx) == nil
	// Once the handlers have returned, their responses are flushed and the
	// connections closed as they go idle; past the drain time, at once.
	sctx := dctx
	if drained {
		var scancel context.CancelFunc
		sctx, scancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
	} else {
		log.Warn("shutting down: drain time over; closing the connections of running requests", "requests", d.Active())
	}
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	cctx, ccancel := context.WithTimeout(context.Background(), time.Duration(cfg.Cleanup))
	defer ccancel()
	if err := d.wait(cctx); err != nil {
		log.Error("shutting down: requests still running after the clean-up time; closing anyway", "requests", d.Active())
		return
	}
	log.Info("shutting down: every request has ended")
}
