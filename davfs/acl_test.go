package davfs

import (
	"bytes"
	"encoding/binary"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cloudsoda/go-smb2"
	"github.com/davgate/davgate/internal/testenv"
)

// newACLTestEnv is a test environment whose share stores NT ACLs (Samba's
// acl_xattr, in the security.NTACL extended attribute), as a Windows file
// server does.
func newACLTestEnv(t testing.TB, opts ...func(*HandlerOptions)) *testEnv {
	t.Helper()
	return startEnv(t, testenv.SmbdConfig{
		Users:  map[string]string{testUser: testPass},
		Shares: []testenv.Share{{Name: "data", VFSObjects: "acl_xattr streams_xattr"}},
	}, opts...)
}

// A PUT or COPY that replaces a file with an explicit ACL leaves the ACL
// as it was, as writing over the file through SMB does: saving a document
// must not change who may read it.
func TestReplaceKeepsACL(t *testing.T) {
	var log lockedBuffer
	e := newACLTestEnv(t, func(o *HandlerOptions) { o.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	e.expect(t, 201, "PUT", "/dav/data/fresh.txt", strings.NewReader("x"))
	inherited := dacl(t, e.share, "fresh.txt")
	for _, tc := range []struct {
		name    string
		replace func(t *testing.T, p string, body string)
	}{
		{"PUT", func(t *testing.T, p, body string) {
			e.expect(t, 204, "PUT", "/dav/data/"+p, strings.NewReader(body))
		}},
		{"COPY", func(t *testing.T, p, body string) {
			e.expect(t, 201, "PUT", "/dav/data/src-"+p, strings.NewReader(body))
			e.expect(t, 204, "COPY", "/dav/data/src-"+p, nil, "Destination", e.srv.URL+"/dav/data/"+p)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := strings.ToLower(tc.name) + ".txt"
			e.expect(t, 201, "PUT", "/dav/data/"+p, strings.NewReader("old"))
			want := setExplicitDACL(t, e, p)
			if bytes.Equal(want, inherited) {
				t.Fatalf("the explicit DACL of %s reads back as the inherited one (%x): does the file system keep "+
					"the security.NTACL extended attribute that acl_xattr writes? smbd log:\n%s",
					filepath.Join(e.dir, p), want, e.smbd.Log(t))
			}
			tc.replace(t, p, "new")
			if got := e.expect(t, 200, "GET", "/dav/data/"+p, nil); got != "new" {
				t.Fatalf("content %q, want %q", got, "new")
			}
			if got := dacl(t, e.share, p); !bytes.Equal(got, want) {
				t.Errorf("DACL after %s\n%x, want the one set before\n%x (inherited: %x)", tc.name, got, want, inherited)
			}
		})
	}
	// A file whose DACL is inherited keeps that one.
	e.expect(t, 204, "PUT", "/dav/data/fresh.txt", strings.NewReader("y"))
	if got := dacl(t, e.share, "fresh.txt"); !bytes.Equal(got, inherited) {
		t.Errorf("DACL of a replaced file with an inherited ACL\n%x, want\n%x", got, inherited)
	}
	if l := log.String(); strings.Contains(l, "level=WARN") {
		t.Errorf("warnings logged:\n%s", l)
	}

	// A user who may replace a file but not read its ACL still saves it;
	// the log says the ACL was not kept.
	e.expect(t, 201, "PUT", "/dav/data/blind.txt", strings.NewReader("old"))
	sd, err := e.share.SecurityInfoRaw("blind.txt", smb2.OwnerSecurityInformation)
	if err != nil {
		t.Fatal(err)
	}
	owner, _ := sdPart(sd, smb2.OwnerSecurityInformation)
	ownerRights := []byte{1, 1, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0} // S-1-3-4: no implicit READ_CONTROL for the owner
	// DELETE, SYNCHRONIZE, FILE_READ_DATA, FILE_WRITE_DATA, FILE_APPEND_DATA, FILE_WRITE_EA, FILE_READ_ATTRIBUTES, FILE_WRITE_ATTRIBUTES
	const noReadControl = 0x00010000 | 0x00100000 | 0x1 | 0x2 | 0x4 | 0x10 | 0x80 | 0x100
	blind := protectedDACL(ace(owner, noReadControl), ace(ownerRights, noReadControl))
	if err := e.share.SetSecurityInfoRaw("blind.txt", smb2.DACLSecurityInformation, rawSD(blind)); err != nil {
		t.Fatalf("set DACL: %v", err)
	}
	if _, err := e.share.SecurityInfoRaw("blind.txt", smb2.DACLSecurityInformation); err == nil {
		t.Fatal("the test user can still read the ACL it denied itself")
	}
	e.expect(t, 204, "PUT", "/dav/data/blind.txt", strings.NewReader("new"))
	if got := e.expect(t, 200, "GET", "/dav/data/blind.txt", nil); got != "new" {
		t.Fatalf("content %q, want %q", got, "new")
	}
	if l := log.String(); !strings.Contains(l, `level=WARN msg="replaced file keeps the new file's ACL" path=/blind.txt`) {
		t.Errorf("no warning that the ACL was not kept; log:\n%s", l)
	}
}

// lockedBuffer is a bytes.Buffer safe for the handler's concurrent logging.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// setExplicitDACL gives the file at p a protected DACL by which only its
// owner (the test user) may write and everyone may read, and returns the
// DACL as the server reads it back.
func setExplicitDACL(t testing.TB, e *testEnv, p string) []byte {
	t.Helper()
	sd, err := e.share.SecurityInfoRaw(p, smb2.OwnerSecurityInformation)
	if err != nil {
		t.Fatal(err)
	}
	owner, ok := sdPart(sd, smb2.OwnerSecurityInformation)
	if !ok {
		t.Fatalf("no owner in %x", sd)
	}
	everyone := []byte{1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0} // S-1-1-0
	explicit := protectedDACL(ace(owner, 0x1f01ff), ace(everyone, 0x1200a9))
	if err := e.share.SetSecurityInfoRaw(p, smb2.DACLSecurityInformation, rawSD(explicit)); err != nil {
		t.Fatalf("set DACL: %v", err)
	}
	return dacl(t, e.share, p)
}

// dacl reads the DACL of the file at p.
func dacl(t testing.TB, share *smb2.Share, p string) []byte {
	t.Helper()
	sd, err := share.SecurityInfoRaw(p, smb2.DACLSecurityInformation)
	if err != nil {
		t.Fatalf("read DACL of %s: %v", p, err)
	}
	return sd
}

// ace is an ACCESS_ALLOWED_ACE for sid (MS-DTYP 2.4.4.2).
func ace(sid []byte, mask uint32) []byte {
	b := make([]byte, 8, 8+len(sid))
	binary.LittleEndian.PutUint16(b[2:], uint16(8+len(sid)))
	binary.LittleEndian.PutUint32(b[4:], mask)
	return append(b, sid...)
}

// protectedDACL is a self-relative security descriptor holding only a
// protected DACL (not inherited from the directory) of aces.
func protectedDACL(aces ...[]byte) []byte {
	acl := make([]byte, 8)
	acl[0] = 2 // ACL_REVISION
	for _, a := range aces {
		acl = append(acl, a...)
	}
	binary.LittleEndian.PutUint16(acl[2:], uint16(len(acl)))
	binary.LittleEndian.PutUint16(acl[4:], uint16(len(aces)))
	sd := make([]byte, sdHeaderLen)
	sd[0] = 1
	binary.LittleEndian.PutUint16(sd[sdControl:], 0x8000|seDACLPresent|seDACLProtected) // self-relative
	binary.LittleEndian.PutUint32(sd[sdDACL:], sdHeaderLen)
	return append(sd, acl...)
}
