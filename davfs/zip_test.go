package davfs

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// zipGet fetches a zip and returns its members: name -> content ("/" for
// folders).
func zipGet(t *testing.T, c tusClient, query string) (map[string]string, string) {
	t.Helper()
	resp, err := c.srv.Client().Get(c.srv.URL + "/api/v1/zip?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("zip %s: %d, %v", query, resp.StatusCode, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatalf("zip %s: %v", query, err)
	}
	got := map[string]string{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if strings.HasSuffix(f.Name, "/") {
			b = []byte("/")
		}
		got[f.Name] = string(b)
	}
	return got, resp.Header.Get("Content-Disposition")
}

// A folder with nested folders and odd names unpacks to exactly its names
// and bytes; named members alone; the download's name for any characters.
func TestZipFolder(t *testing.T) {
	e := newTestEnv(t)
	c := tusClient{t: t, srv: uploadServer(t, e, newTestSealer(t)), user: "alice"}
	big := make([]byte, 3<<20+17)
	rand.Read(big)
	files := map[string]string{
		"a b/c#d/e%f.txt":   "percent and hash",
		"a b/ünïcödé 😀.txt": "unicode",
		"x/y/z.bin":         string(big),
		"top.txt":           "top",
		"empty/":            "/",
	}
	root := filepath.Join(e.dir, "Tree ö")
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			os.MkdirAll(p, 0o777)
			continue
		}
		os.MkdirAll(filepath.Dir(p), 0o777)
		os.WriteFile(p, []byte(content), 0o666)
	}
	os.WriteFile(filepath.Join(root, tempPrefix+"leftover"), []byte("hidden"), 0o666)
	want := map[string]string{"a b/": "/", "a b/c#d/": "/", "x/": "/", "x/y/": "/"}
	for k, v := range files {
		want[k] = v
	}
	dir := "/dav/data/Tree ö/" // as the web app sends it: not percent-encoded
	got, cd := zipGet(t, c, "dir="+url.QueryEscape(dir))
	if diff := cmp.Diff(want, got, cmp.Transformer("short", func(s string) int { return len(s) })); diff != "" || got["x/y/z.bin"] != string(big) {
		t.Errorf("zip of the folder (name -> size) -want +got:\n%s", diff)
	}
	if wantCD := `attachment; filename="Tree _.zip"; filename*=UTF-8''Tree%20%C3%B6.zip`; cd != wantCD {
		t.Errorf("Content-Disposition = %q, want %q", cd, wantCD)
	}
	got, _ = zipGet(t, c, "dir="+url.QueryEscape(dir)+"&name=top.txt&name="+url.QueryEscape("a b"))
	wantSome := map[string]string{"top.txt": "top", "a b/": "/", "a b/c#d/": "/", "a b/c#d/e%f.txt": "percent and hash", "a b/ünïcödé 😀.txt": "unicode"}
	if diff := cmp.Diff(wantSome, got); diff != "" {
		t.Errorf("zip of two members -want +got:\n%s", diff)
	}
	for _, q := range []string{"dir=" + url.QueryEscape(dir) + "&name=..", "dir=" + url.QueryEscape(dir) + "&name=" + tempPrefix + "leftover", "dir=/elsewhere/"} {
		resp, err := c.srv.Client().Get(c.srv.URL + "/api/v1/zip?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 && resp.StatusCode != 404 {
			t.Errorf("zip %s = %d, want 400 or 404", q, resp.StatusCode)
		}
	}
}

// The zip is sent while it is built: once the first bytes have arrived, a
// file the archive reaches later is read only then (its new content is
// in the archive, though it changed after the download began).
func TestZipStreams(t *testing.T) {
	e := newTestEnv(t)
	c := tusClient{t: t, srv: uploadServer(t, e, newTestSealer(t)), user: "alice"}
	dir := filepath.Join(e.dir, "s")
	os.Mkdir(dir, 0o777)
	big := make([]byte, 64<<20)
	os.WriteFile(filepath.Join(dir, "a-large.bin"), big, 0o666)
	os.WriteFile(filepath.Join(dir, "z-last.txt"), []byte("old!"), 0o666)
	resp, err := c.srv.Client().Get(c.srv.URL + "/api/v1/zip?dir=/dav/data/s/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 4096)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != -1 {
		t.Errorf("Content-Length %d: the archive was built before it was sent", resp.ContentLength)
	}
	os.WriteFile(filepath.Join(dir, "z-last.txt"), []byte("new!"), 0o666)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	body := append(first, rest...)
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range zr.File {
		if f.Name == "z-last.txt" {
			rc, _ := f.Open()
			b, _ := io.ReadAll(rc)
			if string(b) != "new!" {
				t.Errorf("z-last.txt in the archive = %q: it was read before the first bytes were sent", b)
			}
			return
		}
	}
	t.Errorf("z-last.txt not in the archive")
}

// A file that cannot be read once the zip is on its way ends the download
// without the archive's end: the client sees it cut off, not a whole zip
// missing a file.
func TestZipCutOffOnFailure(t *testing.T) {
	e := newTestEnv(t)
	c := tusClient{t: t, srv: uploadServer(t, e, newTestSealer(t)), user: "alice"}
	dir := filepath.Join(e.dir, "f")
	os.Mkdir(dir, 0o777)
	os.WriteFile(filepath.Join(dir, "a-large.bin"), make([]byte, 64<<20), 0o666)
	os.WriteFile(filepath.Join(dir, "b-gone.txt"), []byte("soon gone"), 0o666)
	resp, err := c.srv.Client().Get(c.srv.URL + "/api/v1/zip?dir=/dav/data/f/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 4096)
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "b-gone.txt"))
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Errorf("the download ended cleanly though a file could not be read")
	}
}
