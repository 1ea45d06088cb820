package main

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudsoda/go-smb2"
)

// The steps of TestWebAppChromium that a new user's first session takes
// beyond the basics: a folder dropped from the desktop, a large upload cut
// off twice and resumed, a folder downloaded as zip, a PDF previewed, a
// device token created, copied and revoked.

// webEnv is what the steps share.
type webEnv struct {
	p     *cdpPage
	in    *instance
	f     *fixture
	shots string
	data  *smb2.Share // alice's view of the share "data" over SMB
	token string      // a device token of alice's
	dl    string      // where the tab's downloads land
	// dropped is what folderDrop uploaded: path in the share -> bytes.
	dropped map[string][]byte
	// bigSum is the sha256 of "big video.bin", which resumedUpload put.
	bigSum string
}

func (w *webEnv) downloads(t *testing.T) string {
	w.dl = t.TempDir()
	return w.dl
}

// folderDrop drops a folder tree (an empty folder in it) and a loose file
// on the listing.
func (w *webEnv) folderDrop(t *testing.T) {
	p := w.p
	src := t.TempDir()
	w.dropped = map[string][]byte{
		"Fotos 2026/a.txt":              []byte("a\n"),
		"Fotos 2026/sub/b.bin":          randomBytes(t, 1<<20+3),
		"Fotos 2026/sub/deeper/c ü.txt": []byte("c\n"),
		"loose.txt":                     []byte("loose\n"),
	}
	for name, b := range w.dropped {
		path := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(src, "Fotos 2026", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.dropPaths("#main", []string{filepath.Join(src, "Fotos 2026"), filepath.Join(src, "loose.txt")})
	p.waitFor("four uploads done", `document.querySelectorAll("#up-list li.done").length === 4`)
	p.waitFor("the folder listed", `rowNames().includes("Fotos 2026") && rowNames().includes("loose.txt")`)
	for name, want := range w.dropped {
		sum, n := smbSum(t, w.data, name)
		if wantSum := sha256.Sum256(want); sum != hex.EncodeToString(wantSum[:]) {
			t.Errorf("%s over SMB: %d bytes, not the %d dropped", name, n, len(want))
		}
	}
	if fi, err := w.data.Stat("Fotos 2026/empty"); err != nil || !fi.IsDir() {
		t.Errorf("the dropped empty folder over SMB: %v", err)
	}
	p.eval(`document.querySelector("#up-close").click()`, nil)
}

// bigUpload is the size of the upload that is cut off and resumed, and
// uploadRate the tab's upload speed then.
const (
	bigUpload  = 192 << 20
	uploadRate = 40e6
)

// tusCall is one tus request the page made (pageHelpers' __tus).
type tusCall struct {
	M, U   string
	Off    *int64
	Status int
	Got    string
}

// tusCalls is a short account of the page's tus requests.
func tusCalls(calls []tusCall) []string {
	var out []string
	for _, c := range calls {
		s := fmt.Sprintf("%s %d", c.M, c.Status)
		if c.Off != nil {
			s = fmt.Sprintf("%s@%d %d", c.M, *c.Off, c.Status)
		}
		out = append(out, s+" "+c.Got)
	}
	return out
}

// resumedUpload uploads a large file, cuts the tab's network mid-way
// (the page retries and goes on by itself), then reloads the page in the
// middle of a chunk and picks the file again: the upload goes on from the
// server's offset, the bytes on the share are the file's, and no
// temporary file is left.
func (w *webEnv) resumedUpload(t *testing.T) {
	p := w.p
	path := filepath.Join(t.TempDir(), "big video.bin")
	sum := randomFile(t, path, bigUpload)
	w.bigSum = sum
	// At 40 MB/s the test sees the upload under way.
	p.network(false, uploadRate)
	defer p.network(false, -1)
	p.setFiles("#file-input", []string{path})
	p.waitForWithin("a first chunk stored", `__tus.some(x => x.m === "PATCH" && x.status === 204)`, time.Minute)
	p.network(true, uploadRate)
	p.waitForWithin("a chunk failed", `__tus.some(x => x.m === "PATCH" && x.status === 0)`, time.Minute)
	p.waitFor("the drop shown", `document.querySelector("#up-list li .meta").textContent.startsWith("Connection lost")`)
	p.shootBoth(w.shots, "upload-offline")
	p.network(false, uploadRate)
	// The reload comes while a PATCH after the drop is under way, a MiB
	// or more into its chunk.
	p.waitForWithin("the upload going on", `(() => {
		const c = __tus.slice(__tus.findIndex(x => x.status === 0) + 1).find(x => x.m === "PATCH" && x.status === null);
		return !!c && document.querySelector("#up-list li progress").value > c.off + (1 << 20); })()`, time.Minute)
	var before []tusCall
	p.eval(`__tus`, &before)

	p.open("the folder again", w.in.URL+"/files/data/", `rowNames().includes("picture.png")`)
	// Another request holds the upload (as one cut off a moment ago that
	// the server is still finishing), longer than the page's HEAD waits:
	// the page is answered 423, waits and goes on.
	release := w.holdUpload(t, before[len(before)-1].U, path)
	p.setFiles("#file-input", []string{path})
	p.waitForWithin("the page told the upload is busy", `__tus.some(x => x.m === "HEAD" && x.status === 423)`, time.Minute)
	release()
	p.waitForWithin("the upload done", `!!document.querySelector("#up-list li.done")`, 3*time.Minute)
	var after []tusCall
	p.eval(`__tus`, &after)
	t.Logf("tus requests before the reload: %v; after: %v", tusCalls(before), tusCalls(after))
	if i := slices.IndexFunc(after, func(c tusCall) bool { return c.M == "PATCH" }); i < 0 || after[i].Off == nil || *after[i].Off == 0 ||
		slices.ContainsFunc(after, func(c tusCall) bool { return c.M == "POST" }) {
		t.Errorf("after the reload the upload did not go on from the server's offset: %v", tusCalls(after))
	}
	if got, n := smbSum(t, w.data, "big video.bin"); got != sum || n != bigUpload {
		t.Errorf("the big file over SMB: %d bytes, sha256 %s; want %d bytes, %s", n, got, bigUpload, sum)
	}
	if temps := smbTemps(t, w.data, "."); len(temps) > 0 {
		t.Errorf("temporary files left on the share: %q", temps)
	}
	var left int
	p.eval(`Object.keys(localStorage).filter(k => k.startsWith("davgate.tus")).length`, &left)
	if left != 0 {
		t.Errorf("%d upload URLs left in localStorage", left)
	}
	p.eval(`document.querySelector("#up-close").click()`, nil)
}

// cancelReplace starts an upload that replaces "big video.bin" and
// cancels it half-way: the file on the share stays as it was, and the
// upload's temporary file goes. Then one cancelled before the server has
// answered its creation: nothing of it stays either.
func (w *webEnv) cancelReplace(t *testing.T) {
	p := w.p
	path := filepath.Join(t.TempDir(), "big video.bin")
	randomFile(t, path, 64<<20)
	p.network(false, uploadRate)
	defer p.network(false, -1)
	p.eval(`__tus.length = 0`, nil)
	p.setFiles("#file-input", []string{path})
	p.waitFor("the question", `document.querySelector("#ask").open && document.querySelector("#ask-title").textContent === "Replace files?"`)
	p.eval(`document.querySelector("#ask-ok").click()`, nil)
	p.waitForWithin("a first chunk stored", `__tus.some(x => x.m === "PATCH" && x.status === 204)`, time.Minute)
	p.eval(`document.querySelector("#up-list li button").click()`, nil)
	p.waitFor("the upload cancelled", `document.querySelector("#up-list li.cancelled .meta")?.textContent === "Cancelled"`)
	w.noTemps(t, 20*time.Second)
	if got, n := smbSum(t, w.data, "big video.bin"); got != w.bigSum || n != bigUpload {
		t.Errorf("a cancelled upload changed the file it was to replace: %d bytes", n)
	}
	p.eval(`document.querySelector("#up-close").click()`, nil)

	// Cancelled while the server makes the upload (the answer slow to
	// come back): the upload it made is ended too.
	path = filepath.Join(t.TempDir(), "new.bin")
	randomFile(t, path, 9<<20)
	p.networkLatency(false, uploadRate, 2*time.Second)
	p.eval(`__tus.length = 0`, nil)
	p.setFiles("#file-input", []string{path})
	p.waitFor("the upload being made", `__tus.some(x => x.m === "POST" && x.status === null) && !!document.querySelector("#up-list li button")`)
	p.eval(`document.querySelector("#up-list li button").click()`, nil)
	p.waitFor("the upload cancelled", `document.querySelector("#up-list li.cancelled .meta")?.textContent === "Cancelled"`)
	w.noTemps(t, 15*time.Second)
	if _, err := w.data.Stat("new.bin"); err == nil {
		t.Errorf("a cancelled upload landed")
	}
	p.eval(`document.querySelector("#up-close").click()`, nil)
}

// noTemps waits for the share's top folder to hold no temporary file.
func (w *webEnv) noTemps(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for len(smbTemps(t, w.data, ".")) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if temps := smbTemps(t, w.data, "."); len(temps) > 0 {
		var calls []tusCall
		w.p.eval(`__tus`, &calls)
		t.Errorf("a cancelled upload left %q; the page's tus requests: %v", temps, tusCalls(calls))
	}
}

// downloadOne downloads a file whose name has accents, a space and a #:
// it is saved under its own name, with its bytes.
func (w *webEnv) downloadOne(t *testing.T) {
	p := w.p
	p.selectRows("loose.txt")
	p.eval(`document.querySelector("#download").click()`, nil)
	if b := waitDownload(t, w.dl, "loose.txt"); string(b) != "loose\n" {
		t.Errorf("loose.txt downloaded as %q", b)
	}
	p.selectRows("résumé ü #1.txt")
	p.eval(`document.querySelector("#download").click()`, nil)
	if b := waitDownload(t, w.dl, "résumé ü #1.txt"); string(b) != "Grüße, Welt\n" {
		t.Errorf("résumé ü #1.txt downloaded as %q", b)
	}
	p.selectRows()
}

// holdUpload starts a PATCH of the tus upload at loc (with the file's
// right bytes at the upload's offset) whose body stalls until release.
func (w *webEnv) holdUpload(t *testing.T, loc, path string) (release func()) {
	t.Helper()
	c := client{t: t, base: ""}
	resp, _ := c.do("HEAD", loc, nil, bearer(w.token), "Tus-Resumable", "1.0.0")
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("HEAD of the page's upload = %d, offset %q", resp.StatusCode, resp.Header.Get("Upload-Offset"))
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head := make([]byte, 4096)
	if _, err := f.ReadAt(head, off); err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	req, err := http.NewRequest("PATCH", loc, pr)
	if err != nil {
		t.Fatal(err)
	}
	bearer(w.token)(req)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	req.Header.Set("Upload-Offset", strconv.FormatInt(off, 10))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	if _, err := pw.Write(head); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			pw.CloseWithError(errors.New("cut off by the test"))
			<-done
		})
	}
	t.Cleanup(release)
	return release
}

