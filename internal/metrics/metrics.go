// Package metrics owns davgate's Prometheus metrics: it turns the events
// of the HTTP surface (httplog.Observer), log-on (authn.Logon.Observe),
// the SMB connection pool (session.PoolEvents), the audit trail
// (audit.Logger.Tap) and the lock store into counters, gauges and
// histograms in a registry it is given, and serves that registry.
//
// Metrics reveal usage, so they are served on their own listener, never on
// the WebDAV one. What they protect against is a metric that says who did
// what: no label holds a user name, path, session id, client address,
// token or file server address. Every label has a fixed, small set of
// values (methods outside a known list count as "other"), so that neither
// an attacker nor ordinary use can grow the series without bound.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/session"
)

// Metrics are davgate's own metrics. Its methods are safe for concurrent
// use.
type Metrics struct {
	requests  *prometheus.CounterVec   // method, code
	duration  *prometheus.HistogramVec // method
	inFlight  prometheus.Gauge
	reqBytes  *prometheus.CounterVec // method
	respBytes *prometheus.CounterVec // method

	logons *prometheus.CounterVec // result

	dials     *prometheus.CounterVec // mech, result
	connsOpen prometheus.Gauge
	hung      prometheus.Counter
	redials   prometheus.Counter

	op operator

	reg prometheus.Registerer
}

var _ httplog.Observer = (*Metrics)(nil)

// methods are the request methods counted under their own name: those of
// HTTP and WebDAV (RFC 4918) that davgate serves. Any other is "other".
var methods = map[string]bool{
	"GET": true, "HEAD": true, "PUT": true, "POST": true, "DELETE": true, "OPTIONS": true,
	"PROPFIND": true, "PROPPATCH": true, "MKCOL": true, "COPY": true, "MOVE": true, "LOCK": true, "UNLOCK": true,
}

// method is m, or "other" for a method outside the known list.
func method(m string) string {
	if methods[m] {
		return m
	}
	return "other"
}

// durationBuckets reach from a cached PROPFIND to a large upload.
var durationBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// New returns Metrics registered in reg. It panics if they are already
// registered there.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_http_requests_total",
			Help: "HTTP requests answered, by method (unknown ones as other) and status code (aborted: none sent).",
		}, []string{"method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "davgate_http_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer, by method.",
			Buckets: durationBuckets,
		}, []string{"method"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "davgate_http_requests_in_flight",
			Help: "HTTP requests being served now.",
		}),
		reqBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_http_request_body_bytes_total",
			Help: "Request body bytes read (uploads), by method.",
		}, []string{"method"}),
		respBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_http_response_body_bytes_total",
			Help: "Response body bytes written (downloads), by method.",
		}, []string{"method"}),
		logons: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_logons_total",
			Help: "Log-on attempts, by result: ok, refused (401), rate_limited (429, the log-on rate limit), error (503).",
		}, []string{"result"}),
		dials: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "davgate_smb_dials_total",
			Help: "SMB log-on attempts to file servers (connect and session setup), by mechanism and result: ok, refused (credentials), error.",
		}, []string{"mech", "result"}),
		connsOpen: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "davgate_smb_connections_open",
			Help: "TCP connections to file servers open now.",
		}),
		hung: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "davgate_smb_hung_connections_closed_total",
			Help: "SMB connections closed because the file server owed a reply for smb.reply_timeout and sent nothing.",
		}),
		redials: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "davgate_smb_redials_total",
			Help: "Dials to replace a pooled SMB connection that was lost or dropped after an error.",
		}),
	}
	m.reg = reg
	m.op = newOperator(reg)
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.reqBytes, m.respBytes,
		m.logons, m.dials, m.connsOpen, m.hung, m.redials)
	// Series that exist from the start, so that rate() and alerts see a
	// zero before the first event.
	for _, r := range []authn.LogonResult{authn.LogonOK, authn.LogonRefused, authn.LogonRateLimited, authn.LogonError} {
		m.logons.WithLabelValues(string(r))
	}
	for _, mech := range []session.Mech{session.MechNTLM, session.MechKerberos} {
		for _, r := range []string{"ok", "refused", "error"} {
			m.dials.WithLabelValues(string(mech), r)
		}
	}
	return m
}

// WatchBuffers adds the transfer buffer budget (webdav.buffer_mib): its
// size, and how much of it inUse says transfers hold now. A budget used up
// most of the time means transfers run one chunk at a time.
func (m *Metrics) WatchBuffers(inUseMiB func() int, limitMiB int) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "davgate_transfer_buffers_mib",
			Help: "MiB of the transfer buffer budget (read-ahead, writes in flight) that transfers hold now.",
		}, func() float64 { return float64(inUseMiB()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "davgate_transfer_buffers_limit_mib",
			Help: "The transfer buffer budget, webdav.buffer_mib.",
		}, func() float64 { return float64(limitMiB) }),
	)
}

// NewRegistry returns a registry, not the global default one, holding
// the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus exposition formats.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// StartRequest implements httplog.Observer.
func (m *Metrics) StartRequest(meth string) func(httplog.Done) {
	m.inFlight.Inc()
	return func(d httplog.Done) {
		mt := method(meth)
		code := "aborted"
		if d.Status != 0 {
			code = strconv.Itoa(d.Status)
		}
		m.requests.WithLabelValues(mt, code).Inc()
		m.duration.WithLabelValues(mt).Observe(d.Duration.Seconds())
		m.reqBytes.WithLabelValues(mt).Add(float64(d.RequestBytes))
		m.respBytes.WithLabelValues(mt).Add(float64(d.ResponseBytes))
		// Last: a scrape started after one that saw no request in flight
		// sees them all counted.
		m.inFlight.Dec()
	}
}

// Logon counts a log-on attempt; it is authn.Logon's Observe.
func (m *Metrics) Logon(r authn.LogonResult) {
	m.logons.WithLabelValues(string(r)).Inc()
}

// PoolEvents returns the callbacks that count the SMB pool's events.
func (m *Metrics) PoolEvents() session.PoolEvents {
	return session.PoolEvents{
		Dialed: func(mech session.Mech, result string) {
			m.dials.WithLabelValues(string(mech), result).Inc()
		},
		ConnOpened: m.connsOpen.Inc,
		ConnClosed: m.connsOpen.Dec,
		Hung:       m.hung.Inc,
		Redialed:   m.redials.Inc,
	}
}
