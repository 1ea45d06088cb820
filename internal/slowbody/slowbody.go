// Package slowbody bounds how long reading a small request body may take.
//
// It protects against slow-body attacks (slowloris on the body): the server
// cuts slow headers at ReadHeaderTimeout, but a log-on or XML body trickled
// one byte every few seconds would otherwise hold a connection and a handler
// open for as long as the client likes. Reader sets a read deadline on the
// connection before every Read, so each Read must make progress within the
// idle bound and the whole body must be read within the total bound; when a
// deadline passes the Read fails and the connection is closed.
//
// It is for small bodies only (log-on forms, PROPFIND, PROPPATCH, LOCK).
// PUT uploads are not wrapped: a multi-GiB upload over a slow link must not
// be subject to a total bound.
package slowbody

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// Defaults used by Bound.
const (
	Idle  = 10 * time.Second // each Read must make progress within this
	Total = 30 * time.Second // the whole small body must be read within this
)

// Reader returns r.Body wrapped so that each Read must complete within idle
// and all reads within total of the call to Reader. The deadline is cleared
// when the body ends; the server sets its own again for the next request.
func Reader(w http.ResponseWriter, r *http.Request, idle, total time.Duration) io.ReadCloser {
	return &reader{rc: http.NewResponseController(w), body: r.Body, idle: idle, end: time.Now().Add(total)}
}

// Bound replaces r.Body with Reader(w, r, Idle, Total).
func Bound(w http.ResponseWriter, r *http.Request) {
	r.Body = Reader(w, r, Idle, Total)
}

type reader struct {
	rc   *http.ResponseController
	body io.ReadCloser
	idle time.Duration
	end  time.Time
	set  bool
}

func (b *reader) Read(p []byte) (int, error) {
	d := time.Now().Add(b.idle)
	if d.After(b.end) {
		d = b.end
	}
	// A writer that cannot set deadlines (a test recorder) reads unbounded.
	if b.rc.SetReadDeadline(d) == nil {
		b.set = true
	}
	n, err := b.body.Read(p)
	// Only a complete body clears the deadline; after a failed read it stays
	// passed, so the server does not wait for the rest of a trickled body
	// before it closes the connection.
	if err == io.EOF && b.set {
		b.rc.SetReadDeadline(time.Time{})
		b.set = false
	}
	return n, err
}

func (b *reader) Close() error { return b.body.Close() }

// TimedOut reports whether err is a body read cut off by Reader's bounds:
// the request is then answered 408 Request Timeout.
func TimedOut(err error) bool {
	return errors.Is(err, os.ErrDeadlineExceeded)
}