// zipFolder downloads the dropped folder as one zip and compares it.
func (w *webEnv) zipFolder(t *testing.T) {
	p := w.p
	p.selectRows("Fotos 2026")
	p.eval(`document.querySelector("#download").click()`, nil)
	b := waitDownload(t, w.dl, "Fotos 2026.zip")
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("the downloaded zip: %v", err)
	}
	got, want := map[string]string{}, map[string]string{"Fotos 2026/empty/": "", "Fotos 2026/sub/": "", "Fotos 2026/sub/deeper/": "", "Fotos 2026/": ""}
	for name, b := range w.dropped {
		if strings.HasPrefix(name, "Fotos 2026/") {
			want[name] = string(b)
		}
	}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatalf("zip entry %s: %v", f.Name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("zip entry %s: %v", f.Name, err)
		}
		got[f.Name] = string(b)
	}
	for name, b := range want {
		if g, ok := got[name]; !ok || g != b {
			t.Errorf("zip entry %q: present %v, %d bytes; want %d bytes", name, ok, len(g), len(b))
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("zip holds %q, which is not in the folder", name)
		}
	}
	p.selectRows()
}

// previewPDF opens a PDF: it shows in a frame of a blob: copy, without
// breaking the page's CSP.
func (w *webEnv) previewPDF(t *testing.T) {
	p := w.p
	p.eval(`row("guide.pdf").querySelector("a.name").click()`, nil)
	p.waitFor("the PDF in a frame", `(() => { const f = document.querySelector("#preview[open] #preview-body iframe.pdf");
		return !!f && f.src.startsWith("blob:") && f.getBoundingClientRect().height > 200; })()`)
	time.Sleep(time.Second) // let the viewer load; a CSP refusal would show in __problems
	p.shootBoth(w.shots, "preview-pdf")
	p.checkNoPageErrors()
	p.eval(`document.querySelector("#preview-close").click()`, nil)
}

