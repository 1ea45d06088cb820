package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// The web app in headless Chromium, as a user would use it: log on, open a
// share, upload several files (their bytes checked on the SMB share), make
// a folder, rename, move to another share, delete, preview an image, edit a
// text file; on the Devices page see and revoke a device token, which
// WebDAV then refuses. Every page is screenshotted at desktop and phone
// sizes, and no page breaks its Content-Security-Policy.
func TestWebAppChromium(t *testing.T) {
	testenv.Need(t, "chromium")
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	dev := c.logon("dgalice", alicePass, http.StatusCreated)
	put := func(t *testing.T, name string, body []byte) {
		t.Helper()
		c := client{t: t, base: in.URL}
		if resp, b := c.do("PUT", "/dav/data/"+url.PathEscape(name), bytes.NewReader(body), bearer(dev.Token)); resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PUT %s = %d %s", name, resp.StatusCode, b)
		}
	}
	put(t, "picture.png", testPNG(t))
	put(t, "notes.txt", []byte("first line\n"))
	put(t, "guide.pdf", testPDF())
	dataDir := f.smbd.SharePath("data")
	shots := screenshotDir(t)
	w := &webEnv{in: in, f: f, shots: shots, data: smbShare(t, f.smbd, "dgalice", alicePass, "data"), token: dev.Token}

	p := startChromium(t)
	w.p = p
	p.watchPageErrors()
	p.allowDownloads(w.downloads(t))
	p.viewport(1280, 800, false)
	p.open("the log-on page", in.URL+"/login", `location.pathname === "/login"`)
	p.shootBoth(shots, "login")
	p.act("log on", fillAndSubmit("dgalice", alicePass), `location.pathname === "/" && !!document.querySelector("#shares a")`)
	var shares []string
	p.eval(`Array.from(document.querySelectorAll("#shares a"), a => a.getAttribute("href"))`, &shares)
	if strings.Join(shares, " ") != "/files/data/ /files/home/ /files/private/ /files/missing/" {
		t.Fatalf("shares on the home page = %q", shares)
	}
	p.shootBoth(shots, "home")

	// step runs a subtest that drives the tab.
	step := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			parent := p.t
			p.t = t
			defer func() { p.t = parent }()
			f(t)
		})
	}

	p.eval(`document.querySelector('#shares a[href="/files/data/"]').click()`, nil)
	p.waitFor("the data share's listing", `location.pathname === "/files/data/" && rowNames().includes("picture.png") && rowNames().includes("notes.txt")`)
	p.waitFor("the picture's thumbnail", `(() => { const i = row("picture.png").querySelector("img.thumb"); return i && i.complete && i.naturalWidth === 8; })()`)

	step("upload", func(t *testing.T) {
		files := map[string][]byte{"résumé ü #1.txt": []byte("Grüße, Welt\n"), "b.bin": randomBytes(t, 3<<20+17), "c.txt": []byte("")}
		var paths []string
		src := t.TempDir()
		for name, b := range files {
			path := filepath.Join(src, name)
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			paths = append(paths, path)
		}
		p.setFiles("#file-input", paths)
		p.waitFor("three uploads done", `document.querySelectorAll("#up-list li.done").length === 3`)
		p.waitFor("the uploads listed", `["résumé ü #1.txt", "b.bin", "c.txt"].every(n => rowNames().includes(n))`)
		p.shootBoth(shots, "uploaded")
		for name, want := range files {
			if got, err := os.ReadFile(filepath.Join(dataDir, name)); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s on the share: %d bytes, %v; want the %d bytes uploaded", name, len(got), err, len(want))
			}
		}
		p.eval(`document.querySelector("#up-close").click()`, nil)
	})

	step("upload a folder by drag and drop", func(t *testing.T) { w.folderDrop(t) })
	step("large upload cut off and resumed", func(t *testing.T) { w.resumedUpload(t) })
	step("cancel an upload that replaces a file", func(t *testing.T) { w.cancelReplace(t) })
	step("download a folder as zip", func(t *testing.T) { w.zipFolder(t) })
	step("download a file", func(t *testing.T) { w.downloadOne(t) })

	step("new folder", func(t *testing.T) {
		p.eval(`document.querySelector("#new-folder").click()`, nil)
		p.answer("Reports")
		p.waitFor("the new folder listed", `rowNames().includes("Reports")`)
		if st, err := os.Stat(filepath.Join(dataDir, "Reports")); err != nil || !st.IsDir() {
			t.Errorf("Reports on the share: %v, %v", st, err)
		}
		// The same name again: said in plain words.
		p.eval(`document.querySelector("#new-folder").click()`, nil)
		p.answer("Reports")
		p.waitFor("the error", `!document.querySelector("#alert").hidden`)
		var alert string
		p.eval(`document.querySelector("#alert").textContent`, &alert)
		if alert != `Could not create the folder "Reports": something with that name is already there.` {
			t.Errorf("alert = %q", alert)
		}
	})

	step("rename", func(t *testing.T) {
		p.selectRows("notes.txt")
		p.eval(`document.querySelector("#rename").click()`, nil)
		p.answer("renamed notes.txt")
		p.waitFor("the renamed file", `rowNames().includes("renamed notes.txt") && !rowNames().includes("notes.txt")`)
		if b, err := os.ReadFile(filepath.Join(dataDir, "renamed notes.txt")); err != nil || string(b) != "first line\n" {
			t.Errorf("renamed file on the share = %q, %v", b, err)
		}
	})

	step("move to another share", func(t *testing.T) {
		p.selectRows("renamed notes.txt", "c.txt")
		p.eval(`document.querySelector("#move").click()`, nil)
		p.eval(`(() => { const s = document.querySelector("#pick-share"); s.value = "home"; s.dispatchEvent(new Event("change")); })()`, nil)
		p.waitFor("the picker on home", `document.querySelector("#pick-crumbs").textContent === "home" && !document.querySelector("#pick-list").textContent.includes("Loading")`)
		p.eval(`document.querySelector("#ask-ok").click()`, nil)
		p.waitFor("the moved files gone", `!rowNames().includes("renamed notes.txt") && !rowNames().includes("c.txt")`)
		home := filepath.Join(f.smbd.SharePath("users"), "dgalice")
		if b, err := os.ReadFile(filepath.Join(home, "renamed notes.txt")); err != nil || string(b) != "first line\n" {
			t.Errorf("moved file in alice's home = %q, %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(dataDir, "renamed notes.txt")); !os.IsNotExist(err) {
			t.Errorf("moved file still on data: %v", err)
		}
	})

	step("delete", func(t *testing.T) {
		p.selectRows("b.bin", "Reports")
		p.eval(`document.querySelector("#delete").click()`, nil)
		p.waitFor("the confirmation", `document.querySelector("#ask").open && document.querySelector("#ask-title").textContent === "Delete 2 items?"`)
		p.eval(`document.querySelector("#ask-ok").click()`, nil)
		p.waitFor("the deleted items gone", `!rowNames().includes("b.bin") && !rowNames().includes("Reports")`)
		for _, n := range []string{"b.bin", "Reports"} {
			if _, err := os.Stat(filepath.Join(dataDir, n)); !os.IsNotExist(err) {
				t.Errorf("%s still on the share: %v", n, err)
			}
		}
	})

	step("preview image", func(t *testing.T) {
		p.eval(`row("picture.png").querySelector("a.name").click()`, nil)
		p.waitFor("the image preview", `(() => { const i = document.querySelector("#preview[open] #preview-body img"); return i && i.complete && i.naturalWidth === 8; })()`)
		p.shootBoth(shots, "preview")
		p.eval(`document.querySelector("#preview-close").click()`, nil)
	})

	step("preview pdf", func(t *testing.T) { w.previewPDF(t) })

	step("edit text", func(t *testing.T) {
		p.eval(`row("résumé ü #1.txt").querySelector("a.name").click()`, nil)
		p.waitFor("the text preview", `document.querySelector("#preview-body pre")?.textContent === "Grüße, Welt\n" && !document.querySelector("#preview-edit").hidden`)
		p.eval(`document.querySelector("#preview-edit").click(); document.querySelector("#preview-body textarea").value = "edited ✓\n"; document.querySelector("#preview-save").click()`, nil)
		p.waitFor("saved", `document.querySelector("#preview-save").textContent === "Saved"`)
		if b, err := os.ReadFile(filepath.Join(dataDir, "résumé ü #1.txt")); err != nil || string(b) != "edited ✓\n" {
			t.Errorf("edited file on the share = %q, %v", b, err)
		}
		// Changed behind the editor's back: the save is refused (If-Match).
		put(t, "résumé ü #1.txt", []byte("changed elsewhere\n"))
		p.eval(`document.querySelector("#preview-body textarea").value = "mine"; document.querySelector("#preview-save").click()`, nil)
		p.waitFor("the refusal", `document.querySelector("#preview-body .alert")?.textContent.includes("changed since you opened it")`)
		if b, _ := os.ReadFile(filepath.Join(dataDir, "résumé ü #1.txt")); string(b) != "changed elsewhere\n" {
			t.Errorf("a stale save replaced the file: %q", b)
		}
		p.eval(`document.querySelector("#preview-close").click()`, nil)
	})

	step("no permission", func(t *testing.T) {
		p.eval(`document.querySelector('#shares a[href="/files/private/"]').click()`, nil)
		p.waitFor("the error", `!document.querySelector("#alert").hidden`)
		var alert string
		p.eval(`document.querySelector("#alert").textContent`, &alert)
		if alert != `Could not open "private": you do not have permission to do that.` {
			t.Errorf("alert = %q", alert)
		}
		p.eval(`document.querySelector('#shares a[href="/files/data/"]').click()`, nil)
		p.waitFor("the data share", `rowNames().includes("picture.png")`)
	})

	step("keyboard and themes", func(t *testing.T) { w.keyboardAndThemes(t) })
	step("phone layout", func(t *testing.T) { w.phoneLayout(t) })

	step("devices", func(t *testing.T) {
		p.open("the Devices page", in.URL+"/devices", `!!document.querySelector("#session-rows tr")`)
		var rows []string
		p.eval(`Array.from(document.querySelectorAll("#session-rows tr"), r => r.dataset.id)`, &rows)
		if !strings.Contains(strings.Join(rows, " "), dev.ID) || len(rows) != 2 {
			t.Fatalf("sessions listed = %q; want the browser's and the device %s", rows, dev.ID)
		}
		p.shootBoth(shots, "devices")
		p.eval(fmt.Sprintf(`document.querySelector('#session-rows tr[data-id="%s"] button').click()`, dev.ID), nil)
		p.waitFor("the confirmation", `document.querySelector("#ask").open`)
		p.eval(`document.querySelector("#ask-ok").click()`, nil)
		p.waitFor("the device gone", fmt.Sprintf(`document.querySelectorAll("#session-rows tr").length === 1 && !document.querySelector('#session-rows tr[data-id="%s"]')`, dev.ID))
		if resp, _ := c.do("PROPFIND", "/dav/data/", nil, basic("dgalice", dev.Token), "Depth", "0"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("revoked token over WebDAV = %d, want 401", resp.StatusCode)
		}
	})

	step("create, copy and revoke a device token", func(t *testing.T) { w.deviceToken(t, c) })

	step("log out everywhere", func(t *testing.T) {
		other := c.logon("dgalice", alicePass, http.StatusCreated)
		p.open("the Devices page", in.URL+"/devices", `!!document.querySelector("#session-rows tr")`)
		p.eval(`document.querySelector("#revoke-all").click()`, nil)
		p.waitFor("the confirmation", `document.querySelector("#ask").open`)
		p.act("confirm", `document.querySelector("#ask-ok").click()`, `location.pathname === "/login"`)
		if resp, _ := c.do("PROPFIND", "/dav/data/", nil, bearer(other.Token), "Depth", "0"); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a token after log out everywhere = %d, want 401", resp.StatusCode)
		}
	})

	p.checkNoPageErrors()
	in.Stop()
	assertNoSecrets(t, in.Log.String(), alicePass, dev.Token)
}

