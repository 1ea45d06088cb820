// Package smbstatus owns the one table from an SMB status (an NTSTATUS,
// [MS-ERREF] 2.3) to what it means to davgate: the error kind, the HTTP
// status a WebDAV client is answered with, and what it says about the
// connection it came over (keep it, check it, drop it). davfs maps every
// failed file operation with it; session's connection pool asks an error
// for its verdict (VerdictOf) instead of classifying it again.
package smbstatus

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"slices"

	"github.com/cloudsoda/go-smb2"
)

// Verdict is what a failure says about the SMB connection it came over.
type Verdict int

const (
	Keep  Verdict = iota // the server answered: keep the connection
	Check                // unknown: check it with an echo
	Drop                 // the SMB session or tree is gone: drop it
)

// Kinds of failure beyond those of io/fs.
var (
	ErrLocked       = errors.New("file in use")             // 423 Locked
	ErrNoSpace      = errors.New("insufficient storage")    // 507
	ErrBadName      = errors.New("invalid name")            // 400
	ErrNotEmpty     = errors.New("directory not empty")     // 409
	ErrIsDir        = errors.New("is a directory")          // 405
	ErrNotSupported = errors.New("operation not supported") // 501
	ErrCrossDevice  = errors.New("not on the same device")  // 502; a MOVE copies instead
	ErrUnavailable  = errors.New("file server unavailable") // 503
	ErrLogon        = errors.New("credentials refused")     // 401; never retried
	ErrUnknown      = errors.New("file server error")       // 500
)

// Meaning is what a failure means: its kind, the HTTP status it is
// answered with and its verdict on the connection.
type Meaning struct {
	Kind    error
	HTTP    int
	Verdict Verdict
}

// NTSTATUS values davgate tells apart. go-smb2 keeps its own table
// internal, so they are repeated here.
const (
	InvalidParameter      uint32 = 0xC000000D
	NoSuchFile            uint32 = 0xC000000F
	InvalidDeviceRequest  uint32 = 0xC0000010
	AccessDenied          uint32 = 0xC0000022
	ObjectNameInvalid     uint32 = 0xC0000033
	ObjectNameNotFound    uint32 = 0xC0000034
	ObjectNameCollision   uint32 = 0xC0000035
	ObjectPathInvalid     uint32 = 0xC0000039
	ObjectPathNotFound    uint32 = 0xC000003A
	ObjectPathSyntaxBad   uint32 = 0xC000003B
	SharingViolation      uint32 = 0xC0000043
	QuotaExceeded         uint32 = 0xC0000044
	FileLockConflict      uint32 = 0xC0000054
	LockNotGranted        uint32 = 0xC0000055
	DeletePending         uint32 = 0xC0000056
	PrivilegeNotHeld      uint32 = 0xC0000061
	NoSuchUser            uint32 = 0xC0000064
	WrongPassword         uint32 = 0xC000006A
	LogonFailure          uint32 = 0xC000006D
	AccountRestriction    uint32 = 0xC000006E
	InvalidLogonHours     uint32 = 0xC000006F
	InvalidWorkstation    uint32 = 0xC0000070
	PasswordExpired       uint32 = 0xC0000071
	AccountDisabled       uint32 = 0xC0000072
	DiskFull              uint32 = 0xC000007F
	InsufficientResources uint32 = 0xC000009A
	MediaWriteProtected   uint32 = 0xC00000A2
	IOTimeout             uint32 = 0xC00000B5
	FileIsADirectory      uint32 = 0xC00000BA
	NotSupported          uint32 = 0xC00000BB
	NetworkNameDeleted    uint32 = 0xC00000C9
	BadNetworkName        uint32 = 0xC00000CC
	NotSameDevice         uint32 = 0xC00000D4
	DirectoryNotEmpty     uint32 = 0xC0000101
	NotADirectory         uint32 = 0xC0000103
	NameTooLong           uint32 = 0xC0000106
	CannotDelete          uint32 = 0xC0000121
	FileClosed            uint32 = 0xC0000128
	LogonTypeNotGranted   uint32 = 0xC000015B
	AccountExpired        uint32 = 0xC0000193
	UserSessionDeleted    uint32 = 0xC0000203
	ConnectionDisconnect  uint32 = 0xC000020C
	ConnectionReset       uint32 = 0xC000020D
	PasswordMustChange    uint32 = 0xC0000224
	AccountLockedOut      uint32 = 0xC0000234
	NetworkSessionExpired uint32 = 0xC000035C
	NTLMBlocked           uint32 = 0xC0000418
	DiskQuotaExceeded     uint32 = 0xC0000802
	FileTooLarge          uint32 = 0xC0000904
)

