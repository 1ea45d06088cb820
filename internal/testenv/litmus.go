package testenv

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// litmusGroups are the groups of litmus 0.13 that must all run.
var litmusGroups = []string{"basic", "copymove", "props", "locks", "http"}

// Litmus runs the litmus WebDAV conformance suite with -k against the
// collection at url, as user with password pass, and fails t unless every
// group runs with no failed and no skipped test.
func Litmus(t testing.TB, url, user, pass string) {
	t.Helper()
	Need(t, "litmus")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "litmus", "-k", url, user, pass)
	cmd.Dir = t.TempDir() // litmus writes its debug.log and child.log here
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("litmus output:\n%s", out.String())
	// e.g. "<- summary for `basic': of 16 tests run: 16 passed, 0 failed. 100.0%"
	// and "-> 1 test was skipped." / "-> 2 tests were skipped."
	summary := regexp.MustCompile("summary for `(\\w+)': of (\\d+) tests run: (\\d+) passed, (\\d+) failed")
	groups := map[string]bool{}
	for _, m := range summary.FindAllStringSubmatch(out.String(), -1) {
		groups[m[1]] = true
		if failed, _ := strconv.Atoi(m[4]); failed != 0 {
			t.Errorf("litmus %s: %s of %s failed", m[1], m[4], m[2])
		}
	}
	for _, g := range litmusGroups {
		if !groups[g] {
			t.Errorf("litmus group %s did not run", g)
		}
	}
	// Over TLS litmus itself skips expect100 ("skipping for SSL server"):
	// that one skip says nothing about the server.
	skipped := regexp.MustCompile(`SKIPPED \(([^)]*)\)`).FindAllStringSubmatch(out.String(), -1)
	for _, m := range skipped {
		if !(strings.HasPrefix(url, "https://") && m[1] == "skipping for SSL server") {
			t.Errorf("litmus skipped a test: %s", m[0])
		}
	}
	if len(skipped) == 0 && regexp.MustCompile(`tests? (was|were) skipped`).MatchString(out.String()) {
		t.Errorf("litmus skipped tests")
	}
	if err != nil && len(groups) < len(litmusGroups) {
		t.Errorf("litmus: %v", err)
	}
}
