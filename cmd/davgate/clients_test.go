package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/davgate/davgate/internal/testenv"
)

// Real WebDAV clients against the whole davgate (issue 3, "Real clients in
// the tests"): rclone, cadaver, curl, an rclone FUSE mount, davfs2 and
// GNOME's gvfs (gio, as the Files app uses it), each driven
// as a user would, with alice's device token as the password. Every
// subtest works in its own folder of share "data" and checks what reached
// the SMB server by reading the folder that backs the share.
func TestRealClients(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	ce := &clientEnv{
		fixture: f,
		url:     in.URL,
		token:   client{t: t, base: in.URL}.logon("dgalice", alicePass, http.StatusCreated).Token,
	}
	t.Run("rclone", ce.testRclone)
	t.Run("rclone parallel", ce.testRcloneParallel)
	t.Run("cadaver", ce.testCadaver)
	t.Run("curl", ce.testCurl)
	t.Run("rclone mount", ce.testRcloneMount)
	t.Run("davfs2", ce.testDavfs2)
	t.Run("gvfs", ce.testGvfs)
	t.Run("litmus", ce.testLitmus)
	in.Stop()
	assertNoSecrets(t, in.Log.String(), alicePass, ce.token)
}

// clientEnv is one davgate and a token the clients present.
type clientEnv struct {
	*fixture
	url   string // http://127.0.0.1:PORT
	token string // dgalice's device token
}

// served is the local folder behind /dav/data/<dir>.
func (ce *clientEnv) served(dir string) string {
	return filepath.Join(ce.smbd.SharePath("data"), dir)
}

// tree is a set of files of mixed sizes: empty, small, a few MB; nested
// folders; names with spaces and non-ASCII letters (NFC, as Linux clients
// send them).
var tree = []struct {
	name string
	size int
}{
	{"empty.txt", 0},
	{"small.txt", 17},
	{"big file.bin", 5<<20 + 123},
	{"one/two/three/deep.dat", 64 << 10},
	{"one/space name.md", 4096},
	{"naïve café/crème brûlée.txt", 1000},
	{"日本語/ファイル 1.bin", 1<<20 + 1},
	{"Ελληνικά/ü ö ä ß.txt", 333},
}