// table is the one table from SMB status to meaning. A status it does not
// hold is ErrUnknown, 500, and keeps the connection: the server answered.
var table = map[uint32]Meaning{
	NoSuchFile:         {fs.ErrNotExist, http.StatusNotFound, Keep},
	ObjectNameNotFound: {fs.ErrNotExist, http.StatusNotFound, Keep},
	ObjectPathNotFound: {fs.ErrNotExist, http.StatusNotFound, Keep},
	NotADirectory:      {fs.ErrNotExist, http.StatusNotFound, Keep},

	ObjectNameCollision: {fs.ErrExist, http.StatusMethodNotAllowed, Keep},

	AccessDenied:        {fs.ErrPermission, http.StatusForbidden, Keep},
	CannotDelete:        {fs.ErrPermission, http.StatusForbidden, Keep},
	PrivilegeNotHeld:    {fs.ErrPermission, http.StatusForbidden, Keep},
	MediaWriteProtected: {fs.ErrPermission, http.StatusForbidden, Keep},

	SharingViolation: {ErrLocked, http.StatusLocked, Keep},
	FileLockConflict: {ErrLocked, http.StatusLocked, Keep},
	LockNotGranted:   {ErrLocked, http.StatusLocked, Keep},
	DeletePending:    {ErrLocked, http.StatusLocked, Keep},

	DiskFull:          {ErrNoSpace, http.StatusInsufficientStorage, Keep},
	QuotaExceeded:     {ErrNoSpace, http.StatusInsufficientStorage, Keep},
	DiskQuotaExceeded: {ErrNoSpace, http.StatusInsufficientStorage, Keep},
	FileTooLarge:      {ErrNoSpace, http.StatusInsufficientStorage, Keep},

	ObjectNameInvalid:   {ErrBadName, http.StatusBadRequest, Keep},
	ObjectPathInvalid:   {ErrBadName, http.StatusBadRequest, Keep},
	ObjectPathSyntaxBad: {ErrBadName, http.StatusBadRequest, Keep},
	NameTooLong:         {ErrBadName, http.StatusBadRequest, Keep},
	InvalidParameter:    {fs.ErrInvalid, http.StatusBadRequest, Keep},

	DirectoryNotEmpty:    {ErrNotEmpty, http.StatusConflict, Keep},
	FileIsADirectory:     {ErrIsDir, http.StatusMethodNotAllowed, Keep},
	NotSupported:         {ErrNotSupported, http.StatusNotImplemented, Keep},
	InvalidDeviceRequest: {ErrNotSupported, http.StatusNotImplemented, Keep},
	NotSameDevice:        {ErrCrossDevice, http.StatusBadGateway, Keep},

	InsufficientResources: {ErrUnavailable, http.StatusServiceUnavailable, Keep},
	IOTimeout:             {ErrUnavailable, http.StatusServiceUnavailable, Keep},
	BadNetworkName:        {ErrUnavailable, http.StatusServiceUnavailable, Keep},
	FileClosed:            {ErrUnavailable, http.StatusServiceUnavailable, Keep},
	ConnectionDisconnect:  {ErrUnavailable, http.StatusServiceUnavailable, Keep},
	ConnectionReset:       {ErrUnavailable, http.StatusServiceUnavailable, Keep},
	NTLMBlocked:           {ErrUnavailable, http.StatusServiceUnavailable, Keep},
	UserSessionDeleted:    {ErrUnavailable, http.StatusServiceUnavailable, Drop},
	NetworkSessionExpired: {ErrUnavailable, http.StatusServiceUnavailable, Drop},
	NetworkNameDeleted:    {ErrUnavailable, http.StatusServiceUnavailable, Drop},

	// session setup: these credentials will not do; retrying them can
	// only lock the account (the server answered: no connection to judge)
	NoSuchUser:          {ErrLogon, http.StatusUnauthorized, Keep},
	WrongPassword:       {ErrLogon, http.StatusUnauthorized, Keep},
	LogonFailure:        {ErrLogon, http.StatusUnauthorized, Keep},
	AccountRestriction:  {ErrLogon, http.StatusUnauthorized, Keep},
	InvalidLogonHours:   {ErrLogon, http.StatusUnauthorized, Keep},
	InvalidWorkstation:  {ErrLogon, http.StatusUnauthorized, Keep},
	PasswordExpired:     {ErrLogon, http.StatusUnauthorized, Keep},
	AccountDisabled:     {ErrLogon, http.StatusUnauthorized, Keep},
	LogonTypeNotGranted: {ErrLogon, http.StatusUnauthorized, Keep},
	AccountExpired:      {ErrLogon, http.StatusUnauthorized, Keep},
	PasswordMustChange:  {ErrLogon, http.StatusUnauthorized, Keep},
	AccountLockedOut:    {ErrLogon, http.StatusUnauthorized, Keep},
}

