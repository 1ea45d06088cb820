package session

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// writeSyscalls is this process's count of write system calls so far
// (Linux's /proc/self/io).
func writeSyscalls(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("no /proc/self/io: %v", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscw: "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no syscw in /proc/self/io")
	return 0
}

// TestCountedConnFrames sends frames as go-smb2 writes them (a 4-byte
// length, then the body) through a countedConn over loopback TCP: each
// arrives intact and in order, the length and body of each go out in one
// system call, and the replies, read as go-smb2 reads them, come back
// whole, small ones several to a read.
func TestCountedConnFrames(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const frames = 2000
	sizes := func(i int) int { return []int{64, 300, 4180, 70000, 1<<20 + 80}[i%5] }
	// The peer answers a frame of up to 4180 bytes with itself, a larger
	// one with its first 64 bytes, in one write either way.
	replySize := func(n int) int {
		if n > 4180 {
			return 64
		}
		return n
	}
	body := func(i, n int) []byte { return bytes.Repeat([]byte{byte(i)}, n) }

	// The peer echoes every frame back.
	go func() {
		pc, err := l.Accept()
		if err != nil {
			return
		}
		defer pc.Close()
		r, w := bufio.NewReader(pc), bufio.NewWriter(pc)
		var hdr [4]byte
		for {
			if _, err := io.ReadFull(r, hdr[:]); err != nil {
				return
			}
			buf := make([]byte, binary.BigEndian.Uint32(hdr[:]))
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			buf = buf[:replySize(len(buf))]
			binary.BigEndian.PutUint32(hdr[:], uint32(len(buf)))
			w.Write(hdr[:])
			w.Write(buf)
			w.Flush()
		}
	}()
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	closed := 0
	c := newCountedConn(nc, func() { closed++ })

	var hdr [4]byte
	before := writeSyscalls(t)
	for i := range frames {
		n := sizes(i)
		binary.BigEndian.PutUint32(hdr[:], uint32(n))
		if k, err := c.Write(hdr[:]); k != 4 || err != nil {
			t.Fatalf("frame %d: length written %d, %v", i, k, err)
		}
		if k, err := c.Write(body(i, n)); k != n || err != nil {
			t.Fatalf("frame %d: body written %d of %d, %v", i, k, n, err)
		}
		var got [4]byte
		rn := replySize(n)
		if _, err := io.ReadFull(c, got[:]); err != nil || binary.BigEndian.Uint32(got[:]) != uint32(rn) {
			t.Fatalf("frame %d: reply length %v, %v; want %d", i, got, err, rn)
		}
		reply := make([]byte, rn)
		if _, err := io.ReadFull(c, reply); err != nil || !bytes.Equal(reply, body(i, rn)) {
			t.Fatalf("frame %d: reply body wrong (%v)", i, err)
		}
	}
	// The peer writes once per frame; countedConn once per frame too,
	// but for the largest bodies, which may not fit the socket's buffer
	// at once (and took two calls each even before, plus the length's).
	writes := writeSyscalls(t) - before
	if limit := frames * 5 / 2; writes > limit {
		t.Errorf("%d write system calls for %d frames, want at most %d (one per frame here, and the peer's)", writes, frames, limit)
	} else {
		t.Logf("%d write system calls for %d frames", writes, frames)
	}
	if c.broken.Load() {
		t.Error("connection marked broken while it works")
	}
	c.Close()
	c.Close()
	if closed != 1 {
		t.Errorf("onClose called %d times, want 1", closed)
	}
	if _, err := c.Read(make([]byte, 4)); err == nil || !c.broken.Load() {
		t.Errorf("read after close: %v, broken %v; want an error and broken", err, c.broken.Load())
	}
}
