package davfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cloudsoda/go-smb2"
	"github.com/davgate/davgate/internal/smbstatus"
)

// TestErrorTable checks the one table from SMB status to error kind and
// HTTP status (issue 3: not found 404, access denied 403, sharing violation
// 423, disk full or quota 507, bad name 400, directory not empty 409).
func TestErrorTable(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantKind   error
		wantStatus int
	}{
		{"object name not found", &smb2.ResponseError{Code: smbstatus.ObjectNameNotFound}, fs.ErrNotExist, 404},
		{"bare not exist from go-smb2", os.ErrNotExist, fs.ErrNotExist, 404},
		{"path not found", &smb2.ResponseError{Code: smbstatus.ObjectPathNotFound}, fs.ErrNotExist, 404},
		{"not a directory", &smb2.ResponseError{Code: smbstatus.NotADirectory}, fs.ErrNotExist, 404},
		{"name collision", os.ErrExist, fs.ErrExist, 405},
		{"access denied", os.ErrPermission, fs.ErrPermission, 403},
		{"access denied status", &smb2.ResponseError{Code: smbstatus.AccessDenied}, fs.ErrPermission, 403},
		{"sharing violation", &smb2.ResponseError{Code: smbstatus.SharingViolation}, ErrLocked, http.StatusLocked},
		{"file lock conflict", &smb2.ResponseError{Code: smbstatus.FileLockConflict}, ErrLocked, http.StatusLocked},
		{"disk full", &smb2.ResponseError{Code: smbstatus.DiskFull}, ErrNoSpace, http.StatusInsufficientStorage},
		{"quota exceeded", &smb2.ResponseError{Code: smbstatus.DiskQuotaExceeded}, ErrNoSpace, http.StatusInsufficientStorage},
		{"bad name", &smb2.ResponseError{Code: smbstatus.ObjectNameInvalid}, ErrBadName, 400},
		{"name too long", &smb2.ResponseError{Code: smbstatus.NameTooLong}, ErrBadName, 400},
		{"directory not empty", &smb2.ResponseError{Code: smbstatus.DirectoryNotEmpty}, ErrNotEmpty, 409},
		{"is a directory", &smb2.ResponseError{Code: smbstatus.FileIsADirectory}, ErrIsDir, 405},
		{"session deleted", &smb2.ResponseError{Code: smbstatus.UserSessionDeleted}, ErrUnavailable, 503},
		{"transport", &smb2.TransportError{Err: errors.New("EOF")}, ErrUnavailable, 503},
		{"wrapped in path error", &os.PathError{Op: "open", Path: "x", Err: &smb2.ResponseError{Code: smbstatus.SharingViolation}}, ErrLocked, http.StatusLocked},
		{"rename over a file in use", &inUseError{os.ErrPermission}, ErrLocked, http.StatusLocked},
		{"unknown status", &smb2.ResponseError{Code: 0xC0009999}, errUnknown, 500},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), context.Canceled, 500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			detail := mapError("op", "/n", tt.err)
			if detail.Kind != tt.wantKind {
				t.Errorf("kind = %v, want %v", detail.Kind, tt.wantKind)
			}
			if !errors.Is(detail, tt.wantKind) || !errors.Is(detail, tt.err) {
				t.Errorf("detail %v does not wrap both kind and cause", detail)
			}
			if got, _ := httpStatus(detail); got != tt.wantStatus {
				t.Errorf("status = %d, want %d", got, tt.wantStatus)
			}
			if tt.wantKind == fs.ErrNotExist && !errors.Is(detail, fs.ErrNotExist) {
				t.Errorf("errors.Is(fs.ErrNotExist) false for %v", detail)
			}
		})
	}
}

