package davfs

import (
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// SMB2 commands (MS-SMB2 2.2.1) the counts below name.
const (
	smb2Create         = 0x05
	smb2Close          = 0x06
	smb2Read           = 0x08
	smb2QueryDirectory = 0x0e
	smb2QueryInfo      = 0x10
)

// smbCounter is a connection to smbd that counts the SMB2 requests sent
// over it, by command.
type smbCounter struct {
	net.Conn
	mu     sync.Mutex
	buf    []byte
	counts map[uint16]int
}

func (c *smbCounter) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf = append(c.buf, p...)
	for len(c.buf) >= 4 {
		n := int(binary.BigEndian.Uint32(c.buf[:4]) & 0xffffff)
		if len(c.buf) < 4+n {
			break
		}
		frame := c.buf[4 : 4+n]
		// each request of a compound, chained by NextCommand
		for len(frame) >= 64 && string(frame[:4]) == "\xfeSMB" {
			c.counts[binary.LittleEndian.Uint16(frame[12:14])]++
			next := int(binary.LittleEndian.Uint32(frame[20:24]))
			if next == 0 || next > len(frame) {
				break
			}
			frame = frame[next:]
		}
		c.buf = c.buf[4+n:]
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// take returns the counts so far and starts again from zero.
func (c *smbCounter) take() map[uint16]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.counts
	c.counts = map[uint16]int{}
	return m
}

// countSMB makes share "data" reach smbd over an smbCounter, and returns
// the counter.
func (e *testEnv) countSMB(t testing.TB) *smbCounter {
	t.Helper()
	nc, err := net.Dial("tcp", e.smbd.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := &smbCounter{Conn: nc, counts: map[uint16]int{}}
	sh := mountOver(t, e.smbd, "data", c)
	e.src.mu.Lock()
	e.src.shares["data"] = sh
	e.src.mu.Unlock()
	return c
}

// requests is the number of requests in counts.
func requests(counts map[uint16]int) int {
	n := 0
	for _, c := range counts {
		n += c
	}
	return n
}

// A PROPFIND Depth:1 of a folder costs a few SMB requests, whatever the
// number of children: one directory query (continued while the server has
// more), no open, stat or read per child, unless some child has dead
// properties (issue 3: "a directory listing must cost one SMB directory
// query").
func TestPropfindSMBRequests(t *testing.T) {
	e := newTestEnv(t)
	counter := e.countSMB(t)
	e.expect(t, 201, "MKCOL", "/dav/data/many", nil)
	for i := range 500 {
		e.expect(t, 201, "PUT", "/dav/data/many/file "+strings.Repeat("x", i%40)+string(rune('a'+i%26))+strconv.Itoa(i)+".txt", strings.NewReader("x"))
	}
	bodies := map[string]string{
		"allprop": "",
		"the props Finder and Explorer ask for": `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop>` +
			`<D:getetag/><D:getcontenttype/><D:getcontentlength/><D:getlastmodified/><D:creationdate/>` +
			`<D:resourcetype/><D:displayname/><D:lockdiscovery/><D:supportedlock/></D:prop></D:propfind>`,
	}
	for what, body := range bodies {
		counter.take()
		got := e.expect(t, 207, "PROPFIND", "/dav/data/many/", strings.NewReader(body), "Depth", "1")
		if n := strings.Count(got, "<D:response>"); n != 501 {
			t.Fatalf("%s: %d responses, want 501", what, n)
		}
		c := counter.take()
		t.Logf("%s: %v", what, c)
		total := requests(c)
		// the folder's open, its queries, a lookup of the dead-property
		// marker, close: a handful, never one per child
		if total > 12 || c[smb2QueryDirectory] > 4 || c[smb2Read] > 0 {
			t.Errorf("%s of 500 children: %d SMB requests (%d CREATE, %d QUERY_DIRECTORY, %d QUERY_INFO, %d READ, %d CLOSE), want at most 12 and no read",
				what, total, c[smb2Create], c[smb2QueryDirectory], c[smb2QueryInfo], c[smb2Read], c[smb2Close])
		}
	}
}

// A GET of a small file costs an open, one read, one stat (sent alongside
// the read) and a close: the small-file rate depends on it.
func TestGetSMBRequests(t *testing.T) {
	e := newTestEnv(t)
	counter := e.countSMB(t)
	e.expect(t, 201, "PUT", "/dav/data/small.txt", strings.NewReader(strings.Repeat("s", 4096)))
	counter.take()
	if got := e.expect(t, 200, "GET", "/dav/data/small.txt", nil); len(got) != 4096 {
		t.Fatalf("GET: %d bytes", len(got))
	}
	c := counter.take()
	t.Logf("GET: %v", c)
	total := requests(c)
	if c[smb2Create] != 1 || c[smb2Read] != 1 || c[smb2QueryInfo] > 1 || c[smb2Close] != 1 || total > 4 {
		t.Errorf("GET of 4 KiB: %d SMB requests (%d CREATE, %d READ, %d QUERY_INFO, %d CLOSE), want 1 each and at most 4 in all",
			total, c[smb2Create], c[smb2Read], c[smb2QueryInfo], c[smb2Close])
	}
}
