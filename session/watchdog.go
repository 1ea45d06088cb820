package session

import (
	"encoding/binary"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// watchedConn is the TCP connection under one SMB session. It follows the
// SMB2 frames in both directions and closes the connection when the server
// has owed a reply for longer than timeout without sending a single byte.
// A file server that hangs (or a network path that silently drops
// everything) then fails the requests waiting on it within timeout, the
// pool redials on the next request, and a hung server never blocks a
// WebDAV request for the quarter of an hour TCP takes to give up. Closing
// the whole connection is what makes this safe: go-smb2 cannot abandon a
// single request without corrupting the connection (see treeConnect).
//
// Counting is deliberately lenient: a frame sent counts as one request
// (SMB2 CANCEL, which has no reply, does not count), a frame received
// counts as one reply, an interim STATUS_PENDING reply or an oplock break
// from the server counts as progress only. Compounded requests answered
// in separate frames and encrypted interim replies can only make the
// count too low, which delays detection; no valid exchange makes it too
// high.
type watchedConn struct {
	net.Conn
	timeout time.Duration
	onHang  func(waited time.Duration)

	sent, recv frameScanner // each used only by its direction's goroutine

	mu       sync.Mutex
	pending  int       // requests sent and not yet answered
	progress time.Time // the last byte received, or the first request after silence
	timer    *time.Timer
	hung     atomic.Bool
}

// watchConn wraps c; timeout <= 0 returns c unchanged.
func watchConn(c net.Conn, timeout time.Duration, onHang func(waited time.Duration)) net.Conn {
	if timeout <= 0 {
		return c
	}
	return &watchedConn{Conn: c, timeout: timeout, onHang: onHang}
}

func (w *watchedConn) Write(p []byte) (int, error) {
	requests := w.sent.feed(p, isRequest)
	if requests > 0 {
		w.mu.Lock()
		if w.pending == 0 {
			w.progress = time.Now()
		}
		w.pending += requests
		if w.timer == nil {
			w.timer = time.AfterFunc(w.timeout, w.check)
		}
		w.mu.Unlock()
	}
	return w.Conn.Write(p)
}

func (w *watchedConn) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if n > 0 {
		replies := w.recv.feed(p[:n], isReply)
		w.mu.Lock()
		w.progress = time.Now()
		w.pending = max(0, w.pending-replies)
		w.mu.Unlock()
	}
	return n, err
}

// check runs when the timer fires: it closes a connection that has owed a
// reply for timeout with nothing received, and otherwise re-arms itself for
// the rest of the time (or stops while nothing is owed).
func (w *watchedConn) check() {
	w.mu.Lock()
	if w.pending == 0 {
		w.timer = nil
		w.mu.Unlock()
		return
	}
	waited := time.Since(w.progress)
	if waited < w.timeout {
		w.timer.Reset(w.timeout - waited)
		w.mu.Unlock()
		return
	}
	w.timer = nil
	w.mu.Unlock()
	if w.hung.CompareAndSwap(false, true) {
		w.onHang(waited)
		w.Conn.Close()
	}
}

func (w *watchedConn) Close() error {
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
	return w.Conn.Close()
}

// SMB2 over direct TCP (MS-SMB2 2.1): each frame is a 4-byte length (a
// zero byte and 24 bits big-endian) and a message starting with a protocol
// id: 0xFE 'SMB' for SMB2, 0xFD for an encrypted (transform) message, 0xFC
// for a compressed one.
const (
	frameHead      = 4
	smb2HeaderSeen = 32 // protocol id through MessageId

	smb2Cancel      = 0x000c
	smb2OplockBreak = 0x0012
	statusPending   = 0x00000103
	flagAsync       = 0x00000002
)

// frameScanner finds frame boundaries in one direction's byte stream and
// keeps the start of each message for isRequest / isReply.
type frameScanner struct {
	head [frameHead + smb2HeaderSeen]byte
	have int // bytes of head filled
	left int // bytes of the current frame still to pass after head
}

// feed consumes p and returns how many frames count, as judged by count
// on each frame's first bytes (fewer when the frame is shorter).
func (s *frameScanner) feed(p []byte, count func(msg []byte) bool) int {
	n := 0
	for len(p) > 0 {
		if s.left > 0 {
			k := min(s.left, len(p))
			s.left -= k
			p = p[k:]
			continue
		}
		if s.have < frameHead {
			k := copy(s.head[s.have:frameHead], p)
			s.have += k
			p = p[k:]
			continue
		}
		size := int(binary.BigEndian.Uint32(s.head[:frameHead]) & 0xffffff)
		want := min(size, smb2HeaderSeen)
		if got := s.have - frameHead; got < want {
			k := copy(s.head[s.have:frameHead+want], p)
			s.have += k
			p = p[k:]
			if s.have-frameHead < want {
				continue
			}
		}
		if count(s.head[frameHead : frameHead+want]) {
			n++
		}
		s.left = size - want
		s.have = 0
	}
	return n
}

// isRequest says whether a frame the client sends expects a reply.
func isRequest(msg []byte) bool {
	if len(msg) >= 14 && msg[0] == 0xfe && binary.LittleEndian.Uint16(msg[12:]) == smb2Cancel {
		return false
	}
	return len(msg) > 0
}

// isReply says whether a frame from the server answers a request: not an
// interim STATUS_PENDING reply, not an oplock or lease break notification.
func isReply(msg []byte) bool {
	if len(msg) < smb2HeaderSeen || msg[0] != 0xfe {
		return len(msg) > 0
	}
	status := binary.LittleEndian.Uint32(msg[8:])
	command := binary.LittleEndian.Uint16(msg[12:])
	flags := binary.LittleEndian.Uint32(msg[16:])
	messageID := binary.LittleEndian.Uint64(msg[24:])
	switch {
	case status == statusPending && flags&flagAsync != 0:
		return false
	case command == smb2OplockBreak && messageID == ^uint64(0):
		return false
	}
	return true
}

// hangLogger returns the onHang of a watched connection to addr: it logs
// and counts the hang.
func (p *Pool) hangLogger(addr string) func(time.Duration) {
	return func(waited time.Duration) {
		p.events.Hung()
		p.log.Warn("smb server sent nothing while owing a reply; connection closed",
			slog.String("addr", addr), slog.Duration("waited", waited.Round(time.Millisecond)))
	}
}
