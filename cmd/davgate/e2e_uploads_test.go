package main

import (
	"archive/zip"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The browser's uploads and zip downloads through the whole program: tus
// behind the token middleware (Bearer and Basic alike), the state sealed
// with the master keys, another user's upload 404, and the sandbox CSP.
func TestEndToEndUploadsAndZip(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	bob := c.logon("dgbob", bobPass, http.StatusCreated)
	tus := func(auth func(*http.Request), method, path string, body []byte, hdr ...string) *http.Response {
		resp, _ := c.do(method, path, bytes.NewReader(body), auth, append(hdr, "Tus-Resumable", "1.0.0")...)
		return resp
	}
	if resp, _ := c.do("OPTIONS", "/api/v1/uploads", nil, nil); resp.StatusCode != 204 || resp.Header.Get("Tus-Version") != "1.0.0" ||
		resp.Header.Get("Tus-Extension") != "creation,termination,expiration" || resp.Header.Get("Tus-Max-Size") == "" {
		t.Fatalf("OPTIONS = %d %v", resp.StatusCode, resp.Header)
	}
	if resp := tus(nil, "POST", "/api/v1/uploads", nil, "Upload-Length", "3"); resp.StatusCode != 401 {
		t.Fatalf("POST without a token = %d, want 401", resp.StatusCode)
	}
	data := make([]byte, 3<<20+5)
	rand.Read(data)
	meta := "target " + base64.StdEncoding.EncodeToString([]byte("/dav/data/up load.bin")) + ",overwrite " + base64.StdEncoding.EncodeToString([]byte("F"))
	resp := tus(bearer(alice.Token), "POST", "/api/v1/uploads", nil, "Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", meta)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 201 || loc == "" || !cspHas(resp, "sandbox") {
		t.Fatalf("POST = %d, Location %q, CSP %q", resp.StatusCode, loc, resp.Header.Get("Content-Security-Policy"))
	}
	patch := func(auth func(*http.Request), off int, b []byte) *http.Response {
		return tus(auth, "PATCH", loc, b, "Content-Type", "application/offset+octet-stream", "Upload-Offset", strconv.Itoa(off))
	}
	if resp := patch(bearer(alice.Token), 0, data[:1<<20]); resp.StatusCode != 204 {
		t.Fatalf("PATCH = %d", resp.StatusCode)
	}
	if resp := patch(bearer(bob.Token), 1<<20, data[1<<20:]); resp.StatusCode != 404 {
		t.Errorf("bob's PATCH of alice's upload = %d, want 404", resp.StatusCode)
	}
	if resp := tus(basic("dgalice", alice.Token), "HEAD", loc, nil); resp.StatusCode != 200 || resp.Header.Get("Upload-Offset") != strconv.Itoa(1<<20) {
		t.Fatalf("HEAD = %d, offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	if resp := patch(basic("dgalice", alice.Token), 1<<20, data[1<<20:]); resp.StatusCode != 204 {
		t.Fatalf("last PATCH = %d", resp.StatusCode)
	}
	if got, err := os.ReadFile(filepath.Join(f.smbd.SharePath("data"), "up load.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("uploaded file: %d bytes, %v", len(got), err)
	}

	req, err := http.NewRequest("GET", in.URL+"/api/v1/zip?dir=/dav/data/&name=up%20load.bin", nil)
	if err != nil {
		t.Fatal(err)
	}
	bearer(alice.Token)(req)
	zresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(zresp.Body)
	zresp.Body.Close()
	if zresp.StatusCode != 200 || !cspHas(zresp, "sandbox") {
		t.Fatalf("zip = %d, CSP %q", zresp.StatusCode, zresp.Header.Get("Content-Security-Policy"))
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil || len(zr.File) != 1 || zr.File[0].Name != "up load.bin" {
		t.Fatalf("zip: %v", err)
	}
	rc, _ := zr.File[0].Open()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, data) {
		t.Errorf("zipped file differs")
	}
	in.Stop()
	assertNoSecrets(t, in.Log.String(), alice.Token, bob.Token)
}

// Two PATCHes of one upload on two instances (sharing one Redis) do not
// interleave: while A still writes a PATCH, one sent to B waits for it and
// is then answered 409 with the offset A left, from which the upload goes
// on; the file on the share is the bytes in order.
func TestEndToEndUploadOneWriterAcrossInstances(t *testing.T) {
	f, ca, cb := twoInstances(t)
	alice := ca.logon("dgalice", alicePass, http.StatusCreated)
	data := make([]byte, 3<<20)
	rand.Read(data)
	meta := "target " + base64.StdEncoding.EncodeToString([]byte("/dav/data/two.bin"))
	resp, _ := ca.do("POST", "/api/v1/uploads", nil, bearer(alice.Token), "Tus-Resumable", "1.0.0",
		"Upload-Length", strconv.Itoa(len(data)), "Upload-Metadata", meta)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != 201 || loc == "" {
		t.Fatalf("POST = %d", resp.StatusCode)
	}
	patch := func(base string, off int, body io.Reader) (*http.Response, error) {
		req, err := http.NewRequest("PATCH", base+loc, body)
		if err != nil {
			return nil, err
		}
		bearer(alice.Token)(req)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		req.Header.Set("Upload-Offset", strconv.Itoa(off))
		return http.DefaultClient.Do(req)
	}

	// A's PATCH sends its first MiB and stalls.
	pr, pw := io.Pipe()
	aDone := make(chan *http.Response, 1)
	go func() {
		resp, err := patch(ca.base, 0, pr)
		if err != nil {
			t.Errorf("PATCH on A: %v", err)
		}
		aDone <- resp
	}()
	pw.Write(data[:1<<20])
	dir := f.smbd.SharePath("data")
	waitTempSize(t, dir, 1<<20)

	// B's PATCH at that offset, with the rest.
	bDone := make(chan *http.Response, 1)
	go func() {
		resp, err := patch(cb.base, 1<<20, bytes.NewReader(data[1<<20:]))
		if err != nil {
			t.Errorf("PATCH on B: %v", err)
		}
		bDone <- resp
	}()
	select {
	case resp := <-bDone:
		t.Fatalf("B's PATCH answered %d while A's was still writing", resp.StatusCode)
	case <-time.After(time.Second):
	}
	pw.Write(data[1<<20 : 2<<20])
	pw.Close()
	if resp := <-aDone; resp == nil || resp.StatusCode != 204 || resp.Header.Get("Upload-Offset") != strconv.Itoa(2<<20) {
		t.Fatalf("A's PATCH = %v", resp)
	}
	resp = <-bDone
	if resp == nil || resp.StatusCode != 409 || resp.Header.Get("Upload-Offset") != strconv.Itoa(2<<20) {
		t.Fatalf("B's PATCH after A's = %v, want 409 at offset %d", resp, 2<<20)
	}
	if resp, err := patch(cb.base, 2<<20, bytes.NewReader(data[2<<20:])); err != nil || resp.StatusCode != 204 {
		t.Fatalf("the last PATCH on B = %v, %v", resp, err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "two.bin")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("two.bin on the share: %d bytes, %v; want the %d uploaded in order", len(got), err, len(data))
	}
}

// waitTempSize waits until a davgate temporary file in dir holds n bytes.
func waitTempSize(t *testing.T, dir string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		temps, _ := filepath.Glob(filepath.Join(dir, ".~davgate-up-*"))
		for _, p := range temps {
			if st, err := os.Stat(p); err == nil && st.Size() >= n {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no temporary file of %d bytes in %s", n, dir)
}