// pageHelpers is installed in every document: the CSP violations and
// script errors the page meets, and short names for the tests' queries.
const pageHelpers = `
window.__problems = [];
document.addEventListener("securitypolicyviolation", e => __problems.push("CSP " + e.violatedDirective + " " + e.blockedURI));
window.addEventListener("error", e => __problems.push("error " + e.message));
window.addEventListener("unhandledrejection", e => __problems.push("rejection " + e.reason));
window.rowNames = () => Array.from(document.querySelectorAll("#rows tr"), r => r.dataset.name);
window.row = n => Array.from(document.querySelectorAll("#rows tr")).find(r => r.dataset.name === n);
// __tus logs the page's tus requests: method, Upload-Offset sent, status
// (0: no answer) and Upload-Offset answered.
window.__tus = [];
(() => {
	const P = XMLHttpRequest.prototype, open = P.open, set = P.setRequestHeader, send = P.send;
	P.open = function (m, u) { this.__log = {m, u: String(u), off: null, status: null, got: null}; return open.apply(this, arguments); };
	P.setRequestHeader = function (k, v) { if (this.__log && k === "Upload-Offset") this.__log.off = Number(v); return set.apply(this, arguments); };
	P.send = function () {
		const l = this.__log;
		if (l && l.u.includes("/api/v1/uploads")) {
			__tus.push(l);
			this.addEventListener("loadend", () => { l.status = this.status; l.got = this.getResponseHeader("Upload-Offset"); });
		}
		return send.apply(this, arguments);
	};
})();
`

