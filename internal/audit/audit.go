// Package audit owns davgate's audit trail: one JSON object per line for
// every security event — a log-on accepted or refused, a token minted or
// revoked, every unseal of a stored password, a session ended for a stale
// password, a log-on blocked by the rate limit, the master keyring
// reloaded — written to its own stream, apart from the operational log.
//
// It protects against an audit trail that leaks what it records the use
// of: events carry user names, public session ids, client and file server
// addresses, key ids and reasons, never a password, a token, a session
// key or a master key. Callers pass only such values; the event names and
// field names are fixed here.
package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Event names, the "event" field of each line.
const (
	LogonAccepted     = "logon.accepted"
	LogonRefused      = "logon.refused"
	RateLimited       = "logon.rate_limited"
	TokenMinted       = "token.minted"
	TokenRevoked      = "token.revoked"
	PasswordUnsealed  = "password.unsealed"
	StalePasswordEnd  = "session.stale_password"
	KeyringReloaded   = "keyring.reloaded"
	AdminSessionsList = "admin.sessions_listed"
)

// Logger writes audit events. A nil *Logger is valid and writes nothing,
// so packages can take one as an optional dependency. It is safe for
// concurrent use.
type Logger struct {
	log *slog.Logger
	now func() time.Time

	mu   sync.Mutex
	taps []func(event string, attrs []slog.Attr)
}

// New returns a Logger writing JSON lines to w (nil: nowhere, but taps
// still hear every event).
func New(w io.Writer) *Logger {
	if w == nil {
		w = io.Discard
	}
	h := slog.NewJSONHandler(&lockedWriter{w: w}, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			switch {
			case len(groups) > 0:
			case a.Key == slog.LevelKey:
				return slog.Attr{}
			case a.Key == slog.MessageKey:
				a.Key = "event"
			case a.Key == slog.TimeKey:
				a.Value = slog.StringValue(a.Value.Time().UTC().Format(time.RFC3339Nano))
			}
			return a
		},
	})
	return &Logger{log: slog.New(h).With(slog.String("stream", "audit")), now: time.Now}
}

// lockedWriter makes each line one Write, whole, whatever the writer.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Tap adds f, called with every event (e.g. to count them in metrics). f
// must be quick and safe for concurrent use.
func (l *Logger) Tap(f func(event string, attrs []slog.Attr)) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.taps = append(l.taps, f)
}

// Log writes one event. attrs must hold no secret (see the package doc).
// Who the context says acted (WithActor) is added as "by".
func (l *Logger) Log(ctx context.Context, event string, attrs ...slog.Attr) {
	if l == nil {
		return
	}
	if by, ok := ctx.Value(actorKey{}).(string); ok {
		attrs = append(attrs, slog.String("by", by))
	}
	l.log.LogAttrs(context.WithoutCancel(ctx), slog.LevelInfo, event, attrs...)
	l.mu.Lock()
	taps := l.taps
	l.mu.Unlock()
	for _, f := range taps {
		f(event, attrs)
	}
}

type actorKey struct{}

// WithActor returns ctx saying who asks for what follows, e.g. "admin"
// for the operator's sessions command; events logged with it carry "by".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Attr returns the string value of attrs' key, "" if none.
func Attr(attrs []slog.Attr, key string) string {
	for _, a := range attrs {
		if a.Key == key {
			return a.Value.String()
		}
	}
	return ""
}

// Open opens the audit stream spec names: "", "stderr" or "-" for
// stderr (beside the operational log: every audit line carries
// "stream":"audit"), "off" for none, else a file path, created with mode
// 0640 and appended to. The File is nil for stderr and off; Close it at
// exit and Reopen it after log rotation.
func Open(spec string, stderr io.Writer) (*Logger, *File, error) {
	switch spec {
	case "", "stderr", "-":
		return New(stderr), nil, nil
	case "off":
		return New(io.Discard), nil, nil
	}
	f := &File{path: spec}
	if err := f.Reopen(); err != nil {
		return nil, nil, err
	}
	return New(f), f, nil
}

// File is an audit file that can be reopened, for log rotation.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

// Reopen opens the file again by its path; writes go to the new one.
func (f *File) Reopen() error {
	nf, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	f.mu.Lock()
	old := f.f
	f.f = nf
	f.mu.Unlock()
	if old != nil {
		old.Close()
	}
	return nil
}

// Write implements io.Writer.
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Write(p)
}

// Close closes the file.
func (f *File) Close() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.f.Close()
}
