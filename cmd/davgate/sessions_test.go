package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestAdminBase(t *testing.T) {
	for listen, want := range map[string]string{
		"127.0.0.1:9100": "http://127.0.0.1:9100",
		":9100":          "http://127.0.0.1:9100",
		"0.0.0.0:9100":   "http://127.0.0.1:9100",
		"[::]:9100":      "http://[::1]:9100",
		"10.1.2.3:9100":  "http://10.1.2.3:9100",
		"":               "",
		"127.0.0.1:0":    "",
	} {
		got, err := adminBase(listen)
		if got != want || (err != nil) != (want == "") {
			t.Errorf("adminBase(%q) = %q, %v; want %q", listen, got, err, want)
		}
	}
}

// The command says what is missing before it reads anything.
func TestSessionsCommandUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sessions"}, "want list or revoke"},
		{[]string{"sessions", "purge"}, "want list or revoke"},
		{[]string{"sessions", "list", "--config", "x.yaml"}, "--user NAME is required"},
		{[]string{"sessions", "list", "--user", "alice"}, "--config FILE"},
		{[]string{"sessions", "list", "--user", "alice", "--id", "x", "--config", "x.yaml"}, "--id is for revoke"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"davgate"}, c.args...), func(string) string { return "" }, &out, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
}