// watchPageErrors installs pageHelpers in every document the tab loads.
func (p *cdpPage) watchPageErrors() {
	p.t.Helper()
	if err := p.call("Page.enable", nil, nil); err != nil {
		p.t.Fatal(err)
	}
	if err := p.call("Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": pageHelpers}, nil); err != nil {
		p.t.Fatal(err)
	}
}

// checkNoPageErrors fails the test if the document now open met a CSP
// violation or a script error.
func (p *cdpPage) checkNoPageErrors() {
	p.t.Helper()
	var problems []string
	p.eval(`window.__problems || []`, &problems)
	if len(problems) > 0 {
		p.t.Errorf("the page met: %q", problems)
	}
}

// viewport sets the tab's size; mobile emulates a phone.
func (p *cdpPage) viewport(w, h int, mobile bool) {
	p.t.Helper()
	if err := p.call("Emulation.setDeviceMetricsOverride", map[string]any{
		"width": w, "height": h, "deviceScaleFactor": 1, "mobile": mobile,
	}, nil); err != nil {
		p.t.Fatal(err)
	}
}

// waitFor waits until cond is true in the document now open (for changes
// a page makes without loading another).
func (p *cdpPage) waitFor(what, cond string) {
	p.t.Helper()
	p.waitForWithin(what, cond, pageTimeout)
}