// deviceToken creates a token on the Devices page, copies it, uses it
// over WebDAV, revokes it on the page and sees WebDAV refuse it.
func (w *webEnv) deviceToken(t *testing.T, c client) {
	p := w.p
	p.open("the Devices page", w.in.URL+"/devices", `!!document.querySelector("#session-rows tr")`)
	var from string
	p.eval(`document.querySelector("#session-rows tr td[data-label=From]").textContent`, &from)
	if from != "127.0.0.1" {
		t.Errorf("the Devices page shows this browser's session used from %q, want 127.0.0.1", from)
	}
	p.eval(`document.querySelector("#device-label").value = "Work laptop"; document.querySelector("#new-device").requestSubmit()`, nil)
	p.waitFor("the token or an error", `!document.querySelector("#token-box").hidden || !document.querySelector("#alert").hidden`)
	var got struct{ Token, Alert, Howto string }
	p.eval(`({Token: document.querySelector("#token").textContent, Alert: document.querySelector("#alert").textContent,
		Howto: document.querySelector("#howto").textContent})`, &got)
	if got.Token == "" {
		t.Fatalf("no token shown: %q", got.Alert)
	}
	for _, want := range []string{w.in.URL + "/dav/data/", "rclone config create davgate webdav", "FileSizeLimitInBytes", "/etc/davfs2/secrets", "dav://127.0.0.1"} {
		if !strings.Contains(got.Howto, want) {
			t.Errorf("instructions lack %q", want)
		}
	}
	granted := p.call("Browser.grantPermissions", map[string]any{
		"permissions": []string{"clipboardReadWrite", "clipboardSanitizedWrite"}, "origin": w.in.URL}, nil)
	t.Logf("clipboard permission: %v", granted)
	p.click("#copy-token")
	p.waitFor("the copy confirmed", `document.querySelector("#copied").textContent === "Copied."`)
	if granted == nil {
		var clip string
		p.eval(`navigator.clipboard.readText()`, &clip)
		if clip != got.Token {
			t.Errorf("the clipboard holds %q, not the token", clip)
		}
	}
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, basic("dgalice", got.Token), "Depth", "0"); resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("new token over WebDAV = %d, want 207", resp.StatusCode)
	}
	p.eval(`document.querySelectorAll(".platforms details").forEach(d => d.open = true)`, nil)
	p.shootBoth(w.shots, "devices-token")
	p.eval(`document.querySelectorAll(".platforms details").forEach(d => d.open = false)`, nil)

	const laptop = `[...document.querySelectorAll("#session-rows tr")].find(r => r.cells[0].textContent.startsWith("Work laptop"))`
	p.waitFor("the new device listed", "!!"+laptop)
	p.eval(laptop+`.querySelector("button").click()`, nil)
	p.waitFor("the confirmation", `document.querySelector("#ask").open`)
	p.eval(`document.querySelector("#ask-ok").click()`, nil)
	p.waitFor("the device gone", "!"+laptop)
	if resp, _ := c.do("PROPFIND", "/dav/data/", nil, basic("dgalice", got.Token), "Depth", "0"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("revoked token over WebDAV = %d, want 401", resp.StatusCode)
	}
}

