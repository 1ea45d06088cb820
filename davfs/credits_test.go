package davfs

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrentGetsOneConnection sends GETs of small files 8 at a time,
// next to two large downloads, all over the one SMB connection of one
// user, as a browser does loading a folder's thumbnails: every one must
// be answered whole. go-smb2 charges a handle's stat too few credits when
// requests in flight hold most of them, and smbd refuses it as an invalid
// parameter; before davfs statted by name in that case, about a third of
// these GETs answered 400.
func TestConcurrentGetsOneConnection(t *testing.T) {
	e := newTestEnv(t) // no metadata cache: every GET stats its file
	small := bytes.Repeat([]byte("thumbnail "), 410)
	for i := range 8 {
		if err := os.WriteFile(filepath.Join(e.dir, fmt.Sprintf("img%d.jpg", i)), small, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	large := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	if err := os.WriteFile(filepath.Join(e.dir, "video.mp4"), large, 0o666); err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer c.CloseIdleConnections()
	get := func(name string, want []byte) error {
		resp, err := c.Get(e.srv.URL + "/dav/data/" + name)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("GET %s: %v", name, err)
		}
		if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
			return fmt.Errorf("GET %s: %d, %d bytes (%.80q), want 200 and %d bytes", name, resp.StatusCode, len(body), body, len(want))
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for w := range 8 {
		wg.Go(func() {
			for i := range 40 {
				if err := get(fmt.Sprintf("img%d.jpg", (w+i)%8), small); err != nil {
					errs <- err
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			for range 3 {
				if err := get("video.mp4", large); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n < 3 {
			t.Error(err)
		}
		n++
	}
	if n > 0 {
		t.Errorf("%d of 326 GETs failed", n)
	}
}
