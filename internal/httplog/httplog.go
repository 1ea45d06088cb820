// Package httplog gives every request an id and a log context, writes one
// access line per request, and recovers panics. It is internal and shared by
// cmd/davgate, which installs it outermost, and authn, which names the user
// once a token is opened.
//
// Packages log with their injected *slog.Logger and the request's ctx
// (logger.ErrorContext(ctx, ...)); the Handler returned by NewHandler adds
// the request's id, method, path, client address, user agent and user to
// every such line, so no package below needs to know about requests.
//
// It protects against secrets in logs in one way: it logs only the URL path,
// never the query string or headers, so a token in Authorization or a
// cookie cannot reach the access log.
package httplog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type ctxKey struct{}

// Info is what the log knows about a request.
type Info struct {
	ID, Method, Path, Client, UserAgent string
	// HTTPS is whether the client reached davgate over HTTPS: TLS here, or
	// a trusted proxy's X-Forwarded-Proto: https.
	HTTPS bool

	mu     sync.Mutex
	user   string
	level  slog.Level // of the access line; 0 is Info
	reason string     // why the request was refused, if it was
}

// User returns the request's user, if one is known yet.
func (i *Info) User() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.user
}

// FromContext returns the request's Info, or nil outside a request.
func FromContext(ctx context.Context) *Info {
	i, _ := ctx.Value(ctxKey{}).(*Info)
	return i
}

// SetUser records the request's user for every later log line.
func SetUser(ctx context.Context, user string) {
	if i := FromContext(ctx); i != nil {
		i.mu.Lock()
		i.user = user
		i.mu.Unlock()
	}
}

// RequestID returns the request's id, or "" outside a request.
func RequestID(ctx context.Context) string {
	if i := FromContext(ctx); i != nil {
		return i.ID
	}
	return ""
}

// NewHandler wraps h so that records logged with a request's ctx carry the
// request's context.
func NewHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if i := FromContext(ctx); i != nil {
		attrs := []slog.Attr{
			slog.String("request_id", i.ID), slog.String("method", i.Method), slog.String("path", i.Path),
			slog.String("client", i.Client), slog.String("user_agent", i.UserAgent),
		}
		if u := i.User(); u != "" {
			attrs = append(attrs, slog.String("user", u))
		}
		r.AddAttrs(slog.Attr{Key: "req", Value: slog.GroupValue(attrs...)})
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(as)}
}
func (h ctxHandler) WithGroup(n string) slog.Handler { return ctxHandler{h.Handler.WithGroup(n)} }

// ClientAddr returns the request's client address, as Middleware found
// it; outside Middleware, the peer's address.
func ClientAddr(r *http.Request) string {
	if i := FromContext(r.Context()); i != nil {
		return i.Client
	}
	return peerAddr(r)
}

func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Proxies are the reverse proxies and load balancers in front of davgate.
// A request from one of them names its client in X-Forwarded-For: the
// client is the rightmost address there that is not itself a proxy. From
// any other peer the header is ignored, so clients cannot forge their
// address (which rate limits count).
type Proxies []netip.Prefix

// ParseProxies reads addresses and CIDR prefixes.
func ParseProxies(list []string) (Proxies, error) {
	var ps Proxies
	for _, s := range list {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not an address or CIDR prefix", s)
			}
			ps = append(ps, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or CIDR prefix", s)
		}
		ps = append(ps, p.Masked())
	}
	return ps, nil
}

