package davfs

import (
	"bytes"
	"context"
	"os/exec"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
	"github.com/redis/go-redis/v9"
)

// TestLitmus runs the litmus 0.13 WebDAV conformance suite against davfs
// over a real smbd: every group must pass with no failure and no skipped
// test (issue 3).
func TestLitmus(t *testing.T) {
	testenv.Need(t, "litmus")
	if testing.Short() {
		t.Skip("litmus takes a while")
	}
	t.Run("memory locks", func(t *testing.T) { runLitmus(t, newTestEnv(t)) })
	t.Run("redis locks", func(t *testing.T) {
		r := testenv.StartRedis(t)
		c := redis.NewClient(&redis.Options{Addr: r.Addr})
		t.Cleanup(func() { c.Close() })
		runLitmus(t, newTestEnv(t, func(o *HandlerOptions) { o.Locks = NewRedisLocks(c, "litmus:") }))
	})
}

func runLitmus(t *testing.T, e *testEnv) {
	e.expect(t, 201, "MKCOL", "/dav/data/litmus", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "litmus", "-k", e.srv.URL+"/dav/data/litmus/", testUser, testPass)
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
	for _, g := range []string{"basic", "copymove", "props", "locks", "http"} {
		if !groups[g] {
			t.Errorf("litmus group %s did not run", g)
		}
	}
	if m := regexp.MustCompile(`(\d+) tests? (was|were) skipped`).FindAllString(out.String(), -1); len(m) > 0 {
		t.Errorf("litmus skipped tests: %v", m)
	}
	if err != nil && len(groups) < 5 {
		t.Errorf("litmus: %v", err)
	}
}