// testPDF is a one-page PDF that says "davgate".
func testPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 300 200] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		"",
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	content := "BT /F1 36 Tf 60 90 Td (davgate) Tj ET"
	objs[3] = fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content)
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// keyboardAndThemes works the listing with keys only (arrows move, Space
// selects, F2 renames, Escape closes the dialog), and shows the page in
// the system's dark and light themes.
func (w *webEnv) keyboardAndThemes(t *testing.T) {
	p := w.p
	p.selectRows()
	p.eval(`row("loose.txt").querySelector("a.name").focus()`, nil)
	p.key("ArrowDown")
	p.waitFor("the focus on the next row", `document.activeElement.closest("tr")?.dataset.name === "picture.png"`)
	p.key(" ")
	p.waitFor("the row selected", `row("picture.png").classList.contains("selected") && !document.querySelector("#rename").disabled`)
	p.key("F2")
	p.waitFor("the rename dialog", `document.querySelector("#ask").open && document.querySelector("#ask-title").textContent === 'Rename "picture.png"'`)
	p.key("Escape")
	p.waitFor("the dialog closed", `!document.querySelector("#ask").open && rowNames().includes("picture.png")`)
	p.selectRows()

	for _, theme := range []struct{ scheme, bg string }{{"dark", "rgb(20, 23, 29)"}, {"light", "rgb(246, 247, 249)"}} {
		if err := p.call("Emulation.setEmulatedMedia", map[string]any{
			"features": []map[string]string{{"name": "prefers-color-scheme", "value": theme.scheme}}}, nil); err != nil {
			t.Fatal(err)
		}
		p.waitFor("the "+theme.scheme+" theme", fmt.Sprintf(`getComputedStyle(document.body).backgroundColor === %q`, theme.bg))
		if theme.scheme == "dark" {
			p.shootBoth(w.shots, "files-dark")
		}
	}
}

