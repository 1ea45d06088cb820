package davfs

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/davgate/davgate/internal/smbstatus"
)

// releases records the errors the mounts of a testEnv are handed back
// with, as the session pool would judge them.
type releases struct {
	mu       sync.Mutex
	verdicts []smbstatus.Verdict
}

func recordReleases(e *testEnv) *releases {
	rl := &releases{}
	e.src.released = func(_ string, err error) {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		rl.verdicts = append(rl.verdicts, smbstatus.VerdictOf(err))
	}
	return rl
}

// dropped reports whether any mount was handed back with a verdict to
// drop its connection since the last call.
func (rl *releases) dropped() bool {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	v := rl.verdicts
	rl.verdicts = nil
	for _, x := range v {
		if x == smbstatus.Drop {
			return true
		}
	}
	return false
}

// An SMB connection that dies under a tus request or a zip download (smbd
// restarted behind the cached mount) fails that request with 503, and the
// mount goes back with the failure, so the pool drops the connection and
// the next request works on a new one, as for the WebDAV methods
// (STYLE.md §9: one adapter hands every error to the mount's release).
func TestUploadZipSMBFailureReachesPool(t *testing.T) {
	e := newTestEnv(t)
	rl := recordReleases(e)
	srv := uploadServer(t, e, newTestSealer(t))
	os.WriteFile(filepath.Join(e.dir, "z.txt"), []byte("zipped"), 0o666)
	created := func(target string) func(c tusClient) string {
		return func(c tusClient) string { return c.create(target, 4, "", 201) }
	}
	for _, tc := range []struct {
		name  string
		setup func(c tusClient) string // the upload's URL path
		do    func(c tusClient, loc string) int
		ok    int
	}{
		{"tus creation POST", nil, func(c tusClient, _ string) int {
			return c.do("POST", "/api/v1/uploads", nil, 0, "Upload-Length", "4",
				"Upload-Metadata", "target "+b64("/dav/data/new.bin")).StatusCode
		}, http.StatusCreated},
		{"tus HEAD", created("/dav/data/head.bin"), func(c tusClient, loc string) int {
			return c.do("HEAD", loc, nil, 0).StatusCode
		}, http.StatusOK},
		{"tus PATCH", created("/dav/data/patch.bin"), func(c tusClient, loc string) int {
			return c.patch(loc, 0, []byte("data")).StatusCode
		}, http.StatusNoContent},
		{"tus DELETE", created("/dav/data/delete.bin"), func(c tusClient, loc string) int {
			return c.do("DELETE", loc, nil, 0).StatusCode
		}, http.StatusNoContent},
		{"zip", nil, func(c tusClient, _ string) int {
			resp, err := c.srv.Client().Get(c.srv.URL + "/api/v1/zip?dir=/dav/data/&name=z.txt")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tusClient{t: t, srv: srv, user: "alice"}
			var loc string
			if tc.setup != nil {
				loc = tc.setup(c)
			}
			rl.dropped()
			e.smbd.Stop(t)
			e.smbd.Start(t)
			if st := tc.do(c, loc); st != http.StatusServiceUnavailable {
				t.Errorf("over a connection smbd dropped: %d, want 503", st)
			}
			waitFor(t, rl.dropped)
			if st := tc.do(c, loc); st != tc.ok {
				t.Errorf("the request after: %d, want %d (on a new connection)", st, tc.ok)
			}
		})
	}
}

// An SMB connection that dies while a zip is on its way cuts the download
// off, and the mount goes back with the failure first: the next download
// works on a new connection.
func TestZipCutOffReachesPool(t *testing.T) {
	e := newTestEnv(t)
	rl := recordReleases(e)
	c := tusClient{t: t, srv: uploadServer(t, e, newTestSealer(t)), user: "alice"}
	os.Mkdir(filepath.Join(e.dir, "f"), 0o777)
	os.WriteFile(filepath.Join(e.dir, "f", "large.bin"), make([]byte, 64<<20), 0o666)
	resp, err := c.srv.Client().Get(c.srv.URL + "/api/v1/zip?dir=/dav/data/f/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.ReadFull(resp.Body, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	rl.dropped()
	e.smbd.Stop(t)
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Errorf("the download ended cleanly though smbd went away")
	}
	e.smbd.Start(t)
	waitFor(t, rl.dropped)
	got, _ := zipGet(t, c, "dir=/dav/data/f/")
	if len(got["large.bin"]) != 64<<20 {
		t.Errorf("zip after smbd is back: large.bin of %d bytes", len(got["large.bin"]))
	}
}
