package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/httplog"
)

// Methods outside the known list share one series, so that a client
// inventing methods cannot grow the label set; known ones keep their name.
func TestMethodLabelsAreBounded(t *testing.T) {
	reg := NewRegistry()
	m := New(reg)
	for _, meth := range []string{"PROPFIND", "BREW", "X-SECRET-1", "X-SECRET-2"} {
		m.StartRequest(meth)(httplog.Done{Method: meth, Status: 207, Duration: time.Millisecond})
	}
	m.StartRequest("GET")(httplog.Done{Method: "GET"}) // aborted: no status

	rec := httptest.NewRecorder()
	Handler(reg).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	text := string(b)
	for _, want := range []string{
		`davgate_http_requests_total{code="207",method="PROPFIND"} 1`,
		`davgate_http_requests_total{code="207",method="other"} 3`,
		`davgate_http_requests_total{code="aborted",method="GET"} 1`,
		`davgate_http_requests_in_flight 0`,
		`davgate_logons_total{result="rate_limited"} 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	for _, bad := range []string{"BREW", "X-SECRET"} {
		if strings.Contains(text, bad) {
			t.Errorf("scrape holds the unknown method %q", bad)
		}
	}
}
