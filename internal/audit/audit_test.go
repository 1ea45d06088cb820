package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A nil Logger is a no-op; a Logger writes one JSON object per line, with
// event, time, stream and the actor from the context, and tells its taps.
func TestLogger(t *testing.T) {
	var nilLogger *Logger
	nilLogger.Log(context.Background(), TokenMinted, slog.String("user", "x"))
	nilLogger.Tap(func(string, []slog.Attr) {})

	var buf bytes.Buffer
	l := New(&buf)
	var heard []string
	l.Tap(func(event string, attrs []slog.Attr) { heard = append(heard, event+":"+Attr(attrs, "user")) })
	l.Log(context.Background(), LogonAccepted, slog.String("user", "alice"), slog.String("client", "10.0.0.1"))
	l.Log(WithActor(context.Background(), "admin"), TokenRevoked, slog.String("user", "bob"))
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	if first["event"] != LogonAccepted || first["user"] != "alice" || first["client"] != "10.0.0.1" || first["stream"] != "audit" || first["time"] == nil {
		t.Errorf("first line = %v", first)
	}
	if _, ok := first["level"]; ok {
		t.Errorf("audit line has a level: %v", first)
	}
	if second["by"] != "admin" {
		t.Errorf("second line's by = %v, want admin", second["by"])
	}
	if strings.Join(heard, ",") != "logon.accepted:alice,token.revoked:bob" {
		t.Errorf("taps heard %v", heard)
	}
}

// Open appends to a file (mode 0640) and Reopen follows a rotation.
func TestOpenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	l, f, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l.Log(context.Background(), KeyringReloaded)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	l.Log(context.Background(), KeyringReloaded)
	for _, p := range []string{path, path + ".1"} {
		b, err := os.ReadFile(p)
		if err != nil || strings.Count(string(b), "\n") != 1 {
			t.Errorf("%s: %q, %v; want one line", p, b, err)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", fi.Mode().Perm())
	}
	for _, spec := range []string{"", "stderr", "-", "off"} {
		if _, f, err := Open(spec, &bytes.Buffer{}); err != nil || f != nil {
			t.Errorf("Open(%q) = %v, %v", spec, f, err)
		}
	}
}