// waitForWithin is waitFor with its own timeout, for long uploads.
func (p *cdpPage) waitForWithin(what, cond string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		var ok bool
		if lastErr = p.evaluate("Boolean("+cond+")", &ok); lastErr == nil && ok {
			p.checkNoPageErrors()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	var now struct{ URL, Text string }
	p.evaluate(`({URL: location.href, Text: document.body ? document.body.innerText : ""})`, &now)
	p.t.Fatalf("%s: %s not true after %v (last error: %v); the tab shows %s: %.600q", what, cond, timeout, lastErr, now.URL, now.Text)
}

// answer fills the ask dialog's input and presses its OK button.
func (p *cdpPage) answer(value string) {
	p.t.Helper()
	p.waitFor("the dialog", `document.querySelector("#ask").open`)
	v, _ := json.Marshal(value)
	p.eval(fmt.Sprintf(`document.querySelector("#ask-input").value = %s; document.querySelector("#ask-ok").click()`, v), nil)
}

// selectRows makes the listing's selection exactly names, clicking
// checkboxes again if the listing is redrawn meanwhile (a reload after an
// action clears the selection).
func (p *cdpPage) selectRows(names ...string) {
	p.t.Helper()
	v, _ := json.Marshal(append([]string{}, names...))
	p.waitFor("the selection "+string(v), fmt.Sprintf(`(() => { const want = %s;
		for (const r of document.querySelectorAll("#rows tr")) {
			const box = r.querySelector("input[type=checkbox]");
			if (box.checked !== want.includes(r.dataset.name)) box.click();
		}
		return want.every(n => row(n)) && document.querySelectorAll("#rows tr.selected").length === want.length; })()`, v))
}

// setFiles puts files on an <input type=file>, as a user picking them does
// (the input fires change).
func (p *cdpPage) setFiles(selector string, paths []string) {
	p.t.Helper()
	var r struct{ Result struct{ ObjectID string } }
	sel, _ := json.Marshal(selector)
	if err := p.call("Runtime.evaluate", map[string]any{"expression": "document.querySelector(" + string(sel) + ")"}, &r); err != nil || r.Result.ObjectID == "" {
		p.t.Fatalf("find %s: %v", selector, err)
	}
	if err := p.call("DOM.setFileInputFiles", map[string]any{"files": paths, "objectId": r.Result.ObjectID}, nil); err != nil {
		p.t.Fatal(err)
	}
}

// shoot screenshots the tab into dir as name.png and checks the PNG.
func (p *cdpPage) shoot(dir, name string) {
	p.t.Helper()
	time.Sleep(150 * time.Millisecond) // let images and layout settle
	checkScreenshot(p.t, p.screenshot(filepath.Join(dir, name+".png")))
}

// shootBoth screenshots the tab at desktop size as name.png and at phone
// size as name-phone.png, and leaves it at desktop size.
func (p *cdpPage) shootBoth(dir, name string) {
	p.t.Helper()
	p.shoot(dir, name)
	p.viewport(390, 844, true)
	p.shoot(dir, name+"-phone")
	p.viewport(1280, 800, false)
}

// screenshotDir is where the screenshots go: DAVGATE_SCREENSHOTS if set
// (to look at them), else a temporary folder.
func screenshotDir(t *testing.T) string {
	if d := os.Getenv("DAVGATE_SCREENSHOTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// testPNG is an 8×8 PNG of colour stripes.
func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 32), uint8(y * 32), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}
