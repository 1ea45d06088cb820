package davfs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/davgate/davgate/internal/testenv"
)

// slowGens is the Redis generations with every Bump taking a while, and
// a count of the Bumps finished.
type slowGens struct {
	MetaGenerations
	delay time.Duration
	done  atomic.Int64
}

func (g *slowGens) Bump(ctx context.Context, scope string) error {
	time.Sleep(g.delay)
	err := g.MetaGenerations.Bump(ctx, scope)
	g.done.Add(1)
	return err
}

// TestMetaGenerationsBeforeAnswer sends a write whose 207 is long enough
// to leave in parts while the handler still runs (a PROPPATCH of many
// properties; DELETE's and MOVE's 207 of failed members take the same
// path) and checks that the changes were announced to the other instances before the answer's
// first bytes reached the client: a client that reads its 207 and at once
// asks another instance must not be answered from that one's cache.
func TestMetaGenerationsBeforeAnswer(t *testing.T) {
	r := testenv.StartRedis(t)
	c := redis.NewClient(&redis.Options{Addr: r.Addr})
	t.Cleanup(func() { c.Close() })
	gens := &slowGens{MetaGenerations: NewRedisMetaGenerations(c, "answertest:"), delay: 300 * time.Millisecond}
	e := newTestEnv(t, func(o *HandlerOptions) {
		o.MetadataTTL = 10 * time.Second
		o.MetaGenerations = gens
	})
	if err := os.WriteFile(filepath.Join(e.dir, "doc.txt"), []byte("x"), 0o666); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:example:answer"><D:set><D:prop>`)
	for i := range 200 {
		fmt.Fprintf(&b, "<Z:property-with-a-long-name-%03d>v</Z:property-with-a-long-name-%03d>", i, i)
	}
	b.WriteString(`</D:prop></D:set></D:propertyupdate>`)

	req, err := http.NewRequest("PROPPATCH", e.srv.URL+"/dav/data/doc.txt", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	before := gens.done.Load()
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	atHeader := gens.done.Load() - before
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus || len(body) < 8<<10 {
		t.Fatalf("PROPPATCH: %d with %d bytes, want 207 with over 8 KiB", resp.StatusCode, len(body))
	}
	// one Bump when the write started, one once its changes were made
	if atHeader < 2 {
		t.Errorf("the 207's headers arrived after %d announcement(s) of the change, want 2 (start, and changes made)", atHeader)
	}
}
