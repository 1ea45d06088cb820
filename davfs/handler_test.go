package davfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestPutGetRange(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/a.txt", strings.NewReader("hello, world"))
	if b, _ := os.ReadFile(filepath.Join(e.dir, "a.txt")); string(b) != "hello, world" {
		t.Fatalf("share has %q", b)
	}
	if got := e.expect(t, 200, "GET", "/dav/data/a.txt", nil); got != "hello, world" {
		t.Fatalf("GET = %q", got)
	}
	if got := e.expect(t, 206, "GET", "/dav/data/a.txt", nil, "Range", "bytes=7-11"); got != "world" {
		t.Fatalf("GET range = %q", got)
	}
	if got := e.expect(t, 206, "GET", "/dav/data/a.txt", nil, "Range", "bytes=-5"); got != "world" {
		t.Fatalf("GET suffix range = %q", got)
	}
	// a malformed Range is ignored (RFC 9110 section 14.2); one that is
	// well formed but outside the file is 416
	for _, rg := range []string{"garbage", "bytes=5-2", "bytes=x-3", "items=0-1", "bytes=1", "bytes=-0"} {
		if got := e.expect(t, 200, "GET", "/dav/data/a.txt", nil, "Range", rg); got != "hello, world" {
			t.Fatalf("GET with Range %q = %q", rg, got)
		}
	}
	e.expect(t, 416, "GET", "/dav/data/a.txt", nil, "Range", "bytes=100-")
	e.expect(t, 201, "PUT", "/dav/data/empty", strings.NewReader(""))
	if got := e.expect(t, 200, "GET", "/dav/data/empty", nil, "Range", "bytes=-5"); got != "" {
		t.Fatalf("GET of an empty file with a Range = %q", got)
	}
	// RFC 4918 section 9.7.1 / RFC 9110 section 9.3.4: 204 when replaced.
	e.expect(t, 204, "PUT", "/dav/data/a.txt", strings.NewReader("second"))
	if got := e.expect(t, 200, "GET", "/dav/data/a.txt", nil); got != "second" {
		t.Fatalf("GET after replace = %q", got)
	}
	// a missing parent collection is 409 (RFC 4918 section 9.7.1)
	e.expect(t, 409, "PUT", "/dav/data/nodir/a.txt", strings.NewReader("x"))
}

func TestGetLarge(t *testing.T) {
	e := newTestEnv(t)
	data := make([]byte, 5<<20+12345)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "big"), data, 0o666); err != nil {
		t.Fatal(err)
	}
	if got := e.expect(t, 200, "GET", "/dav/data/big", nil); got != string(data) {
		t.Fatalf("GET big: %d bytes, want %d", len(got), len(data))
	}
	got := e.expect(t, 206, "GET", "/dav/data/big", nil, "Range", "bytes=2097100-3145800")
	if got != string(data[2097100:3145801]) {
		t.Fatalf("range of big: %d bytes", len(got))
	}
	e.expect(t, 201, "PUT", "/dav/data/big2", strings.NewReader(string(data)))
	if b, _ := os.ReadFile(filepath.Join(e.dir, "big2")); string(b) != string(data) {
		t.Fatalf("PUT big: share has %d bytes", len(b))
	}
}

