package davfs

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// Real WebDAV clients against davfs over a real smbd (issue 3, "Real
// clients in the tests").

func run(t testing.TB, stdin string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

func writeTree(t testing.TB, dir string) {
	t.Helper()
	files := map[string]int{
		"a.txt":               10,
		"empty":               0,
		"sub/b.bin":           3<<20 + 5,
		"sub/deeper/c.txt":    1234,
		"space name/ü ñ.txt":  77,
		"sub/big.bin":         17 << 20,
		"sub/deeper/.dotfile": 3,
	}
	for name, size := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i*31 + len(name))
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRcloneCopyAndCheck(t *testing.T) {
	testenv.Need(t, "rclone")
	e := newTestEnv(t)
	local := t.TempDir()
	writeTree(t, local)
	env := []string{
		"RCLONE_CONFIG_DAV_TYPE=webdav",
		"RCLONE_CONFIG_DAV_URL=" + e.srv.URL + "/dav/data/",
		"RCLONE_CONFIG_DAV_VENDOR=other",
		"RCLONE_CONFIG=/dev/null",
	}
	run(t, "", env, "rclone", "copy", local, "dav:up")
	run(t, "", env, "rclone", "check", "--download", local, "dav:up")
	back := t.TempDir()
	run(t, "", env, "rclone", "copy", "dav:up", back)
	run(t, "", env, "rclone", "check", "--download", local, back)
	// and the files on the share are the files
	run(t, "", nil, "diff", "-r", local, filepath.Join(e.dir, "up"))
}

func TestCadaverScript(t *testing.T) {
	testenv.Need(t, "cadaver")
	e := newTestEnv(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "in.txt")
	os.WriteFile(src, []byte("cadaver was here\n"), 0o644)
	dst := filepath.Join(dir, "out.txt")
	script := fmt.Sprintf("mkcol sub\ncd sub\nput %s x.txt\nmove x.txt y.txt\ncopy y.txt z.txt\nget z.txt %s\nlock y.txt\nunlock y.txt\npropset y.txt colour blue\npropget y.txt colour\nls\nrm y.txt\nquit\n", src, dst)
	out := run(t, script, []string{"HOME=" + dir}, "cadaver", e.srv.URL+"/dav/data/")
	if b, _ := os.ReadFile(dst); string(b) != "cadaver was here\n" {
		t.Fatalf("cadaver get: %q\n%s", b, out)
	}
	for _, want := range []string{"Locking `y.txt': succeeded", "Unlocking `y.txt': succeeded", "blue", "z.txt"} {
		if !strings.Contains(out, want) {
			t.Errorf("cadaver output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(e.dir, "sub", "y.txt")); !os.IsNotExist(err) {
		t.Errorf("y.txt not removed: %v", err)
	}
}

// A FUSE mount (rclone mount over davfs) used with cp, ls, mv, rm and diff.
func TestFuseMount(t *testing.T) {
	testenv.Need(t, "rclone", "fusermount3")
	if _, err := os.Stat("/dev/fuse"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no /dev/fuse: %v", err)
		}
		t.Skipf("no /dev/fuse: %v", err)
	}
	e := newTestEnv(t)
	mnt := t.TempDir()
	env := []string{
		"RCLONE_CONFIG_DAV_TYPE=webdav",
		"RCLONE_CONFIG_DAV_URL=" + e.srv.URL + "/dav/data/",
		"RCLONE_CONFIG_DAV_VENDOR=other",
		"RCLONE_CONFIG=/dev/null",
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "rclone", "mount", "--vfs-cache-mode", "writes", "--vfs-write-back", "100ms", "--dir-cache-time", "0s",
		"--cache-dir", t.TempDir(), "dav:", mnt)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("fusermount3", "-u", mnt).Run()
		cancel()
		cmd.Wait()
	})
	waitFor(t, func() bool {
		b, _ := os.ReadFile("/proc/self/mounts")
		return strings.Contains(string(b), mnt)
	})
	local := t.TempDir()
	writeTree(t, local)
	run(t, "", nil, "cp", "-r", local+"/.", filepath.Join(mnt, "tree"))
	run(t, "", nil, "diff", "-r", local, filepath.Join(mnt, "tree"))
	if ls := run(t, "", nil, "ls", filepath.Join(mnt, "tree")); !strings.Contains(ls, "a.txt") || !strings.Contains(ls, "space name") {
		t.Fatalf("ls: %s", ls)
	}
	run(t, "", nil, "mv", filepath.Join(mnt, "tree", "a.txt"), filepath.Join(mnt, "tree", "sub", "moved.txt"))
	run(t, "", nil, "rm", "-r", filepath.Join(mnt, "tree", "space name"))
	os.Rename(filepath.Join(local, "a.txt"), filepath.Join(local, "sub", "moved.txt"))
	os.RemoveAll(filepath.Join(local, "space name"))
	// rclone's write-back cache uploads after close; wait for the share
	waitFor(t, func() bool {
		return exec.Command("diff", "-r", local, filepath.Join(e.dir, "tree")).Run() == nil
	})
	if t.Failed() {
		t.Logf("rclone mount:\n%s", out.String())
	}
}
