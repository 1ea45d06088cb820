package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// smbOffer is what an SMB server answers to a NEGOTIATE: the dialect it
// chose and whether it signs and encrypts. go-smb2 negotiates only as part
// of a log-on, so check-config sends its own NEGOTIATE ([MS-SMB2] 2.2.3)
// and reads the reply ([MS-SMB2] 2.2.4); no credentials are sent.
type smbOffer struct {
	dialect         uint16
	signingRequired bool
	// cipher is the encryption cipher the server chose for SMB 3.1.1 (0:
	// none); for 3.0 and 3.0.2, encryptionCap says it can encrypt.
	cipher        uint16
	encryptionCap bool
}

var smbDialects = []uint16{0x0202, 0x0210, 0x0300, 0x0302, 0x0311}

var smbCipherNames = map[uint16]string{1: "AES-128-CCM", 2: "AES-128-GCM", 3: "AES-256-CCM", 4: "AES-256-GCM"}

func (o smbOffer) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "SMB %d.%d.%d", o.dialect>>8, (o.dialect>>4)&0xf, o.dialect&0xf)
	if o.signingRequired {
		b.WriteString(", signing required")
	} else {
		b.WriteString(", signing offered (not required)")
	}
	switch {
	case o.cipher != 0:
		fmt.Fprintf(&b, ", encryption offered (%s)", smbCipherNames[o.cipher])
	case o.encryptionCap:
		b.WriteString(", encryption offered")
	default:
		b.WriteString(", no encryption")
	}
	return b.String()
}

// probeSMB connects to addr and negotiates, without logging on.
func probeSMB(ctx context.Context, addr string, timeout time.Duration) (smbOffer, error) {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return smbOffer{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	req, err := negotiateRequest()
	if err != nil {
		return smbOffer{}, err
	}
	if _, err := c.Write(req); err != nil {
		return smbOffer{}, fmt.Errorf("send negotiate: %w", err)
	}
	var nb [4]byte
	if _, err := io.ReadFull(c, nb[:]); err != nil {
		return smbOffer{}, fmt.Errorf("read negotiate reply: %w", err)
	}
	n := int(binary.BigEndian.Uint32(nb[:]) & 0xffffff)
	if n < 64+65 || n > 1<<20 {
		return smbOffer{}, fmt.Errorf("negotiate reply of %d bytes: not an SMB2 server", n)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(c, msg); err != nil {
		return smbOffer{}, fmt.Errorf("read negotiate reply: %w", err)
	}
	return parseNegotiate(msg)
}

// negotiateRequest is a NEGOTIATE offering SMB 2.0.2 to 3.1.1, with the
// 3.1.1 contexts for pre-authentication integrity and encryption.
func negotiateRequest() ([]byte, error) {
	le := binary.LittleEndian
	hdr := make([]byte, 64)
	copy(hdr, "\xfeSMB")
	le.PutUint16(hdr[4:], 64) // StructureSize
	le.PutUint16(hdr[14:], 1) // CreditRequest; Command 0 is NEGOTIATE
	body := make([]byte, 36, 128)
	le.PutUint16(body[0:], 36)
	le.PutUint16(body[2:], uint16(len(smbDialects)))
	le.PutUint16(body[4:], 1)    // SecurityMode: signing enabled
	le.PutUint32(body[8:], 0x40) // Capabilities: encryption
	if _, err := rand.Read(body[12:28]); err != nil {
		return nil, err
	}
	for _, d := range smbDialects {
		body = le.AppendUint16(body, d)
	}
	for (64+len(body))%8 != 0 {
		body = append(body, 0)
	}
	le.PutUint32(body[28:], uint32(64+len(body))) // NegotiateContextOffset
	le.PutUint16(body[32:], 2)                    // NegotiateContextCount
	salt := make([]byte, 32)
	if _, err := rand.Read(salt); err != nil {
		return nil, err
	}
	// PREAUTH_INTEGRITY_CAPABILITIES: one algorithm (SHA-512), a salt.
	preauth := append([]byte{1, 0, 32, 0, 1, 0}, salt...)
	body = appendContext(body, 1, preauth)
	for (64+len(body))%8 != 0 {
		body = append(body, 0)
	}
	// ENCRYPTION_CAPABILITIES: AES-256-GCM, AES-128-GCM, AES-256-CCM, AES-128-CCM.
	body = appendContext(body, 2, []byte{4, 0, 4, 0, 2, 0, 3, 0, 1, 0})
	msg := append(hdr, body...)
	out := make([]byte, 4, 4+len(msg))
	binary.BigEndian.PutUint32(out, uint32(len(msg)))
	return append(out, msg...), nil
}

func appendContext(b []byte, typ uint16, data []byte) []byte {
	le := binary.LittleEndian
	b = le.AppendUint16(b, typ)
	b = le.AppendUint16(b, uint16(len(data)))
	b = append(b, 0, 0, 0, 0)
	return append(b, data...)
}

// parseNegotiate reads the header and NEGOTIATE response in msg.
func parseNegotiate(msg []byte) (smbOffer, error) {
	le := binary.LittleEndian
	if string(msg[:4]) != "\xfeSMB" {
		return smbOffer{}, errors.New("negotiate reply is not SMB2 (SMB1-only server?)")
	}
	if st := le.Uint32(msg[8:]); st != 0 {
		return smbOffer{}, fmt.Errorf("negotiate refused: NTSTATUS 0x%08x", st)
	}
	body := msg[64:]
	o := smbOffer{
		signingRequired: le.Uint16(body[2:])&2 != 0,
		dialect:         le.Uint16(body[4:]),
		encryptionCap:   le.Uint32(body[24:])&0x40 != 0,
	}
	if o.dialect != 0x0311 {
		return o, nil
	}
	count, off := int(le.Uint16(body[6:])), int(le.Uint32(body[60:]))
	for i := 0; i < count && off+8 <= len(msg); i++ {
		typ, n := le.Uint16(msg[off:]), int(le.Uint16(msg[off+2:]))
		data := msg[off+8 : min(off+8+n, len(msg))]
		if typ == 2 && len(data) >= 4 && le.Uint16(data) >= 1 {
			o.cipher = le.Uint16(data[2:])
		}
		off = (off + 8 + n + 7) &^ 7
	}
	o.encryptionCap = o.cipher != 0
	return o, nil
}
