package davfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cloudsoda/go-smb2"
)

// keepSecurity copies the security descriptor of the file at old (SMB
// path) onto the file at tmpPath, open as tmp, which is about to be renamed
// over old: a replacing PUT or COPY would otherwise leave the ACL the new
// file inherited from its directory, and on Windows file servers files
// often have explicit ACLs, so saving a document would change who may read
// it. tmp must stay open until keepSecurity returns. An owner or group
// that could not be set, with the DACL copied, is an error wrapping
// errOwnerNotKept.
//
// What is copied: the DACL, and the owner and group where they differ and
// the server lets the user set them (an owner other than oneself needs
// WRITE_OWNER and, on Windows, SeRestorePrivilege). The SACL is not:
// reading it needs SeSecurityPrivilege, which users do not hold, and a
// refused attempt would cost a round trip on every PUT.
//
// Round trips: the old descriptor is read by name (create, query, close),
// tmp's through its handle (one query), and only the parts that differ are
// set by name (create, set, close), so a file whose ACL is inherited from
// the same directory costs four round trips and sets nothing. The
// descriptor cannot be set through tmp: go-smb2 opens it with
// GENERIC_WRITE, which does not include WRITE_DAC, and the server checks
// the handle's granted access (Samba answers ACCESS_DENIED). Opening for
// READ_CONTROL or WRITE_DAC alone asks for no data access, so neither
// conflicts with tmp's or anyone else's share mode: this can run while the
// body is written.
func keepSecurity(share *smb2.Share, old string, tmp *smb2.File, tmpPath string) error {
	want, err := share.SecurityInfoRaw(old, secParts)
	if err != nil {
		return fmt.Errorf("read security descriptor of the replaced file: %w", err)
	}
	have, err := tmp.SecurityInfoRaw(secParts)
	if err != nil {
		have = nil // set every part
	}
	var parts smb2.SecurityInformationRequestFlags
	for _, p := range []smb2.SecurityInformationRequestFlags{
		smb2.OwnerSecurityInformation, smb2.GroupSecurityInformation, smb2.DACLSecurityInformation,
	} {
		w, ok := sdPart(want, p)
		if !ok {
			continue
		}
		if h, ok := sdPart(have, p); !ok || !bytes.Equal(w, h) {
			parts |= p
		}
	}
	if parts == 0 {
		return nil
	}
	err = share.SetSecurityInfoRaw(tmpPath, parts, rawSD(want))
	if err == nil {
		return nil
	}
	if parts == smb2.DACLSecurityInformation {
		return fmt.Errorf("set DACL: %w", err)
	}
	if parts&smb2.DACLSecurityInformation == 0 {
		return fmt.Errorf("%w: %w", errOwnerNotKept, err)
	}
	if derr := share.SetSecurityInfoRaw(tmpPath, smb2.DACLSecurityInformation, rawSD(want)); derr != nil {
		return fmt.Errorf("set DACL: %w", derr)
	}
	return fmt.Errorf("%w: %w", errOwnerNotKept, err)
}

// errOwnerNotKept: the replaced file's owner or group could not be set on
// the new file (its DACL was).
var errOwnerNotKept = errors.New("owner or group of the replaced file not kept")

// secParts is what keepSecurity reads and may set.
const secParts = smb2.OwnerSecurityInformation | smb2.GroupSecurityInformation | smb2.DACLSecurityInformation

// logKeepSecurity logs what keepSecurity could not copy. A replacing
// request still succeeds: the user may write the file but not read or set
// its ACL, and refusing would stop them saving where davgate always let
// them; the new file then has its directory's inherited ACL.
func (s *shareRequest) logKeepSecurity(ctx context.Context, name string, err error) {
	if err == nil {
		return
	}
	if errors.Is(err, errOwnerNotKept) {
		s.h.log.DebugContext(ctx, "replaced file's owner not kept", "path", name, "error", err.Error())
		return
	}
	s.h.log.WarnContext(ctx, "replaced file keeps the new file's ACL", "path", name, "error", err.Error())
}

// rawSD sends a self-relative security descriptor as it is (it has the
// methods of go-smb2's internal smb2.Encoder).
type rawSD []byte

func (b rawSD) Size() int          { return len(b) }
func (b rawSD) Encode(dest []byte) { copy(dest, b) }

// Self-relative security descriptor layout (MS-DTYP 2.4.6).
const (
	sdControl   = 2
	sdOwner     = 4
	sdGroup     = 8
	sdDACL      = 16
	sdHeaderLen = 20

	seDACLPresent       = 0x0004
	seDACLAutoInherited = 0x0400
	seDACLProtected     = 0x1000
)

// sdPart returns the bytes of one part of a self-relative security
// descriptor, for comparison: the SID of the owner or group, or the DACL's
// control bits followed by the ACL. ok is false when sd does not have the
// part or is malformed.
func sdPart(sd []byte, part smb2.SecurityInformationRequestFlags) (b []byte, ok bool) {
	if len(sd) < sdHeaderLen {
		return nil, false
	}
	var at int
	switch part {
	case smb2.OwnerSecurityInformation:
		at = sdOwner
	case smb2.GroupSecurityInformation:
		at = sdGroup
	case smb2.DACLSecurityInformation:
		at = sdDACL
	default:
		return nil, false
	}
	off := int(binary.LittleEndian.Uint32(sd[at:]))
	if part == smb2.DACLSecurityInformation {
		ctl := binary.LittleEndian.Uint16(sd[sdControl:])
		ctl &= seDACLPresent | seDACLAutoInherited | seDACLProtected
		if ctl&seDACLPresent == 0 {
			// a NULL DACL: everyone may do anything
			return []byte{byte(ctl), byte(ctl >> 8)}, true
		}
		if off == 0 || off+8 > len(sd) {
			return nil, false
		}
		n := int(binary.LittleEndian.Uint16(sd[off+2:])) // AclSize
		if n < 8 || off+n > len(sd) {
			return nil, false
		}
		return append([]byte{byte(ctl), byte(ctl >> 8)}, sd[off:off+n]...), true
	}
	if off == 0 || off+8 > len(sd) {
		return nil, false
	}
	n := 8 + 4*int(sd[off+1]) // SubAuthorityCount
	if off+n > len(sd) {
		return nil, false
	}
	return sd[off : off+n], true
}
