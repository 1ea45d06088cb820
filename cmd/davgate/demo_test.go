package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// demoScript runs deploy/demo/run.sh from the repository root.
func demoScript(ctx context.Context, env ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "deploy/demo/run.sh")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), env...)
	// Its own process group, as a shell gives a job: Ctrl-C signals the
	// whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Past its deadline the demo gets a Ctrl-C, so that it cleans up.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) }
	cmd.WaitDelay = 30 * time.Second
	return cmd
}

// A port the demo needs that another program holds is reported in plain
// words, naming the variable that picks another, before anything is built
// or started.
func TestDemoPortInUse(t *testing.T) {
	for _, v := range []string{"DEMO_PORT", "SMB_PORT"} {
		t.Run(v, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			taken := ln.Addr().(*net.TCPAddr).Port
			ports := map[string]int{"DEMO_PORT": testenv.FreePort(t), "SMB_PORT": testenv.FreePort(t)}
			ports[v] = taken
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			out, err := demoScript(ctx, fmt.Sprintf("DEMO_PORT=%d", ports["DEMO_PORT"]),
				fmt.Sprintf("SMB_PORT=%d", ports["SMB_PORT"])).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("the demo did not stop within a minute:\n%s", out)
			}
			want := fmt.Sprintf("port %d on 127.0.0.1 is already in use", taken)
			if err == nil || !strings.Contains(string(out), want) || !strings.Contains(string(out), v+"=") {
				t.Errorf("demo with %s taken: %v\n%s\nwant a failure saying %q and naming %s", v, err, out, want, v)
			}
			if strings.Contains(string(out), "building") {
				t.Errorf("the demo went on to build before it checked its ports:\n%s", out)
			}
		})
	}
}

// The demo serves its share with the token it prints, and Ctrl-C stops
// it, removes its state and the demo's Unix account.
func TestDemoInterrupt(t *testing.T) {
	testenv.Need(t, "smbd", "curl", "go")
	if os.Geteuid() != 0 {
		t.Fatalf("the demo runs as root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	port := testenv.FreePort(t)
	cmd := demoScript(ctx, fmt.Sprintf("DEMO_PORT=%d", port), fmt.Sprintf("SMB_PORT=%d", testenv.FreePort(t)))
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { err := cmd.Wait(); pw.Close(); exited <- err }()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	out := &syncBuffer{} // the script's output, read while it is written
	lines := bufio.NewScanner(pr)
	tokenLine := regexp.MustCompile(`device token:\s+(\S+)`)
	var token, state string
	for lines.Scan() {
		out.Write([]byte(lines.Text() + "\n"))
		if m := tokenLine.FindStringSubmatch(lines.Text()); m != nil {
			token = m[1]
		}
		if m := regexp.MustCompile(`(/tmp/davgate-demo\.\w+)/log`).FindStringSubmatch(lines.Text()); m != nil {
			state = m[1]
			break // the last line of the banner that matters
		}
	}
	if token == "" || state == "" {
		t.Fatalf("the demo did not come up:\n%s", out.String())
	}
	if u, err := user.Lookup("davdemo"); err != nil || u.Name != "davgate demo" {
		t.Errorf("demo account: %+v, %v", u, err)
	}
	req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/dav/demo/README.txt", port), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET README.txt with the demo's token: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	copied := make(chan struct{})
	go func() { io.Copy(out, pr); close(copied) }()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // Ctrl-C
	select {
	case <-exited:
		<-copied // the pipe is closed once the script has exited
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo did not stop within 30 s of Ctrl-C:\n%s", out.String())
	}
	_, err := user.Lookup("davdemo")
	switch other := strings.Contains(out.String(), "another demo is running"); {
	case other && err != nil:
		t.Errorf("the demo said it kept davdemo for another demo, but removed it")
	case !other && err == nil:
		t.Errorf("the demo account davdemo is left after Ctrl-C:\n%s", out.String())
	case other:
		t.Logf("another demo runs on this machine: the account stays for it")
	}
	if _, err := os.Stat(state); err == nil {
		t.Errorf("the demo's state %s is left after Ctrl-C", state)
	}
	if _, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		t.Errorf("davgate still listens after Ctrl-C")
	}
}
