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
