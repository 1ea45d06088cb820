package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudsoda/go-smb2"

	"github.com/davgate/davgate/internal/testenv"
)

// The web app test's DevTools and SMB helpers: a drop of files and folders
// from the desktop, downloads into a folder, the tab's network cut, and
// reading what landed on a share over SMB as a second client would.

// dropPaths drops files and folders (paths on this machine) on the element
// sel, as a user dragging them from the desktop does: Chromium builds the
// DataTransfer, whose items give webkitGetAsEntry() entries, folders too.
func (p *cdpPage) dropPaths(sel string, paths []string) {
	p.t.Helper()
	var at struct{ X, Y float64 }
	p.eval(fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return {X: r.left + r.width / 2, Y: r.top + Math.min(r.height / 2, 200)}; })()`, sel), &at)
	data := map[string]any{"items": []any{}, "files": paths, "dragOperationsMask": 1}
	for _, typ := range []string{"dragEnter", "dragOver", "drop"} {
		if err := p.call("Input.dispatchDragEvent", map[string]any{"type": typ, "x": at.X, "y": at.Y, "data": data}, nil); err != nil {
			p.t.Fatalf("drop on %s: %v", sel, err)
		}
	}
}

// allowDownloads saves the tab's downloads into dir.
func (p *cdpPage) allowDownloads(dir string) {
	p.t.Helper()
	if err := p.call("Page.setDownloadBehavior", map[string]any{"behavior": "allow", "downloadPath": dir}, nil); err != nil {
		p.t.Fatal(err)
	}
}

// waitDownload waits for the file name in dir to be whole (Chromium
// writes name.crdownload first) and returns its bytes.
func waitDownload(t *testing.T, dir, name string) []byte {
	t.Helper()
	deadline := time.Now().Add(pageTimeout)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if _, partial := os.Stat(filepath.Join(dir, name+".crdownload")); err == nil && partial != nil {
			return b
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, _ := filepath.Glob(filepath.Join(dir, "*"))
	t.Fatalf("no download %s after %v; the folder holds %q", name, pageTimeout, got)
	return nil
}

// network cuts the tab's network (offline: requests in flight fail) or
// restores it, its uploads limited to upload bytes a second (-1: none).
func (p *cdpPage) network(offline bool, upload float64) {
	p.t.Helper()
	p.networkLatency(offline, upload, 0)
}

// networkLatency is network with latency added to every answer.
func (p *cdpPage) networkLatency(offline bool, upload float64, latency time.Duration) {
	p.t.Helper()
	if err := p.call("Network.enable", nil, nil); err != nil {
		p.t.Fatal(err)
	}
	if err := p.call("Network.emulateNetworkConditions", map[string]any{
		"offline": offline, "latency": latency.Milliseconds(), "downloadThroughput": -1, "uploadThroughput": upload,
	}, nil); err != nil {
		p.t.Fatal(err)
	}
}

// smbShare mounts a share of the fixture's smbd as user, a second client
// beside davgate.
func smbShare(t *testing.T, s *testenv.Smbd, user, pass, share string) *smb2.Share {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: user, Password: pass}}
	sess, err := d.Dial(ctx, s.Addr())
	if err != nil {
		t.Fatalf("dial smbd: %v", err)
	}
	t.Cleanup(func() { sess.Logoff() })
	sh, err := sess.Mount(share)
	if err != nil {
		t.Fatalf("mount %s: %v", share, err)
	}
	t.Cleanup(func() { sh.Umount() })
	return sh
}

// smbSum is the sha256 of a file read over SMB, and its size.
func smbSum(t *testing.T, sh *smb2.Share, name string) (string, int64) {
	t.Helper()
	f, err := sh.Open(name)
	if err != nil {
		t.Fatalf("open %s over SMB: %v", name, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		t.Fatalf("read %s over SMB: %v", name, err)
	}
	return hex.EncodeToString(h.Sum(nil)), n
}

// smbTemps lists davgate's temporary files in a folder of the share.
func smbTemps(t *testing.T, sh *smb2.Share, dir string) []string {
	t.Helper()
	fis, err := sh.ReadDir(dir)
	if err != nil {
		t.Fatalf("list %s over SMB: %v", dir, err)
	}
	var out []string
	for _, fi := range fis {
		if strings.HasPrefix(fi.Name(), ".~davgate-") {
			out = append(out, fi.Name())
		}
	}
	return out
}

// randomFile writes n random bytes to path and returns their sha256.
func randomFile(t *testing.T, path string, n int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(f, h), rand.Reader, n); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// click clicks the element sel with the mouse, a user gesture (which
// the Clipboard API wants), after scrolling it into view.
func (p *cdpPage) click(sel string) {
	p.t.Helper()
	var at struct{ X, Y float64 }
	p.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.scrollIntoView({block: "center"});
		const r = e.getBoundingClientRect(); return {X: r.left + r.width / 2, Y: r.top + r.height / 2}; })()`, sel), &at)
	for _, typ := range []string{"mousePressed", "mouseReleased"} {
		if err := p.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": at.X, "y": at.Y, "button": "left", "clickCount": 1}, nil); err != nil {
			p.t.Fatalf("click %s: %v", sel, err)
		}
	}
}
