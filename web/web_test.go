package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/session"
)

func newTestApp() *App {
	return New(Options{
		DavPrefix: "/dav",
		Shares:    func(context.Context) ([]string, error) { return []string{"data", "a b&c"}, nil },
		CSRFToken: func(*session.Session) string { return "tok-123" },
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

func get(t *testing.T, h http.Handler, path string, s *session.Session, hdr ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	if s != nil {
		r = r.WithContext(authn.WithSession(r.Context(), s))
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The pages carry the CSRF token and the user, escaped, under the strict
// CSP, and hold no inline script or style for the CSP to refuse.
func TestPages(t *testing.T) {
	a := newTestApp()
	s := &session.Session{User: `al<i>ce`}
	for _, tc := range []struct {
		name string
		h    http.Handler
		want []string
	}{
		{"files", a.HandleFiles(), []string{`href="/files/a%20b&amp;c/"`, `data-page="files"`}},
		{"devices", a.HandleDevices(), []string{`href="/dav/a%20b&amp;c/"`, `data-page="devices"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(t, tc.h, "/", s)
			body := w.Body.String()
			if w.Code != 200 || w.Header().Get("Content-Security-Policy") != CSP || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("= %d, headers %v", w.Code, w.Header())
			}
			for _, want := range append(tc.want, `<meta name="csrf-token" content="tok-123">`, `name="csrf_token" value="tok-123"`, `al&lt;i&gt;ce`) {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %s", want)
				}
			}
			if m := regexp.MustCompile(`<script(?:[^>]*)>[^<]|<style|\sstyle=|\son[a-z]+=`).FindString(body); m != "" {
				t.Errorf("page holds inline script or style: %q", m)
			}
		})
	}
	if w := get(t, a.HandleFiles(), "/", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("without a session = %d, want 401", w.Code)
	}
}

// The static files are served with their types, revalidated by ETag;
// nothing outside them is.
func TestStatic(t *testing.T) {
	h := newTestApp().HandleStatic()
	for path, ctype := range map[string]string{"/static/main.js": "text/javascript", "/static/app.css": "text/css", "/static/icons.svg": "image/svg+xml"} {
		w := get(t, h, path, nil)
		if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), ctype) || w.Header().Get("ETag") == "" {
			t.Errorf("GET %s = %d %q etag %q", path, w.Code, w.Header().Get("Content-Type"), w.Header().Get("ETag"))
			continue
		}
		if w2 := get(t, h, path, nil, "If-None-Match", w.Header().Get("ETag")); w2.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d, want 304", path, w2.Code)
		}
	}
	for _, path := range []string{"/static/", "/static/nope.js", "/static/../page.html", "/static/./main.js"} {
		if w := get(t, h, path, nil); w.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, w.Code)
		}
	}
}