// key presses and releases a key, as the keyboard does.
func (p *cdpPage) key(name string) {
	p.t.Helper()
	codes := map[string]struct {
		code string
		vk   int
		text string
	}{"ArrowDown": {"ArrowDown", 40, ""}, "ArrowUp": {"ArrowUp", 38, ""}, " ": {"Space", 32, " "},
		"F2": {"F2", 113, ""}, "Escape": {"Escape", 27, ""}, "Enter": {"Enter", 13, "\r"}, "Delete": {"Delete", 46, ""}}
	k, ok := codes[name]
	if !ok {
		p.t.Fatalf("no key %q", name)
	}
	down := map[string]any{"type": "keyDown", "key": name, "code": k.code, "windowsVirtualKeyCode": k.vk}
	if k.text != "" {
		down["text"] = k.text
	}
	for _, ev := range []map[string]any{down, {"type": "keyUp", "key": name, "code": k.code, "windowsVirtualKeyCode": k.vk}} {
		if err := p.call("Input.dispatchKeyEvent", ev, nil); err != nil {
			p.t.Fatalf("key %s: %v", name, err)
		}
	}
}

// phoneLayout checks the toolbar on one row at 1280×800, and the pages
// at 390×844: the toolbar on one row of buttons with names, nothing wider than the screen, an image preview
// that fills it, and the Devices page's actions all in view.
func (w *webEnv) phoneLayout(t *testing.T) {
	p := w.p
	type toolbar struct {
		Rows     int
		Names    []string
		Overflow bool
	}
	const measure = `(() => { const bs = [...document.querySelectorAll("#toolbar button")];
		return {Rows: new Set(bs.map(b => Math.round(b.getBoundingClientRect().top))).size,
			Names: bs.map(b => (b.getAttribute("aria-label") || b.textContent).trim()),
			Overflow: document.documentElement.scrollWidth > innerWidth}; })()`
	var desk toolbar
	p.eval(measure, &desk)
	var filterRow bool
	p.eval(`Math.abs(document.querySelector("#filter").getBoundingClientRect().top - document.querySelector("#upload-files").getBoundingClientRect().top) < 8`, &filterRow)
	if desk.Rows != 1 || desk.Overflow || !filterRow {
		t.Errorf("desktop toolbar: buttons on %d rows, the filter on their row %v, page wider than the screen: %v", desk.Rows, filterRow, desk.Overflow)
	}
	p.viewport(390, 844, true)
	defer p.viewport(1280, 800, false)
	p.selectRows("picture.png")
	var tb toolbar
	p.eval(measure, &tb)
	if tb.Rows != 1 || tb.Overflow {
		t.Errorf("phone toolbar: buttons on %d rows, page wider than the screen: %v", tb.Rows, tb.Overflow)
	}
	if len(tb.Names) != 7 || slices.Contains(tb.Names, "") || len(slices.Compact(slices.Sorted(slices.Values(tb.Names)))) != len(tb.Names) {
		t.Errorf("phone toolbar's accessible names = %q", tb.Names)
	}
	p.shoot(w.shots, "files-phone")
	p.eval(`row("picture.png").querySelector("a.name").click()`, nil)
	p.waitFor("the image preview", `(() => { const i = document.querySelector("#preview[open] #preview-body img"); return i && i.complete && i.naturalWidth === 8; })()`)
	var width float64
	p.eval(`document.querySelector("#preview-body img").getBoundingClientRect().width`, &width)
	if width < 300 {
		t.Errorf("the image preview on a phone is %.0f px wide", width)
	}
	p.shoot(w.shots, "preview-phone")
	p.eval(`document.querySelector("#preview-close").click()`, nil)
	p.selectRows()

	p.open("the Devices page on a phone", w.in.URL+"/devices", `!!document.querySelector("#session-rows tr")`)
	var d struct {
		Clipped  []string
		Overflow bool
	}
	p.eval(`(() => { const wrap = document.querySelector(".table-wrap"), box = wrap.getBoundingClientRect();
		return {Clipped: [...document.querySelectorAll("#session-rows button")].filter(b => { const r = b.getBoundingClientRect();
				return r.left < box.left || r.right > box.right || r.right > innerWidth; }).map(b => b.getAttribute("aria-label")),
			Overflow: wrap.scrollWidth > wrap.clientWidth || document.documentElement.scrollWidth > innerWidth}; })()`, &d)
	if len(d.Clipped) > 0 || d.Overflow {
		t.Errorf("Devices page on a phone: buttons cut off %q, wider than the screen: %v", d.Clipped, d.Overflow)
	}
	p.shoot(w.shots, "devices-phone")
}
