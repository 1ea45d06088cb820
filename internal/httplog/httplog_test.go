package httplog

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMiddlewareLogsWithRequestContext(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	h := Middleware(log, nil, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetUser(r.Context(), "alice")
		switch r.URL.Path {
		case "/panic":
			panic("secret-in-panic-value")
		case "/fail":
			log.ErrorContext(r.Context(), "it broke", "err", "cause")
			http.Error(w, "short message", http.StatusBadGateway)
		default:
			w.Write([]byte("hello"))
		}
	}))

	tests := []struct {
		path       string
		status     int
		wantLines  int
		wantBodies string
	}{
		{"/ok?token=tok-SECRET-q", 200, 1, "hello"},
		{"/fail", 502, 2, "short message"},
		{"/panic", 500, 2, "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			buf.Reset()
			req := httptest.NewRequest("GET", tt.path, nil)
			req.Header.Set("User-Agent", "test-agent")
			req.Header.Set("Authorization", "Bearer tok-SECRET-h")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.wantBodies) {
				t.Fatalf("answer = %d %q", rec.Code, rec.Body)
			}
			id := rec.Header().Get("X-Request-Id")
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			if len(lines) != tt.wantLines {
				t.Fatalf("%d log lines, want %d:\n%s", len(lines), tt.wantLines, buf.String())
			}
			var access map[string]any
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &access); err != nil {
				t.Fatal(err)
			}
			want := map[string]any{"msg": "request", "request_id": id, "method": "GET", "status": float64(tt.status), "user": "alice"}
			for k, v := range want {
				if access[k] != v {
					t.Errorf("access line %s = %v, want %v", k, access[k], v)
				}
			}
			if access["path"] != strings.Split(tt.path, "?")[0] {
				t.Errorf("access line path = %v, want the path without its query", access["path"])
			}
			if tt.wantLines == 2 {
				var e struct {
					Req map[string]string `json:"req"`
				}
				json.Unmarshal([]byte(lines[0]), &e)
				for k, v := range map[string]string{"request_id": id, "method": "GET", "path": tt.path, "client": "192.0.2.1", "user_agent": "test-agent", "user": "alice"} {
					if e.Req[k] != v {
						t.Errorf("error line req.%s = %q, want %q", k, e.Req[k], v)
					}
				}
			}
			for _, secret := range []string{"tok-SECRET", "secret-in-panic-value"} {
				if strings.Contains(buf.String(), secret) {
					t.Errorf("the log holds %q", secret)
				}
			}
		})
	}
}

func TestClientAddressBehindProxies(t *testing.T) {
	proxies, err := ParseProxies([]string{"10.0.0.0/8", "192.0.2.7"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseProxies([]string{"lb.example.com"}); err == nil {
		t.Error("a host name was accepted as a proxy")
	}
	tests := []struct {
		name, peer, xff, want string
	}{
		{"direct client", "198.51.100.9:5000", "", "198.51.100.9"},
		{"direct client forging the header", "198.51.100.9:5000", "203.0.113.1", "198.51.100.9"},
		{"through the load balancer", "10.1.2.3:443", "203.0.113.5", "203.0.113.5"},
		{"through two proxies", "10.1.2.3:443", "203.0.113.5, 192.0.2.7", "203.0.113.5"},
		{"client prepends a forged hop", "10.1.2.3:443", "1.1.1.1, 203.0.113.5", "203.0.113.5"},
		{"proxy without the header", "10.1.2.3:443", "", "10.1.2.3"},
		{"malformed header", "10.1.2.3:443", "garbage", "10.1.2.3"},
		{"ipv6 client", "10.1.2.3:443", "2001:db8::1", "2001:db8::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			h := Middleware(slog.New(slog.DiscardHandler), proxies, nil, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = ClientAddr(r)
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.peer
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if got != tt.want {
				t.Errorf("client = %q, want %q", got, tt.want)
			}
		})
	}
}

// observed records what an Observer is told.
type observed struct {
	started []string
	done    []Done
}

func (o *observed) StartRequest(method string) func(Done) {
	o.started = append(o.started, method)
	return func(d Done) { o.done = append(o.done, d) }
}

func TestMiddlewareObserves(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/read3":
			b := make([]byte, 3)
			io.ReadFull(r.Body, b)
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte("made"))
		case "/panic":
			panic("boom")
		case "/abort":
			panic(http.ErrAbortHandler)
		case "/silent":
		}
	})
	tests := []struct {
		method, path, body string
		want               Done
	}{
		{"PUT", "/read3", "0123456789", Done{Method: "PUT", Status: 201, RequestBytes: 3, ResponseBytes: 4}},
		{"GET", "/silent", "", Done{Method: "GET", Status: 200}},
		{"GET", "/panic", "", Done{Method: "GET", Status: 500, ResponseBytes: int64(len("internal error\n"))}},
		{"GET", "/abort", "", Done{Method: "GET", Status: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			o := &observed{}
			mw := Middleware(slog.New(slog.DiscardHandler), nil, o, h)
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			func() {
				defer func() {
					if p := recover(); p != nil && p != http.ErrAbortHandler {
						t.Fatalf("panic %v", p)
					}
				}()
				mw.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(tt.method, tt.path, body))
			}()
			if len(o.started) != 1 || o.started[0] != tt.method || len(o.done) != 1 {
				t.Fatalf("started %q, done %d times; want %s once each", o.started, len(o.done), tt.method)
			}
			got := o.done[0]
			if got.Duration <= 0 {
				t.Errorf("duration %v, want > 0", got.Duration)
			}
			got.Duration = 0
			if got != tt.want {
				t.Errorf("done = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// A Middleware inside another joins its request: one request id, one
// access line (the outer's, at the level and with the reason set inside),
// and the inner's observer still observes.
func TestNestedMiddleware(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	o := &observed{}
	var innerID string
	inner := Middleware(log, nil, o, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		innerID = RequestID(r.Context())
		if r.URL.Path == "/probe" {
			SetAccessLevel(r.Context(), slog.LevelDebug)
		} else {
			SetReason(r.Context(), "shutting_down")
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	outer := Middleware(log, nil, nil, inner)
	for _, tt := range []struct{ path, level, reason string }{{"/probe", "DEBUG", ""}, {"/dav/", "INFO", "shutting_down"}} {
		buf.Reset()
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tt.path, nil)
		req.Header.Set("User-Agent", "test-agent")
		outer.ServeHTTP(rec, req)
		lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
		var access map[string]any
		if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &access) != nil {
			t.Fatalf("%s: log lines:\n%s\nwant one access line", tt.path, buf.String())
		}
		id := rec.Header().Get("X-Request-Id")
		if id == "" || innerID != id || access["request_id"] != id || access["level"] != tt.level || access["status"] != float64(503) {
			t.Errorf("%s: header id %q, inner id %q, line %v; want one id, level %s, status 503", tt.path, id, innerID, access, tt.level)
		}
		if r, _ := access["reason"].(string); r != tt.reason || (r != "" && access["user_agent"] != "test-agent") {
			t.Errorf("%s: reason %q, user agent %v; want %q", tt.path, r, access["user_agent"], tt.reason)
		}
	}
	if len(o.done) != 2 {
		t.Errorf("the inner observer saw %d requests, want 2", len(o.done))
	}
}
