package slowbody

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// server reads the whole body through Reader with the given bounds and
// answers 200 with its length, 408 when the read was cut off by the bounds,
// or 400 when it failed otherwise.
func server(t testing.TB, idle, total time.Duration) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(Reader(w, r, idle, total))
		if TimedOut(err) {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, len(b))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// trickle sends a body of n bytes, one byte every gap, and reports how long
// until the server closed or answered, and its status (0 if none).
func trickle(t testing.TB, addr string, n int, gap time.Duration) (time.Duration, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", n)
	done := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			done <- 0
			return
		}
		done <- resp.StatusCode
	}()
	for i := 0; i < n; i++ {
		select {
		case ok := <-done:
			return time.Since(start), ok
		case <-time.After(gap):
		}
		if _, err := c.Write([]byte{'x'}); err != nil {
			break
		}
	}
	ok := <-done
	return time.Since(start), ok
}

func TestTrickledBodyIsCut(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		addr := server(t, 300*time.Millisecond, 10*time.Second)
		d, st := trickle(t, addr, 5, time.Second)
		if st != http.StatusRequestTimeout || d > 3*time.Second {
			t.Errorf("a body with 1 s between bytes: status %d after %v, want 408 within the 300 ms idle bound", st, d)
		}
	})
	t.Run("total", func(t *testing.T) {
		addr := server(t, time.Second, 1500*time.Millisecond)
		d, st := trickle(t, addr, 100, 200*time.Millisecond)
		if st != http.StatusRequestTimeout || d > 4*time.Second {
			t.Errorf("a steady body slower than the total bound: status %d after %v, want 408 near 1.5 s", st, d)
		}
	})
	t.Run("steady within bounds", func(t *testing.T) {
		addr := server(t, time.Second, 5*time.Second)
		if _, st := trickle(t, addr, 5, 100*time.Millisecond); st != http.StatusOK {
			t.Errorf("a body within both bounds: status %d, want 200", st)
		}
	})
}