// kinds are the meanings of errors that carry no status but a kind, in
// the order they are tried: ErrLocked first, for a refusal that wraps
// the access denied it was reported as.
var kinds = []Meaning{
	{ErrLocked, http.StatusLocked, Keep},
	{fs.ErrNotExist, http.StatusNotFound, Keep},
	{fs.ErrExist, http.StatusMethodNotAllowed, Keep},
	{fs.ErrPermission, http.StatusForbidden, Keep},
	{fs.ErrInvalid, http.StatusBadRequest, Keep},
	{ErrNoSpace, http.StatusInsufficientStorage, Keep},
	{ErrBadName, http.StatusBadRequest, Keep},
	{ErrNotEmpty, http.StatusConflict, Keep},
	{ErrIsDir, http.StatusMethodNotAllowed, Keep},
	{ErrNotSupported, http.StatusNotImplemented, Keep},
	{ErrCrossDevice, http.StatusBadGateway, Keep},
	{ErrLogon, http.StatusUnauthorized, Keep},
	{ErrUnavailable, http.StatusServiceUnavailable, Check},
	{fs.ErrClosed, http.StatusInternalServerError, Keep},
	{io.EOF, http.StatusInternalServerError, Keep},
	{io.ErrUnexpectedEOF, http.StatusInternalServerError, Keep},
}

var (
	unknownStatus = Meaning{ErrUnknown, http.StatusInternalServerError, Keep}
	unknown       = Meaning{ErrUnknown, http.StatusInternalServerError, Check}
	transport     = Meaning{ErrUnavailable, http.StatusServiceUnavailable, Drop}
	noAnswer      = Meaning{ErrUnavailable, http.StatusServiceUnavailable, Check}
	cancelled     = Meaning{context.Canceled, http.StatusInternalServerError, Check}
)

// Lookup returns what the status code means; ok is false for a status the
// table does not hold.
func Lookup(code uint32) (m Meaning, ok bool) {
	m, ok = table[code]
	return m, ok
}

// Codes lists the statuses of kind, in ascending order.
func Codes(kind error) []uint32 {
	var out []uint32
	for c, m := range table {
		if m.Kind == kind {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out
}

// Classify finds what an error from go-smb2 (or one of these kinds) means,
// and the SMB status behind it, 0 when the library did not keep one. A
// transport failure drops the connection; a request given up half way
// (a client went away) or an answer go-smb2 could not read may leave it
// in any state, and it is checked.
func Classify(err error) (Meaning, uint32) {
	if errors.Is(err, ErrLocked) {
		return kinds[0], 0
	}
	if re, ok := errors.AsType[*smb2.ResponseError](err); ok {
		if m, ok := table[re.Code]; ok {
			return m, re.Code
		}
		return unknownStatus, re.Code
	}
	if _, ok := errors.AsType[*smb2.TransportError](err); ok { // before io.EOF: it may wrap one
		return transport, 0
	}
	for _, m := range kinds {
		if errors.Is(err, m.Kind) {
			return m, 0
		}
	}
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return cancelled, 0
	case errors.Is(err, smb2.ErrRequestNotAccepted):
		return noAnswer, 0
	}
	if _, ok := errors.AsType[*smb2.InvalidResponseError](err); ok {
		return noAnswer, 0
	}
	if _, ok := errors.AsType[net.Error](err); ok {
		return noAnswer, 0
	}
	return unknown, 0
}

// VerdictOf says what err means for the connection it came over: the
// verdict the error carries (a Verdict method, as davfs's errors have),
// else its classification. nil keeps the connection.
func VerdictOf(err error) Verdict {
	if err == nil {
		return Keep
	}
	if v, ok := errors.AsType[verdicter](err); ok {
		return v.Verdict()
	}
	m, _ := Classify(err)
	return m.Verdict
}

// verdicter is an error that knows its verdict.
type verdicter interface {
	error
	Verdict() Verdict
}