// writeTree creates tree under dir with deterministic contents.
func writeTree(t *testing.T, dir string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	for _, f := range tree {
		p := filepath.Join(dir, filepath.FromSlash(f.name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := make([]byte, f.size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// digest maps every file below dir to its SHA-256 and every folder to "dir".
func digest(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			m[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m[rel] = hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", dir, err)
	}
	return m
}

// sameTree fails the test when the trees under a and b differ.
func sameTree(t *testing.T, what, a, b string) {
	t.Helper()
	if d := cmp.Diff(digest(t, a), digest(t, b)); d != "" {
		t.Errorf("%s differ (-%s +%s):\n%s", what, a, b, d)
	}
}

// cmdOpts adjusts a command before it runs.
type cmdOpts struct {
	env   []string // added to the environment
	stdin string
	dir   string
}

// command runs a client with a deadline and returns its combined output;
// a failure or a timeout ends the test with the output.
func command(t *testing.T, timeout time.Duration, o cmdOpts, name string, args ...string) string {
	t.Helper()
	out, err := tryCommand(timeout, o, name, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(redact(args), " "), err, out)
	}
	return out
}

func tryCommand(timeout time.Duration, o cmdOpts, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Dir = o.dir
	cmd.Stdin = strings.NewReader(o.stdin)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("%w after %v", ctx.Err(), timeout)
	}
	return string(out), err
}

// redact hides the argument after --webdav-pass in messages.
func redact(args []string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if i > 0 && out[i-1] == "--webdav-pass" {
			out[i] = "***"
		}
	}
	return out
}

// rclone runs rclone with an empty private config and an on-the-fly
// WebDAV remote ":webdav:" pointing at /dav/data/.
type rcloneRunner struct {
	env  []string
	args []string // remote flags
}

func (ce *clientEnv) rclone(t *testing.T) rcloneRunner {
	t.Helper()
	testenv.Need(t, "rclone")
	dir := t.TempDir()
	env := []string{"RCLONE_CONFIG=" + filepath.Join(dir, "rclone.conf"), "XDG_CACHE_HOME=" + filepath.Join(dir, "cache")}
	obscured := strings.TrimSpace(command(t, 30*time.Second, cmdOpts{env: env}, "rclone", "obscure", ce.token))
	return rcloneRunner{env: env, args: []string{
		"--webdav-url", ce.url + "/dav/data/", "--webdav-user", "dgalice", "--webdav-pass", obscured,
		"--webdav-vendor", "other", "--cache-dir", filepath.Join(dir, "cache"),
	}}
}

func (r rcloneRunner) run(t *testing.T, timeout time.Duration, args ...string) string {
	t.Helper()
	return command(t, timeout, cmdOpts{env: r.env}, "rclone", append(args, r.args...)...)
}

// rclone copies a tree up to davgate and back down; rclone check compares
// the contents byte by byte, and the share holds exactly the tree.
func (ce *clientEnv) testRclone(t *testing.T) {
	rc := ce.rclone(t)
	up, down := t.TempDir(), t.TempDir()
	writeTree(t, up)
	rc.run(t, 2*time.Minute, "copy", up, ":webdav:rclone tree")
	sameTree(t, "local tree and the share", up, ce.served("rclone tree"))
	rc.run(t, 2*time.Minute, "copy", ":webdav:rclone tree", down)
	sameTree(t, "uploaded and downloaded trees", up, down)
	rc.run(t, 2*time.Minute, "check", "--download", up, ":webdav:rclone tree")

	// A second copy finds nothing to do; a changed file is sent again.
	if out := rc.run(t, 2*time.Minute, "copy", "-v", up, ":webdav:rclone tree"); !strings.Contains(out, "There was nothing to transfer") {
		t.Errorf("a second rclone copy transferred something:\n%s", out)
	}
	os.WriteFile(filepath.Join(up, "small.txt"), []byte("changed, longer than before"), 0o644)
	rc.run(t, 2*time.Minute, "copy", up, ":webdav:rclone tree")
	rc.run(t, 2*time.Minute, "check", "--download", up, ":webdav:rclone tree")
	sameTree(t, "changed tree and the share", up, ce.served("rclone tree"))

	// Given only the server's address, rclone finds the shares under it
	// (a connection string's url wins over --webdav-url).
	root := ":webdav,url='" + ce.url + "/':"
	if out := rc.run(t, time.Minute, "lsf", "-R", "--max-depth", "2", root); !slices.Contains(strings.Split(out, "\n"), "dav/") || !strings.Contains(out, "\ndav/data/\n") {
		t.Errorf("rclone lsf of the server's root: %q lacks dav/ and dav/data/", out)
	}
	if out := rc.run(t, time.Minute, "lsf", root+"dav/data"); !strings.Contains(out, "rclone tree/\n") {
		t.Errorf("rclone lsf of dav/data from the server's root: %q lacks rclone tree/", out)
	}

	// Listing, moving and deleting through the remote.
	if out := rc.run(t, time.Minute, "lsf", "-R", ":webdav:rclone tree"); !strings.Contains(out, "日本語/ファイル 1.bin") {
		t.Errorf("rclone lsf -R: %q lacks a non-ASCII name", out)
	}
	rc.run(t, time.Minute, "moveto", ":webdav:rclone tree/big file.bin", ":webdav:rclone tree/naïve café/big moved.bin")
	rc.run(t, time.Minute, "purge", ":webdav:rclone tree/one")
	os.Rename(filepath.Join(up, "big file.bin"), filepath.Join(up, "naïve café", "big moved.bin"))
	os.RemoveAll(filepath.Join(up, "one"))
	sameTree(t, "tree after move and purge and the share", up, ce.served("rclone tree"))
}

// rclone with 16 transfers at once on a folder of small files, up and
// down: many requests of one session at the same time, as file managers
// send them.
func (ce *clientEnv) testRcloneParallel(t *testing.T) {
	rc := ce.rclone(t)
	up, down := t.TempDir(), t.TempDir()
	for i := range 200 {
		b := bytes.Repeat([]byte{byte(i)}, 4096+i)
		if err := os.WriteFile(filepath.Join(up, fmt.Sprintf("file %03d.txt", i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	parallel := []string{"--transfers", "16", "--checkers", "16", "--retries", "1", "--low-level-retries", "1"}
	rc.run(t, 2*time.Minute, append([]string{"copy", up, ":webdav:parallel"}, parallel...)...)
	sameTree(t, "local folder and the share", up, ce.served("parallel"))
	rc.run(t, 2*time.Minute, append([]string{"copy", ":webdav:parallel", down}, parallel...)...)
	sameTree(t, "uploaded and downloaded folders", up, down)
}

// cadaver, scripted on its standard input, with the token in ~/.netrc.
func (ce *clientEnv) testCadaver(t *testing.T) {
	testenv.Need(t, "cadaver")
	home, work := t.TempDir(), t.TempDir()
	netrc := fmt.Sprintf("machine 127.0.0.1\nlogin dgalice\npassword %s\n", ce.token)
	if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte(netrc), 0o600); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("cadaver "), 300<<10) // 2.4 MB
	os.WriteFile(filepath.Join(work, "big.bin"), big, 0o644)
	os.WriteFile(filepath.Join(work, "note é.txt"), []byte("a note from cadaver\n"), 0o644)
	script := `mkcol cadaver
cd cadaver
mkcol sub
put big.bin
put "note é.txt" "sub/note é.txt"
copy big.bin copy.bin
move big.bin "sub/big moved.bin"
get "sub/big moved.bin" back.bin
get "sub/note é.txt" back.txt
propset copy.bin color blue
propget copy.bin color
lock copy.bin
unlock copy.bin
delete copy.bin
mkcol gone
rmcol gone
ls sub
quit
`
	out := command(t, 2*time.Minute, cmdOpts{env: []string{"HOME=" + home}, stdin: script, dir: work},
		"cadaver", ce.url+"/dav/data/")
	if strings.Contains(out, "failed") || strings.Contains(out, "rror") || strings.Count(out, "succeeded.") != 15 {
		t.Errorf("cadaver reported a failure (want 15 commands succeeded):\n%s", out)
	}
	if !strings.Contains(out, "blue") {
		t.Errorf("propget did not show the property set by propset:\n%s", out)
	}
	if b, err := os.ReadFile(filepath.Join(work, "back.bin")); err != nil || !bytes.Equal(b, big) {
		t.Errorf("cadaver get of the moved file: %d bytes, %v; want %d bytes as sent", len(b), err, len(big))
	}
	if b, err := os.ReadFile(filepath.Join(work, "back.txt")); err != nil || string(b) != "a note from cadaver\n" {
		t.Errorf("cadaver get of the note: %q, %v", b, err)
	}
	want := map[string]string{
		"sub":               "dir",
		"sub/big moved.bin": digestOf(big),
		"sub/note é.txt":    digestOf([]byte("a note from cadaver\n")),
	}
	if d := cmp.Diff(want, digest(t, ce.served("cadaver"))); d != "" {
		t.Errorf("share after the cadaver script (-want +got):\n%s\ncadaver said:\n%s", d, out)
	}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// curl: PUT (new, replaced, chunked, with Expect: 100-continue), GET with
// Range, PROPFIND, MOVE, If-None-Match: * on an existing file, DELETE.
func (ce *clientEnv) testCurl(t *testing.T) {
	testenv.Need(t, "curl")
	work := t.TempDir()
	base := ce.url + "/dav/data/curl/"
	body := bytes.Repeat([]byte("0123456789"), 200<<10) // 2 MB: curl sends Expect: 100-continue
	os.WriteFile(filepath.Join(work, "up.bin"), body, 0o644)
	os.WriteFile(filepath.Join(work, "small.txt"), []byte("hello from curl\n"), 0o644)
	auth := "Authorization: Bearer " + ce.token
	steps := []struct {
		name   string
		args   []string
		status string
		want   string // substring of the response body
	}{
		{"mkcol", []string{"-X", "MKCOL", base}, "201", ""},
		{"put new", []string{"-T", "up.bin", base + "file%20one.bin"}, "201", ""},
		{"put replaces", []string{"-T", "up.bin", base + "file%20one.bin"}, "204", ""},
		{"put chunked", []string{"-T", "-", "-H", "Transfer-Encoding: chunked", base + "chunked.txt"}, "201", ""},
		{"get chunked upload", []string{base + "chunked.txt"}, "200", "hello from curl"},
		{"get range", []string{"-r", "10-29", base + "file%20one.bin"}, "206", "01234567890123456789"},
		{"get suffix range", []string{"-H", "Range: bytes=-5", base + "file%20one.bin"}, "206", "56789"},
		{"propfind depth 1", []string{"-X", "PROPFIND", "-H", "Depth: 1", base}, "207", "file%20one.bin"},
		{"propfind getetag", []string{"-X", "PROPFIND", "-H", "Depth: 0", "--data", `<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/></prop></propfind>`, base + "file%20one.bin"}, "207", "getetag"},
		{"if-none-match star on existing", []string{"-T", "small.txt", "-H", "If-None-Match: *", base + "file%20one.bin"}, "412", ""},
		{"if-none-match star on new", []string{"-T", "small.txt", "-H", "If-None-Match: *", base + "%C3%A9t%C3%A9.txt"}, "201", ""},
		{"move", []string{"-X", "MOVE", "-H", "Destination: " + base + "moved%20file.bin", base + "file%20one.bin"}, "201", ""},
		{"moved source gone", []string{base + "file%20one.bin"}, "404", ""},
		{"head moved", []string{"-I", base + "moved%20file.bin"}, "200", "Content-Length: 2048000"},
		{"delete", []string{"-X", "DELETE", base + "chunked.txt"}, "204", ""},
		{"deleted gone", []string{base + "chunked.txt"}, "404", ""},
	}
	for _, s := range steps {
		args := append([]string{"-sS", "-o", "out", "-D", "headers", "-w", "%{http_code}", "-H", auth}, s.args...)
		status := command(t, time.Minute, cmdOpts{dir: work, stdin: "hello from curl\n"}, "curl", args...)
		resp, _ := os.ReadFile(filepath.Join(work, "out"))
		hdrs, _ := os.ReadFile(filepath.Join(work, "headers"))
		if status != s.status {
			t.Errorf("%s: status %s, want %s\n%s%.300s", s.name, status, s.status, hdrs, resp)
			continue
		}
		if s.want != "" && !strings.Contains(string(resp), s.want) && !strings.Contains(string(hdrs), s.want) {
			t.Errorf("%s: response lacks %q:\n%s%.300s", s.name, s.want, hdrs, resp)
		}
	}
	want := map[string]string{
		"moved file.bin": digestOf(body),
		"été.txt":        digestOf([]byte("hello from curl\n")),
	}
	if d := cmp.Diff(want, digest(t, ce.served("curl"))); d != "" {
		t.Errorf("share after curl (-want +got):\n%s", d)
	}
}

// rclone mount: a FUSE file system over davgate, used with cp, ls, mv, rm
// and diff -r.
func (ce *clientEnv) testRcloneMount(t *testing.T) {
	testenv.Need(t, "fusermount3")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("/dev/fuse is required in CI: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
	rc := ce.rclone(t)
	local, mnt := t.TempDir(), t.TempDir()
	writeTree(t, local)
	rc.run(t, time.Minute, "mkdir", ":webdav:mount")
	mount(t, rc, mnt)

	// sh runs a shell script in the mount point; $0 is its first argument.
	sh := func(script string, args ...string) string {
		t.Helper()
		return command(t, 2*time.Minute, cmdOpts{dir: mnt}, "sh", append([]string{"-euc", script}, args...)...)
	}
	sh(`cp -r "$0"/. .`, local)
	if out := sh(`ls -R`); !strings.Contains(out, "ファイル 1.bin") || !strings.Contains(out, "big file.bin") {
		t.Errorf("ls -R on the mount:\n%s", out)
	}
	sh(`diff -r "$0" .`, local)

	// mv, rm and an append on both sides, then compare again through the
	// mount.
	sh(`mv "big file.bin" "naïve café/big moved.bin" && mv one "one renamed" && rm "Ελληνικά/ü ö ä ß.txt" && rmdir Ελληνικά && echo more >> small.txt`)
	command(t, time.Minute, cmdOpts{dir: local}, "sh", "-euc", `echo more >> small.txt`)
	os.Rename(filepath.Join(local, "big file.bin"), filepath.Join(local, "naïve café", "big moved.bin"))
	os.Rename(filepath.Join(local, "one"), filepath.Join(local, "one renamed"))
	os.RemoveAll(filepath.Join(local, "Ελληνικά"))
	sh(`diff -r "$0" .`, local)

	// The uploads reach the server once rclone has written them back.
	deadline := time.Now().Add(time.Minute)
	for {
		if d := cmp.Diff(digest(t, local), digest(t, ce.served("mount"))); d == "" {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("share after the mount's write-back (-local +share):\n%s", d)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// mount runs `rclone mount` over /dav/data/mount at mnt in the background
// until the test ends, and waits until the mount point is served.
func mount(t *testing.T, rc rcloneRunner, mnt string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	args := append([]string{"mount", ":webdav:mount", mnt, "--vfs-cache-mode", "writes", "--vfs-write-back", "0s",
		"--dir-cache-time", "1s", "--poll-interval", "0", "-v"}, rc.args...)
	cmd := exec.CommandContext(ctx, "rclone", args...)
	cmd.Env = append(os.Environ(), rc.env...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM} // unmounts
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("rclone mount: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		if t.Failed() {
			defer func() { t.Logf("rclone mount said:\n%s", out.String()) }()
		}
		if o, err := tryCommand(15*time.Second, cmdOpts{}, "fusermount3", "-u", mnt); err != nil && mounted(mnt) {
			t.Errorf("fusermount3 -u %s: %v\n%s", mnt, err, o)
			tryCommand(15*time.Second, cmdOpts{}, "fusermount3", "-uz", mnt)
		}
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cancel()
			<-exited
		}
		cancel()
	})
	deadline := time.Now().Add(20 * time.Second)
	for !mounted(mnt) {
		select {
		case <-exited:
			t.Fatalf("rclone mount exited:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rclone mount did not mount %s in 20s:\n%s", mnt, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mounted reports whether a FUSE file system is mounted at dir.
func mounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir && strings.Contains(line, "fuse") {
			return true
		}
	}
	return false
}

// davfs2 mounts /dav/data/davfs2 with the kernel's FUSE and works on it with
// cat, cp, mv, rm, mkdir, rmdir and an append; unmounting uploads what
// davfs2 cached, and the share then holds exactly the local tree.
//
// Directory listings are not used: davfs2 1.6.1's readdir fails with
// EINVAL in this sandbox whatever the server (rclone serve webdav too).
func (ce *clientEnv) testDavfs2(t *testing.T) {
	testenv.Need(t, "mount.davfs")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("/dev/fuse is required in CI: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
	dir, local, mnt := t.TempDir(), t.TempDir(), t.TempDir()
	url := ce.url + "/dav/data/davfs2/"
	testenv.WritableDir(t, ce.served("davfs2"))
	if err := os.WriteFile(ce.served("davfs2/on-server.txt"), []byte("from the server\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets")
	if err := os.WriteFile(secrets, []byte(url+" dgalice "+ce.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// mount.davfs keeps its cache as user davfs2, who cannot enter the
	// test's 0700 temporary directories.
	cache, err := os.MkdirTemp("", "davgate-davfs2-cache-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(cache) })
	os.Chmod(cache, 0o777)
	conf := filepath.Join(dir, "davfs2.conf")
	if err := os.WriteFile(conf, []byte("secrets "+secrets+"\ncache_dir "+cache+"\nuse_locks 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	command(t, time.Minute, cmdOpts{}, "mount", "-t", "davfs", url, mnt, "-o", "conf="+conf)
	unmounted := false
	unmount := func() {
		if !unmounted {
			unmounted = true
			command(t, 2*time.Minute, cmdOpts{}, "umount", mnt)
		}
	}
	t.Cleanup(func() {
		if !unmounted && mounted(mnt) {
			tryCommand(2*time.Minute, cmdOpts{}, "umount", mnt)
		}
	})

	if b, err := os.ReadFile(filepath.Join(mnt, "on-server.txt")); err != nil || string(b) != "from the server\n" {
		t.Fatalf("read through davfs2 = %q, %v", b, err)
	}
	writeTree(t, local)
	sh := func(script string, args ...string) {
		t.Helper()
		command(t, 2*time.Minute, cmdOpts{dir: mnt}, "sh", append([]string{"-euc", script}, args...)...)
	}
	sh(`cp -r "$0"/. .`, local)
	sh(`mv "big file.bin" "naïve café/big moved.bin" && rm "Ελληνικά/ü ö ä ß.txt" && rmdir Ελληνικά && echo more >> small.txt && mkdir made && rm on-server.txt`)
	for _, step := range []func() error{
		func() error {
			return os.Rename(filepath.Join(local, "big file.bin"), filepath.Join(local, "naïve café", "big moved.bin"))
		},
		func() error { return os.RemoveAll(filepath.Join(local, "Ελληνικά")) },
		func() error { return os.Mkdir(filepath.Join(local, "made"), 0o755) },
		func() error {
			f, err := os.OpenFile(filepath.Join(local, "small.txt"), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = f.WriteString("more\n")
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	unmount() // uploads what davfs2 still caches
	if d := cmp.Diff(digest(t, local), digest(t, ce.served("davfs2"))); d != "" {
		t.Errorf("share after davfs2 (-local +share):\n%s", d)
	}
	if _, err := os.Stat(filepath.Join(ce.served("davfs2"), "made")); err != nil {
		t.Errorf("mkdir through davfs2: %v", err)
	}
}

// testGvfs drives GNOME's gvfs the way the Files app does, through gio in a
// private D-Bus session: mount with the token as password, make a folder,
// upload (a new file, an overwrite), list, read, download, move, delete.
func (ce *clientEnv) testGvfs(t *testing.T) {
	testenv.Need(t, "gio", "dbus-run-session")
	const gvfsd = "/usr/libexec/gvfsd"
	for _, p := range []string{gvfsd, "/usr/libexec/gvfsd-dav"} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is required in CI (packages gvfs-daemons, gvfs-backends): %v", p, err)
			}
			t.Skipf("gvfs not installed: %v", err)
		}
	}
	local := t.TempDir()
	big := bytes.Repeat([]byte("gvfs "), 700<<10) // 3.5 MB: several chunks
	for name, b := range map[string][]byte{"big.bin": big, "note é.txt": []byte("first\n"), "note2.txt": []byte("second version\n")} {
		if err := os.WriteFile(filepath.Join(local, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	root := "dav://dgalice@" + strings.TrimPrefix(ce.url, "http://") + "/dav/data/"
	dir := root + "gvfs/"
	// gvfsd is the session's daemon; gio mount asks for the password on
	// the terminal (here stdin), once.
	script := `set -eu
` + gvfsd + ` --no-fuse & trap 'kill $!' EXIT
sleep 0.5
gio mount "$ROOT" >/dev/null
gio mkdir "$DIR" "$DIR/sub"
gio copy big.bin "note é.txt" "$DIR"
gio copy note2.txt "$DIR/note é.txt"
echo "LIST:"; gio list "$DIR"
echo "CAT:"; gio cat "$DIR/note é.txt"
echo "SIZE:"; gio info -a standard::size "$DIR/big.bin" | grep standard::size
gio copy "$DIR/big.bin" back.bin
gio move "$DIR/big.bin" "$DIR/sub/big moved.bin"
gio copy note2.txt "$DIR/gone.txt"
gio remove "$DIR/gone.txt"
gio mount -u "$ROOT"
echo DONE
`
	out := command(t, 2*time.Minute, cmdOpts{dir: local, stdin: ce.token + "\n", env: []string{"ROOT=" + root, "DIR=" + dir}},
		"dbus-run-session", "--", "bash", "-c", script)
	if !strings.Contains(out, "DONE") {
		t.Fatalf("gio script did not finish:\n%s", out)
	}
	list := out[strings.Index(out, "LIST:"):strings.Index(out, "CAT:")]
	for _, name := range []string{"big.bin", "note é.txt", "sub"} {
		if !strings.Contains(list, name+"\n") {
			t.Errorf("gio list lacks %q:\n%s", name, list)
		}
	}
	if !strings.Contains(out, "CAT:\nsecond version\n") {
		t.Errorf("gio cat after the overwrite did not show the new content:\n%s", out)
	}
	if !strings.Contains(out, fmt.Sprintf("standard::size: %d", len(big))) {
		t.Errorf("gio info size is not %d:\n%s", len(big), out)
	}
	if b, err := os.ReadFile(filepath.Join(local, "back.bin")); err != nil || !bytes.Equal(b, big) {
		t.Errorf("gio download: %d bytes, %v; want %d bytes as sent", len(b), err, len(big))
	}
	want := map[string]string{
		"sub":               "dir",
		"sub/big moved.bin": digestOf(big),
		"note é.txt":        digestOf([]byte("second version\n")),
	}
	if d := cmp.Diff(want, digest(t, ce.served("gvfs"))); d != "" {
		t.Errorf("share after the gio script (-want +got):\n%s\ngio said:\n%s", d, out)
	}
}

// litmus against the whole program, as a user runs it: token
// authentication, the path cleaning and the headers in front of davfs
// included.
func (ce *clientEnv) testLitmus(t *testing.T) {
	testenv.WritableDir(t, ce.served("litmus"))
	testenv.Litmus(t, ce.url+"/dav/data/litmus/", "dgalice", ce.token)
}