func (ps Proxies) contains(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// https reports whether the client reached davgate over HTTPS: the
// request came over TLS, or from a trusted proxy that says so in
// X-Forwarded-Proto.
func (ps Proxies) https(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return ps.contains(peerAddr(r)) && strings.EqualFold(strings.TrimSpace(r.Header.Get("X-Forwarded-Proto")), "https")
}

// HTTPS reports whether the request's client reached davgate over HTTPS
// (see Info.HTTPS); outside Middleware, whether it came over TLS.
func HTTPS(r *http.Request) bool {
	if i := FromContext(r.Context()); i != nil {
		return i.HTTPS
	}
	return r.TLS != nil
}

// client finds the request's client address.
func (ps Proxies) client(r *http.Request) string {
	addr := peerAddr(r)
	if !ps.contains(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		if _, err := netip.ParseAddr(h); err != nil {
			return addr // malformed: trust only the proxy itself
		}
		if !ps.contains(h) {
			return h
		}
		addr = h
	}
	return addr
}

// Observer hears of every request, for metrics. StartRequest is called
// when a request arrives and returns the func that is called once when it
// ends. It is given no path, client, user or header: nothing that would
// make a metric's labels unbounded or reveal who did what.
type Observer interface {
	StartRequest(method string) (end func(Done))
}

// Done is a finished request as an Observer sees it.
type Done struct {
	Method string
	// Status is the final status sent; 0 when the handler aborted the
	// response (http.ErrAbortHandler) before sending one.
	Status int
	// RequestBytes are the request body bytes the handler read;
	// ResponseBytes the response body bytes written.
	RequestBytes, ResponseBytes int64
	Duration                    time.Duration
}

// Middleware gives each request an Info, logs one access line when it ends
// and turns a panic into a logged 500. proxies names the reverse proxies
// whose X-Forwarded-For is believed (nil: none); obs, if not nil, observes
// every request.
//
// Installed inside another Middleware (cmd/davgate puts one outermost, so
// that probes and requests refused while shutting down are logged too),
// it joins the outer one's request: the same Info and one access line,
// the outer's; its own obs still observes what reaches it.
func Middleware(log *slog.Logger, proxies Proxies, obs Observer, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := FromContext(r.Context())
		outer := info == nil
		if outer {
			info = &Info{ID: newID(), Method: r.Method, Path: r.URL.Path, Client: proxies.client(r), UserAgent: r.UserAgent(),
				HTTPS: proxies.https(r)}
			w.Header().Set("X-Request-Id", info.ID)
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, info)
		rec := &recorder{ResponseWriter: w}
		req := r.WithContext(ctx)
		returned := false
		if obs != nil {
			// Deferred first, so it runs last: after a recovered panic's 500.
			defer observe(obs, req, rec, start, &returned)()
		}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				// The panic value may hold request data; log its type and
				// the stack, which holds code locations only.
				log.ErrorContext(ctx, "panic serving request", "panic_type", typeName(p), "stack", string(debug.Stack()))
				if !rec.wrote {
					http.Error(rec, "internal error", http.StatusInternalServerError)
				}
			}
			if outer {
				logAccess(log, info, rec, start)
			}
		}()
		next.ServeHTTP(rec, req)
		returned = true
	})
}

// observe starts obs's view of the request (counting its body as read)
// and returns the func that ends it.
func observe(obs Observer, req *http.Request, rec *recorder, start time.Time, returned *bool) func() {
	end := obs.StartRequest(req.Method)
	var body *countingBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &countingBody{ReadCloser: req.Body}
		req.Body = body
	}
	return func() {
		d := Done{Method: req.Method, Status: rec.status, ResponseBytes: rec.bytes, Duration: time.Since(start)}
		if d.Status == 0 && *returned {
			d.Status = http.StatusOK
		}
		if body != nil {
			d.RequestBytes = body.n.Load()
		}
		end(d)
	}
}

// logAccess writes the request's access line, at its access level.
func logAccess(log *slog.Logger, info *Info, rec *recorder, start time.Time) {
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	attrs := []slog.Attr{
		slog.String("request_id", info.ID), slog.String("method", info.Method), slog.String("path", info.Path),
		slog.Int("status", status), slog.Int64("bytes", rec.bytes),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000), slog.String("client", info.Client),
	}
	info.mu.Lock()
	user, level, reason := info.user, info.level, info.reason
	info.mu.Unlock()
	if user != "" {
		attrs = append(attrs, slog.String("user", user))
	}
	if reason != "" {
		attrs = append(attrs, slog.String("reason", reason), slog.String("user_agent", info.UserAgent))
	}
	log.LogAttrs(context.Background(), level, "request", attrs...)
}

// SetAccessLevel sets the level of the request's access line (default
// Info): Debug for probes, so that a kubelet's polls do not flood the log.
func SetAccessLevel(ctx context.Context, level slog.Level) {
	if i := FromContext(ctx); i != nil {
		i.mu.Lock()
		i.level = level
		i.mu.Unlock()
	}
}

// SetReason adds why the request was refused to its access line (with
// the user agent), e.g. "shutting_down".
func SetReason(ctx context.Context, reason string) {
	if i := FromContext(ctx); i != nil {
		i.mu.Lock()
		i.reason = reason
		i.mu.Unlock()
	}
}

func typeName(v any) string {
	switch v.(type) {
	case error:
		return "error"
	case string:
		return "string"
	default:
		return "other"
	}
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// countingBody counts the request body bytes read.
type countingBody struct {
	io.ReadCloser
	n atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}

// recorder notes the status and the body size.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		// 1xx (100-continue) are not the final status.
		if code >= 200 {
			r.status, r.wrote = code, true
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush passes flushes through for streaming responses.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