func TestPropfind(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/a.txt", strings.NewReader("x"))
	e.expect(t, 201, "MKCOL", "/dav/data/sub", nil)
	body := e.expect(t, 207, "PROPFIND", "/dav/data/", nil, "Depth", "1")
	for _, want := range []string{"/dav/data/a.txt", "/dav/data/sub/", "getetag"} {
		if !strings.Contains(body, want) {
			t.Errorf("PROPFIND lacks %q:\n%s", want, body)
		}
	}
	// a collection without its trailing slash is served, not redirected
	e.expect(t, 207, "PROPFIND", "/dav/data/sub", nil, "Depth", "0")
	body = e.expect(t, 207, "PROPFIND", "/dav/", nil, "Depth", "1")
	if !strings.Contains(body, "/dav/data/") {
		t.Errorf("share list lacks data:\n%s", body)
	}
	e.expect(t, 207, "PROPFIND", "/dav", nil, "Depth", "0")
	// The share list answers what is asked: quota it does not have is
	// 404 (Finder asks for it on the mounted root), and its ETag does not
	// depend on the Depth.
	quota := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:quota-available-bytes/></D:prop></D:propfind>`
	etag := regexp.MustCompile(`<D:href>/dav/</D:href><D:propstat><D:prop><D:getetag>([^<]+)</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>` +
		`<D:propstat><D:prop><D:quota-available-bytes></D:quota-available-bytes></D:prop><D:status>HTTP/1.1 404 Not Found</D:status>`)
	var etags []string
	for _, d := range []string{"0", "1"} {
		body = e.expect(t, 207, "PROPFIND", "/dav/", strings.NewReader(quota), "Depth", d)
		m := etag.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("share list, Depth %s, asked for getetag and quota:\n%s", d, body)
		}
		etags = append(etags, m[1])
	}
	if etags[0] != etags[1] {
		t.Errorf("share list ETag %s at Depth 0, %s at Depth 1", etags[0], etags[1])
	}
	// RFC 4918 section 9.1: infinite depth may be refused with
	// propfind-finite-depth.
	for _, p := range []string{"/dav/data/", "/"} {
		for _, d := range []string{"", "infinity"} {
			body = e.expect(t, 403, "PROPFIND", p, nil, "Depth", d)
			if !strings.Contains(body, "propfind-finite-depth") {
				t.Errorf("%s, Depth %q: body %q", p, d, body)
			}
		}
	}
	// The server's root lists the share list and, at Depth 0, only itself.
	if body = e.expect(t, 207, "PROPFIND", "/", nil, "Depth", "1"); !strings.Contains(body, "<D:href>/dav/</D:href>") {
		t.Errorf("PROPFIND / lacks /dav/:\n%s", body)
	}
	if body = e.expect(t, 207, "PROPFIND", "/", nil, "Depth", "0"); strings.Contains(body, "/dav/") {
		t.Errorf("PROPFIND / at Depth 0 lists members:\n%s", body)
	}
	// on a file, infinite depth is Depth 0
	e.expect(t, 207, "PROPFIND", "/dav/data/a.txt", nil)
	e.expect(t, 207, "PROPFIND", "/dav/data/a.txt", nil, "Depth", "infinity")
	// a file is no collection
	e.expect(t, 404, "GET", "/dav/data/a.txt/", nil)
	e.expect(t, 404, "PROPFIND", "/dav/data/missing", nil, "Depth", "0")
	e.expect(t, 404, "PROPFIND", "/dav/nosuchshare/", nil, "Depth", "0")
}

func TestMkcolMoveCopyDelete(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "MKCOL", "/dav/data/d", nil)
	e.expect(t, 405, "MKCOL", "/dav/data/d", nil)
	e.expect(t, 409, "MKCOL", "/dav/data/x/y", nil)
	e.expect(t, 201, "PUT", "/dav/data/d/f", strings.NewReader("content"))
	dst := e.srv.URL + "/dav/data/d/g"
	e.expect(t, 201, "COPY", "/dav/data/d/f", nil, "Destination", dst)
	if got := e.expect(t, 200, "GET", "/dav/data/d/g", nil); got != "content" {
		t.Fatalf("copy has %q", got)
	}
	e.expect(t, 412, "COPY", "/dav/data/d/f", nil, "Destination", dst, "Overwrite", "F")
	// RFC 4918 section 10.6: no Overwrite header means T.
	e.expect(t, 204, "MOVE", "/dav/data/d/f", nil, "Destination", dst)
	e.expect(t, 404, "GET", "/dav/data/d/f", nil)
	e.expect(t, 201, "MOVE", "/dav/data/d", nil, "Destination", e.srv.URL+"/dav/data/e")
	if got := e.expect(t, 200, "GET", "/dav/data/e/g", nil); got != "content" {
		t.Fatalf("moved dir has %q", got)
	}
	e.expect(t, 204, "DELETE", "/dav/data/e", nil)
	e.expect(t, 404, "DELETE", "/dav/data/e", nil)
	if _, err := os.Stat(filepath.Join(e.dir, "e")); !os.IsNotExist(err) {
		t.Fatalf("e still there: %v", err)
	}
}

func TestOptions(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/a.txt", strings.NewReader("x"))
	for _, p := range []string{"/", "/dav/", "/dav/data/", "/dav/data", "/dav/data/a.txt", "/dav/data/new"} {
		resp, _ := e.do(t, "OPTIONS", p, nil)
		if resp.StatusCode != 200 || resp.Header.Get("DAV") != "1, 2" ||
			resp.Header.Get("MS-Author-Via") != "DAV" || resp.Header.Get("Allow") == "" {
			t.Errorf("OPTIONS %s: %d %v", p, resp.StatusCode, resp.Header)
		}
	}
}

// An upload cut off before Content-Length is reached neither truncates nor
// replaces the existing file, and leaves no temporary file behind.
func TestPutCutOffKeepsOriginal(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/keep.txt", strings.NewReader("original"))
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "PUT /dav/data/keep.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\npartial data")
	time.Sleep(200 * time.Millisecond)
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ents, _ := os.ReadDir(e.dir)
		var names []string
		for _, d := range ents {
			names = append(names, d.Name())
		}
		if len(names) == 1 && names[0] == "keep.txt" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("share holds %v", names)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "keep.txt")); string(b) != "original" {
		t.Fatalf("keep.txt = %q", b)
	}
}

func TestSMBErrorStatuses(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/busy.txt", strings.NewReader("x"))
	// another SMB client holds the file open without FILE_SHARE_DELETE:
	// deleting it is a sharing violation, 423.
	f, err := e.share.Open("busy.txt")
	if err != nil {
		t.Fatal(err)
	}
	e.expect(t, 423, "DELETE", "/dav/data/busy.txt", nil)
	f.Close()
	e.expect(t, 204, "DELETE", "/dav/data/busy.txt", nil)

	// a directory the user may not enter: 403
	if err := os.Mkdir(filepath.Join(e.dir, "closed"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.expect(t, 403, "PROPFIND", "/dav/data/closed/", nil, "Depth", "1")
	e.expect(t, 403, "PUT", "/dav/data/closed/x", strings.NewReader("x"))
	// names that could reach an alternate data stream are refused
	e.expect(t, 400, "PUT", "/dav/data/a.txt:stream", strings.NewReader("x"))
}

// Chunked bodies (no Content-Length) and Expect: 100-continue work on PUT
// (RFC 9112 section 7.1, RFC 9110 section 10.1.1).
func TestPutChunkedAndExpectContinue(t *testing.T) {
	e := newTestEnv(t)
	body := strings.Repeat("chunked ", 300000)
	req, _ := http.NewRequest("PUT", e.srv.URL+"/dav/data/c.txt", io.MultiReader(strings.NewReader(body)))
	req.ContentLength = -1
	req.Header.Set("Expect", "100-continue")
	tr := &http.Transport{ExpectContinueTimeout: 5 * time.Second}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("PUT: %s", resp.Status)
	}
	if b, _ := os.ReadFile(filepath.Join(e.dir, "c.txt")); string(b) != body {
		t.Fatalf("stored %d bytes, want %d", len(b), len(body))
	}
}

// smbd killed during a PUT: the original is intact; once smbd is back the
// next request removes the upload's temporary file (issue 3, "Nothing
// lost").
func TestPutSmbdKilled(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/keep.txt", strings.NewReader("original"))
	pr, pw := io.Pipe()
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest("PUT", e.srv.URL+"/dav/data/keep.txt", pr)
		req.ContentLength = 64 << 20
		resp, err := e.client.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	chunk := make([]byte, 1<<20)
	for range 4 {
		pw.Write(chunk)
	}
	waitFor(t, func() bool { return len(tempFiles(t, e.dir)) == 1 })
	e.smbd.Stop(t)
	for range 8 {
		if _, err := pw.Write(chunk); err != nil {
			break
		}
	}
	pw.CloseWithError(io.ErrUnexpectedEOF)
	if st := <-done; st != 0 && st < 500 {
		t.Errorf("PUT with smbd gone: %d", st)
	}
	e.smbd.Start(t)
	if got := e.expect(t, 200, "GET", "/dav/data/keep.txt", nil); got != "original" {
		t.Fatalf("keep.txt = %q", got)
	}
	if tf := tempFiles(t, e.dir); len(tf) != 0 {
		t.Fatalf("temporary files left: %v", tf)
	}
}

// smbd killed during a GET: the client gets a body cut short, never a
// whole-looking one, the log says why at error level, and once smbd is
// back the same file comes whole.
func TestGetSmbdKilled(t *testing.T) {
	var log lockedBuffer
	e := newTestEnv(t, func(o *HandlerOptions) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	want := make([]byte, 32<<20)
	for i := range want {
		want[i] = byte(i >> 12)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "big.bin"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.Get(e.srv.URL + "/dav/data/big.bin")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET: %v %v", resp, err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	e.smbd.Stop(t)
	rest, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || 1<<20+len(rest) >= len(want) {
		t.Errorf("GET with smbd gone: %d bytes in all, %v; want fewer than %d and an error", 1<<20+len(rest), err, len(want))
	}
	waitFor(t, func() bool { return strings.Contains(log.String(), "webdav response cut short by a failed read") })
	if line := log.String(); !strings.Contains(line, "level=ERROR") || !strings.Contains(line, "path=/dav/data/big.bin") {
		t.Errorf("log:\n%s", line)
	}
	e.smbd.Start(t)
	if got := e.expect(t, 200, "GET", "/dav/data/big.bin", nil); got != string(want) {
		t.Errorf("GET after smbd is back: %d bytes, want the file", len(got))
	}
}

func tempFiles(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range ents {
		if strings.HasPrefix(d.Name(), tempPrefix) {
			out = append(out, d.Name())
		}
	}
	return out
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RFC 9110 section 14.5: PUT with Content-Range is refused (400); an
// upload larger than the free space is refused before the body is sent
// (507, RFC 4918 section 11.5).
func TestPutRefusals(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 400, "PUT", "/dav/data/r", strings.NewReader("x"), "Content-Range", "bytes 0-0/10")
	// Too large for the share, said by Content-Length or, for a chunked
	// body, by the X-Expected-Entity-Length that macOS Finder sends.
	for _, chunked := range []bool{false, true} {
		// The body is refused unread; were it read, 64 MiB would be stored.
		body := &countingReader{r: io.LimitReader(neverEnding{}, 64<<20)}
		req, _ := http.NewRequest("PUT", e.srv.URL+"/dav/data/huge", body)
		req.ContentLength = 1 << 62
		if chunked {
			req.ContentLength = -1
			req.Header.Set("X-Expected-Entity-Length", strconv.Itoa(1<<62))
		}
		req.Header.Set("Expect", "100-continue")
		tr := &http.Transport{ExpectContinueTimeout: 10 * time.Second}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInsufficientStorage || body.n > 1<<20 {
			t.Fatalf("huge PUT (chunked %v): %s after %d bytes of the body were sent", chunked, resp.Status, body.n)
		}
	}
	if tf := tempFiles(t, e.dir); len(tf) != 0 {
		t.Fatalf("temporary files left: %v", tf)
	}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) { return len(p), nil }

// WebDAV works the same when the file server requires signing or
// encryption (the default on current Windows Server).
func TestSigningAndEncryption(t *testing.T) {
	for _, global := range []string{"server signing = mandatory", "server smb encrypt = required"} {
		t.Run(global, func(t *testing.T) {
			e := newTestEnvGlobal(t, global)
			data := strings.Repeat("signed and sealed ", 200000)
			e.expect(t, 201, "PUT", "/dav/data/s.txt", strings.NewReader(data))
			if got := e.expect(t, 200, "GET", "/dav/data/s.txt", nil); got != data {
				t.Fatalf("GET: %d bytes", len(got))
			}
			e.expect(t, 207, "PROPFIND", "/dav/data/", nil, "Depth", "1")
		})
	}
}

// Many clients at once on one SMB session: uploads of the same name never
// mix their content, and listings and locks keep working.
func TestConcurrentClients(t *testing.T) {
	e := newTestEnv(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan string, 4*n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := strings.Repeat(string(rune('a'+i)), 300000+i)
			for range 3 {
				resp, _ := e.do(t, "PUT", "/dav/data/same.txt", strings.NewReader(body))
				if resp.StatusCode != 201 && resp.StatusCode != 204 && resp.StatusCode != 423 {
					errs <- fmt.Sprintf("PUT: %d", resp.StatusCode)
				}
				resp, got := e.do(t, "GET", "/dav/data/same.txt", nil)
				if resp.StatusCode == 200 && strings.Trim(got, got[:1]) != "" {
					errs <- "GET returned mixed content"
				}
				if resp, _ := e.do(t, "PROPFIND", "/dav/data/", nil, "Depth", "1"); resp.StatusCode != 207 {
					errs <- fmt.Sprintf("PROPFIND: %d", resp.StatusCode)
				}
				if resp, _ := e.do(t, "LOCK", fmt.Sprintf("/dav/data/l%d", i), strings.NewReader(lockBody)); resp.StatusCode/100 != 2 {
					errs <- fmt.Sprintf("LOCK: %d", resp.StatusCode)
				} else {
					e.do(t, "UNLOCK", fmt.Sprintf("/dav/data/l%d", i), nil, "Lock-Token", resp.Header.Get("Lock-Token"))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if tf := tempFiles(t, e.dir); len(tf) != 0 {
		t.Fatalf("temporary files left: %v", tf)
	}
}

// Clients that go away in the middle of a download or an upload leave the
// shared SMB connection healthy for the next request.
func TestClientsGoingAway(t *testing.T) {
	e := newTestEnv(t)
	data := bytes.Repeat([]byte("0123456789"), 3<<20)
	os.WriteFile(filepath.Join(e.dir, "big"), data, 0o666)
	for i := range 6 {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/dav/data/big", nil)
		resp, err := e.client.Do(req)
		if err == nil {
			io.CopyN(io.Discard, resp.Body, int64(i)*100000+1)
		}
		cancel()
		if err == nil {
			resp.Body.Close()
		}
		ctx, cancel = context.WithCancel(context.Background())
		req, _ = http.NewRequestWithContext(ctx, "PUT", e.srv.URL+"/dav/data/up", io.LimitReader(neverEnding{}, 1<<30))
		req.ContentLength = 1 << 30
		go func() { time.Sleep(time.Duration(i*20) * time.Millisecond); cancel() }()
		if resp, err := e.client.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	if got := e.expect(t, 200, "GET", "/dav/data/big", nil); got != string(data) {
		t.Fatalf("GET after aborted requests: %d bytes", len(got))
	}
	e.expect(t, 207, "PROPFIND", "/dav/data/", nil, "Depth", "1")
	waitFor(t, func() bool { return len(tempFiles(t, e.dir)) == 0 })
}

// A PROPPATCH body over the limit is 413, like a PROPFIND's; names of
// davgate's temporary files cannot be created by MKCOL or COPY either; the
// share itself cannot be moved or deleted.
func TestBodyLimitAndReservedNames(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/a", strings.NewReader("x"))
	huge := proppatch(`<X:big>` + strings.Repeat("b", 2<<20) + `</X:big>`)
	e.expect(t, 413, "PROPPATCH", "/dav/data/a", huge)
	e.expect(t, 403, "MKCOL", "/dav/data/"+tempPrefix+"d", nil)
	// the share itself is neither moved nor deleted
	e.expect(t, 403, "MOVE", "/dav/data/", nil, "Destination", e.srv.URL+"/dav/other/")
	e.expect(t, 403, "DELETE", "/dav/data/", nil)
	e.expect(t, 403, "COPY", "/dav/data/a", nil, "Destination", e.srv.URL+"/dav/data/"+tempPrefix+"c")
}

// A large upload over a file someone is downloading waits for the
// download to end (here 3 s) instead of throwing the body away with 423.
func TestPutWaitsForReader(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/busy.bin", bytes.NewReader(bytes.Repeat([]byte("o"), 8<<20)))
	resp, err := e.client.Get(e.srv.URL + "/dav/data/busy.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 1024)); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(3 * time.Second)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}()
	data := bytes.Repeat([]byte("n"), quotaCheckSize)
	e.expect(t, 204, "PUT", "/dav/data/busy.bin", bytes.NewReader(data))
	if got, _ := os.ReadFile(filepath.Join(e.dir, "busy.bin")); !bytes.Equal(got, data) {
		t.Errorf("busy.bin has %d bytes, want %d", len(got), len(data))
	}
}

// gatedReader gives three chunks, then blocks in its fourth Read until
// open is closed, counting its reads.
type gatedReader struct {
	reads atomic.Int32
	open  chan struct{}
}

func (r *gatedReader) Read(p []byte) (int, error) {
	if r.reads.Add(1) > 3 {
		<-r.open
		return 0, io.EOF
	}
	return len(p), nil
}

// A write the server refuses ends writeBody with the server's error, but
// not before its reader, reading ahead, is out of body.Read: nothing reads
// a request body after the handler has returned, or a source file after
// COPY closed it.
func TestWriteBodyWaitsForItsReader(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "PUT", "/dav/data/ro.txt", strings.NewReader("x"))
	f, err := e.share.Open("ro.txt") // read-only: every write is refused
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	body := &gatedReader{open: make(chan struct{})}
	type result struct {
		n   int64
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := writeBody(f, 0, body, nil)
		done <- result{n, err}
	}()
	select {
	case r := <-done:
		t.Fatalf("writeBody returned (%d, %v) while its reader was in Read", r.n, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	close(body.open)
	select {
	case r := <-done:
		var be *bodyError
		if r.err == nil || errors.As(r.err, &be) {
			t.Fatalf("writeBody = (%d, %v), want the server's write error", r.n, r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("writeBody did not return once its reader was out of Read")
	}
	if n := body.reads.Load(); n != 4 {
		t.Errorf("body read %d times, want 4", n)
	}
}

// A GET reads ahead in 1 MiB chunks, several at a time: files of every
// size around the chunk boundaries come back whole, and ranges across them
// too.
func TestGetSizesAroundChunks(t *testing.T) {
	e := newTestEnv(t)
	sizes := []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1,
		(readAhead+1)*chunkSize - 1, (readAhead + 1) * chunkSize, (readAhead+1)*chunkSize + 1, 7*chunkSize + 12345}
	for _, size := range sizes {
		want := make([]byte, size)
		for i := range want {
			want[i] = byte(i*7 + i>>20)
		}
		name := fmt.Sprintf("s%d.bin", size)
		if err := os.WriteFile(filepath.Join(e.dir, name), want, 0o644); err != nil {
			t.Fatal(err)
		}
		if got := e.expect(t, 200, "GET", "/dav/data/"+name, nil); got != string(want) {
			t.Errorf("GET of %d bytes: got %d bytes, differing", size, len(got))
		}
		if size <= 2*chunkSize {
			continue
		}
		// from inside the first chunk to past the read-ahead
		from, to := chunkSize-10, min((readAhead+1)*chunkSize+10, size-1)
		got := e.expect(t, 206, "GET", "/dav/data/"+name, nil, "Range", fmt.Sprintf("bytes=%d-%d", from, to))
		if got != string(want[from:to+1]) {
			t.Errorf("GET bytes=%d-%d of %d bytes: got %d bytes, differing", from, to, size, len(got))
		}
	}
}

// The buffer budget: a GET takes its read-ahead from it and gives it back
// when it ends, however it ends; GETs past the budget still serve whole
// files, one chunk at a time; PUTs and a COPY through davgate take and
// give back theirs too.
func TestBufferBudget(t *testing.T) {
	e := newTestEnv(t, func(o *HandlerOptions) { o.BufferMemory = 2 * chunkSize })
	want := make([]byte, 6*chunkSize+123)
	for i := range want {
		want[i] = byte(i * 13)
	}
	if err := os.WriteFile(filepath.Join(e.dir, "big.bin"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	settled := func(what string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for e.h.bufs.outstanding() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("after %s, %d budget buffers still taken", what, e.h.bufs.outstanding())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// Three GETs held open after their first bytes: the budget of two
	// goes to whichever asks first, never more.
	var bodies []io.ReadCloser
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequest("GET", e.srv.URL+"/dav/data/big.bin", nil)
		resp, err := e.client.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %d: %v %v", i, resp, err)
		}
		if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
	}
	if n := e.h.bufs.outstanding(); n != 2 {
		t.Errorf("three GETs under way hold %d budget buffers, want all 2", n)
	}
	for i, b := range bodies {
		rest, err := io.ReadAll(b)
		b.Close()
		if err != nil || !bytes.Equal(rest, want[1000:]) {
			t.Errorf("GET %d: %d bytes after the first 1000, %v; want the file", i, len(rest), err)
		}
	}
	settled("three GETs")

	// A GET whose client goes away mid-file.
	req, _ := http.NewRequest("GET", e.srv.URL+"/dav/data/big.bin", nil)
	resp, err := e.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(resp.Body, make([]byte, 1000))
	resp.Body.Close()
	settled("an abandoned GET")

	// PUTs at once, one cut off, and a COPY too large for the server-side
	// copy.
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.expect(t, 201, "PUT", fmt.Sprintf("/dav/data/up%d.bin", i), bytes.NewReader(want))
		}()
	}
	wg.Wait()
	settled("three PUTs")
	c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "PUT /dav/data/cut.bin HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", len(want))
	c.Write(want[:3*chunkSize])
	c.Close()
	settled("a cut-off PUT")
	big := bytes.Repeat(want, 3) // 18 MiB: above copyChunkLimit
	if err := os.WriteFile(filepath.Join(e.dir, "bigger.bin"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	e.expect(t, 201, "COPY", "/dav/data/bigger.bin", nil, "Destination", e.srv.URL+"/dav/data/copy.bin")
	settled("a COPY")
	for _, name := range []string{"up0.bin", "up1.bin", "up2.bin"} {
		if got, err := os.ReadFile(filepath.Join(e.dir, name)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want the file sent", name, len(got), err)
		}
	}
	if got, err := os.ReadFile(filepath.Join(e.dir, "copy.bin")); err != nil || !bytes.Equal(got, big) {
		t.Errorf("copy.bin: %d bytes, %v; want %d", len(got), err, len(big))
	}
	if _, err := os.Stat(filepath.Join(e.dir, "cut.bin")); !os.IsNotExist(err) {
		t.Errorf("cut.bin exists after a cut-off upload: %v", err)
	}
}
