package session

import (
	"encoding/binary"
	"testing"
)

// frame builds one direct-TCP frame holding an SMB2 header with the given
// fields and body bytes after it.
func frame(command uint16, status, flags uint32, messageID uint64, body int) []byte {
	msg := make([]byte, 64+body)
	copy(msg, "\xfeSMB")
	binary.LittleEndian.PutUint16(msg[4:], 64)
	binary.LittleEndian.PutUint32(msg[8:], status)
	binary.LittleEndian.PutUint16(msg[12:], command)
	binary.LittleEndian.PutUint32(msg[16:], flags)
	binary.LittleEndian.PutUint64(msg[24:], messageID)
	f := binary.BigEndian.AppendUint32(nil, uint32(len(msg)))
	return append(f, msg...)
}

func TestFrameScanner(t *testing.T) {
	const read, write, cancel = 0x0008, 0x0009, smb2Cancel
	encrypted := append(binary.BigEndian.AppendUint32(nil, 80), append([]byte("\xfdSMB"), make([]byte, 76)...)...)
	keepalive := []byte{0x85, 0, 0, 0}
	for _, tc := range []struct {
		name  string
		out   [][]byte // frames the client sends
		in    [][]byte // frames the server sends
		sent  int      // counted requests
		recvd int      // counted replies
	}{
		{name: "request and reply", out: [][]byte{frame(read, 0, 0, 7, 49)}, in: [][]byte{frame(read, 0, 1, 7, 1<<20)}, sent: 1, recvd: 1},
		{name: "cancel has no reply", out: [][]byte{frame(write, 0, 0, 8, 1<<16), frame(cancel, 0, 0, 8, 4)}, sent: 1},
		{name: "interim reply is not the answer",
			in: [][]byte{frame(write, statusPending, flagAsync|1, 9, 9), frame(write, 0, flagAsync|1, 9, 17)}, recvd: 1},
		{name: "oplock break is not an answer", in: [][]byte{frame(smb2OplockBreak, 0, 1, ^uint64(0), 24)}},
		{name: "encrypted frames count", out: [][]byte{encrypted, encrypted}, in: [][]byte{encrypted}, sent: 2, recvd: 1},
		{name: "keep-alive counts nothing", out: [][]byte{keepalive}, in: [][]byte{keepalive, frame(read, 0, 1, 3, 0)}, recvd: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Whole frames at once, and the same bytes one at a time and
			// in odd pieces: counts must not depend on how TCP cut them.
			for _, piece := range []int{1 << 30, 1, 3, 31, 1000} {
				if got := feedPieces(tc.out, piece, isRequest); got != tc.sent {
					t.Errorf("pieces of %d: %d requests counted, want %d", piece, got, tc.sent)
				}
				if got := feedPieces(tc.in, piece, isReply); got != tc.recvd {
					t.Errorf("pieces of %d: %d replies counted, want %d", piece, got, tc.recvd)
				}
			}
		})
	}
}

func feedPieces(frames [][]byte, piece int, count func([]byte) bool) int {
	var stream []byte
	for _, f := range frames {
		stream = append(stream, f...)
	}
	var s frameScanner
	n := 0
	for len(stream) > 0 {
		k := min(piece, len(stream))
		n += s.feed(stream[:k], count)
		stream = stream[k:]
	}
	return n
}
