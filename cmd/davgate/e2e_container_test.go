package main

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// containerUID is the non-root user deploy/container's image runs as.
const containerUID = 65532

// The container image that deploy/container/build.sh builds offline (FROM
// scratch) runs davgate with a read-only root file system as a non-root
// user, has no shell, and serves a log-on, a PUT and a GET against the
// test smbd. It runs under runc: podman's default crun cannot run on these
// machines.
func TestContainerImage(t *testing.T) {
	testenv.Need(t, "podman", "runc")
	f := newFixture(t, "memory")
	image := fmt.Sprintf("localhost/davgate:e2e-%d", os.Getpid())
	buildImage(t, image)

	if got := strings.TrimSpace(command(t, time.Minute, cmdOpts{}, "podman", "image", "inspect",
		"--format", "{{.Config.User}}", image)); got != fmt.Sprintf("%d:%d", containerUID, containerUID) {
		t.Errorf("image user = %q, want %d:%d", got, containerUID, containerUID)
	}
	// Nothing in the image but davgate, the CA bundle and the account
	// files: no shell to run anything else with.
	wantFiles := []string{"etc/group", "etc/passwd", "etc/ssl/certs/ca-certificates.crt", "usr/local/bin/davgate"}
	if got := imageFiles(t, image); !slices.Equal(got, wantFiles) {
		t.Errorf("files in the image = %q, want %q", got, wantFiles)
	}
	if out, err := tryCommand(time.Minute, cmdOpts{}, "podman", append(podmanRun("davgate-e2e-sh"),
		"--entrypoint", "/bin/sh", image, "-c", "true")...); err == nil {
		t.Errorf("the image ran /bin/sh: %s", out)
	}

	dir := containerConfig(t, f)
	name := fmt.Sprintf("davgate-e2e-%d", os.Getpid())
	port := testenv.FreePort(t)
	writeContainerYAML(t, dir, port, f)
	command(t, time.Minute, cmdOpts{}, "podman", append(podmanRun(name), "--detach",
		"-v", dir+":/etc/davgate:ro", image, "serve")...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := tryCommand(time.Minute, cmdOpts{}, "podman", "--runtime", "/usr/sbin/runc", "logs", name)
			t.Logf("container log:\n%s", out)
		}
		tryCommand(time.Minute, cmdOpts{}, "podman", "--runtime", "/usr/sbin/runc", "rm", "-f", "-t", "2", name)
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitHealthy(t, base)

	c := client{t: t, base: base}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	content := strings.Repeat("container ", 10000)
	if resp, b := c.do("PUT", "/dav/data/from-container.txt", strings.NewReader(content), bearer(alice.Token)); resp.StatusCode != 201 {
		t.Fatalf("PUT = %d %s", resp.StatusCode, b)
	}
	if resp, b := c.do("GET", "/dav/data/from-container.txt", nil, bearer(alice.Token)); resp.StatusCode != 200 || b != content {
		t.Fatalf("GET = %d, %d bytes, want 200 and %d", resp.StatusCode, len(b), len(content))
	}
	got, err := os.ReadFile(filepath.Join(f.smbd.SharePath("data"), "from-container.txt"))
	if err != nil || string(got) != content {
		t.Fatalf("file on the share: %d bytes, %v", len(got), err)
	}
}

// buildImage runs deploy/container/build.sh and removes the image at the
// end of the test.
func buildImage(t *testing.T, image string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "deploy/container/build.sh", image)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { tryCommand(time.Minute, cmdOpts{}, "podman", "rmi", "-f", image) })
}

// imageFiles lists the regular files in image's root file system.
func imageFiles(t *testing.T, image string) []string {
	t.Helper()
	id := strings.TrimSpace(command(t, time.Minute, cmdOpts{}, "podman", "create", image))
	defer tryCommand(time.Minute, cmdOpts{}, "podman", "rm", id)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exp := exec.CommandContext(ctx, "podman", "export", id)
	out, err := exp.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := exp.Start(); err != nil {
		t.Fatal(err)
	}
	var files []string
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("podman export: %v", err)
		}
		if h.Typeflag != tar.TypeDir {
			files = append(files, strings.TrimPrefix(h.Name, "/"))
		}
	}
	if err := exp.Wait(); err != nil {
		t.Fatalf("podman export: %v", err)
	}
	slices.Sort(files)
	return files
}

// podmanRun is `podman run` as deploy/container documents it: runc, a
// read-only root, the image's user, no capabilities, the host's loopback
// (where the test smbd listens).
func podmanRun(name string) []string {
	return []string{"--runtime", "/usr/sbin/runc", "run", "--rm", "--name", name,
		"--read-only", "--user", fmt.Sprintf("%d:%d", containerUID, containerUID),
		"--cap-drop", "all", "--security-opt", "no-new-privileges",
		"--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096",
		"--network", "host", "--pull", "never"}
}

// containerConfig makes the directory mounted at /etc/davgate: the
// fixture's keyring, given to the container's group read-only.
func containerConfig(t *testing.T, f *fixture) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "davgate-container-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	keys, err := os.ReadFile(filepath.Join(f.dir, "master.keys"))
	if err != nil {
		t.Fatal(err)
	}
	// As Kubernetes mounts the keyring Secret with fsGroup (deploy/k8s):
	// root's file, readable by the container's group only.
	path := filepath.Join(dir, "master.keys")
	if err := os.WriteFile(path, keys, 0o440); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 0, containerUID); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeContainerYAML writes davgate.yaml into dir, naming the paths the
// container sees.
func writeContainerYAML(t *testing.T, dir string, port int, f *fixture) {
	t.Helper()
	cfg := fmt.Sprintf(`listen: 127.0.0.1:%d
master_key_file: /etc/davgate/master.keys
store: memory
auth:
  backend: smb
  smb: {url: "smb://%s/"}
shares:
  - {name: data, url: "%s"}
`, port, f.smbd.Addr(), f.smbd.URL("data"))
	if err := os.WriteFile(filepath.Join(dir, "davgate.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitHealthy waits for base's /healthz to answer 200.
func waitHealthy(t *testing.T, base string) {
	t.Helper()
	waitHealthyPath(t, base, "/healthz")
}

// waitHealthyPath waits for base+path to answer 200.
func waitHealthyPath(t *testing.T, base, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(base + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%s: %v %v", base, path, resp, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