// Access the server denies is 403 whatever the method: a file and a folder
// owned by root in a folder only root may change.
func TestAccessDeniedIs403(t *testing.T) {
	e := newTestEnv(t)
	ro := filepath.Join(e.dir, "ro")
	if err := os.MkdirAll(filepath.Join(ro, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ro, "f.txt"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.expect(t, 201, "PUT", "/dav/data/mine.txt", strings.NewReader("mine"))
	for _, c := range []struct {
		method, path string
		hdr          []string
	}{
		{"DELETE", "/dav/data/ro/f.txt", nil},
		{"DELETE", "/dav/data/ro/sub/", nil},
		{"MKCOL", "/dav/data/ro/new/", nil},
		{"PUT", "/dav/data/ro/f.txt", nil},
		{"MOVE", "/dav/data/mine.txt", []string{"Destination", e.srv.URL + "/dav/data/ro/f.txt"}},
		{"MOVE", "/dav/data/mine.txt", []string{"Destination", e.srv.URL + "/dav/data/ro/g.txt"}},
		{"COPY", "/dav/data/mine.txt", []string{"Destination", e.srv.URL + "/dav/data/ro/g.txt"}},
		{"MOVE", "/dav/data/ro/f.txt", []string{"Destination", e.srv.URL + "/dav/data/moved.txt"}},
	} {
		var body io.Reader
		if c.method == "PUT" {
			body = strings.NewReader("x")
		}
		if resp, _ := e.do(t, c.method, c.path, body, c.hdr...); resp.StatusCode != 403 {
			t.Errorf("%s %s %q = %d, want 403", c.method, c.path, c.hdr, resp.StatusCode)
		}
	}
	// a collection whose members cannot go: 207 naming each (RFC 4918
	// section 9.6.1)
	resp, body := e.do(t, "DELETE", "/dav/data/ro/", nil)
	if resp.StatusCode != 207 || !strings.Contains(body, "<D:href>/dav/data/ro/f.txt</D:href><D:status>HTTP/1.1 403 Forbidden</D:status>") {
		t.Errorf("DELETE ro/ = %d:\n%s", resp.StatusCode, body)
	}
	if got, err := os.ReadFile(filepath.Join(ro, "f.txt")); err != nil || string(got) != "keep" {
		t.Errorf("ro/f.txt = %q, %v", got, err)
	}
	if got := e.expect(t, 200, "GET", "/dav/data/mine.txt", nil); got != "mine" {
		t.Errorf("mine.txt = %q", got)
	}
}

// A COPY onto a full disk is 507, like a PUT, and leaves the source and no
// temporary file behind: a 2.5 MiB tmpfs inside the share holds two copies of
// a 1 MiB file but not three.
func TestCopyOntoFullDisk(t *testing.T) {
	e := newTestEnv(t)
	small := mountTmpfs(t, e.dir, "small", "2560k")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	e.expect(t, 201, "PUT", "/dav/data/small/m1", bytes.NewReader(data))
	e.expect(t, 201, "COPY", "/dav/data/small/m1", nil, "Destination", e.srv.URL+"/dav/data/small/m2")
	resp, body := e.do(t, "COPY", "/dav/data/small/m1", nil, "Destination", e.srv.URL+"/dav/data/small/m3")
	if resp.StatusCode != http.StatusInsufficientStorage {
		t.Errorf("COPY onto a full disk = %s %q, want 507", resp.Status, body)
	}
	if got, err := os.ReadFile(filepath.Join(small, "m1")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("source after the failed COPY: %d bytes, %v", len(got), err)
	}
	if tf := tempFiles(t, small); len(tf) != 0 {
		t.Errorf("temporary files left: %v", tf)
	}
}

// DELETE of a collection removes every member it can and answers 207
// naming only the members that stayed, not their ancestors (RFC 4918
// section 9.6.1).
func TestDeletePartly(t *testing.T) {
	e := newTestEnv(t)
	e.expect(t, 201, "MKCOL", "/dav/data/mixed", nil)
	e.expect(t, 201, "PUT", "/dav/data/mixed/a", strings.NewReader("a"))
	e.expect(t, 201, "PUT", "/dav/data/mixed/z", strings.NewReader("z"))
	sub := filepath.Join(e.dir, "mixed", "sub")
	if err := os.Mkdir(sub, 0o755); err != nil { // root's: the user cannot delete in it
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "x"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, "DELETE", "/dav/data/mixed/", nil)
	if resp.StatusCode != 207 || strings.Count(body, "<D:response>") != 1 ||
		!strings.Contains(body, "<D:href>/dav/data/mixed/sub/x</D:href><D:status>HTTP/1.1 403 Forbidden</D:status>") {
		t.Errorf("DELETE mixed/ = %d:\n%s", resp.StatusCode, body)
	}
	e.expect(t, 404, "GET", "/dav/data/mixed/a", nil)
	e.expect(t, 404, "GET", "/dav/data/mixed/z", nil)
	e.expect(t, 200, "GET", "/dav/data/mixed/sub/x", nil)
}

// A MOVE onto another file system mounted inside the share, which the
// server cannot rename onto (NOT_SAME_DEVICE), is done by copying and then
// removing the source, for a file, a file replacing one, and a folder.
func TestMoveAcrossMountPoint(t *testing.T) {
	e := newTestEnv(t)
	mnt := mountTmpfs(t, e.dir, "mnt", "8m")
	e.expect(t, 201, "PUT", "/dav/data/f.txt", strings.NewReader("file"))
	e.expect(t, 201, "PUT", "/dav/data/g.txt", strings.NewReader("second"))
	e.expect(t, 201, "MKCOL", "/dav/data/dir", nil)
	e.expect(t, 201, "PUT", "/dav/data/dir/in.txt", strings.NewReader("inside"))
	dest := func(p string) []string { return []string{"Destination", e.srv.URL + "/dav/data/mnt/" + p} }
	e.expect(t, 201, "MOVE", "/dav/data/f.txt", nil, dest("f.txt")...)
	e.expect(t, 204, "MOVE", "/dav/data/g.txt", nil, dest("f.txt")...)
	e.expect(t, 201, "MOVE", "/dav/data/dir/", nil, dest("dir/")...)
	for p, want := range map[string]string{"f.txt": "second", "dir/in.txt": "inside"} {
		if got, err := os.ReadFile(filepath.Join(mnt, p)); err != nil || string(got) != want {
			t.Errorf("mnt/%s: %q, %v", p, got, err)
		}
	}
	for _, p := range []string{"f.txt", "g.txt", "dir"} {
		if _, err := os.Stat(filepath.Join(e.dir, p)); err == nil {
			t.Errorf("%s still at the source", p)
		}
	}
}

// mountTmpfs mounts a tmpfs of the given size, writable by all, as the
// folder name in dir (a share's directory), until the test ends.
func mountTmpfs(t *testing.T, dir, name, size string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.Mkdir(p, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", p, "tmpfs", 0, "size="+size+",mode=0777"); err != nil {
		t.Fatalf("mount a tmpfs (the tests run as root): %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(p, syscall.MNT_DETACH) })
	return p
}
