package davfs

import (
	"context"

	"github.com/cloudsoda/go-smb2"
)

// ShareSource gives the request's user their shares. cmd/davgate implements
// it with the session's SMB connection pool.
type ShareSource interface {
	// Names lists the shares shown as collections under the prefix.
	Names(ctx context.Context) ([]string, error)
	// Open mounts the named share for the request's user. Errors wrap
	// ErrNoShare (404), ErrUnauthorized (401) or ErrUnavailable (503);
	// anything else is a 500.
	Open(ctx context.Context, name string) (*Mount, error)
}

// Mount is a share opened for one request.
type Mount struct {
	Share *smb2.Share
	// Root is the directory inside the share that the WebDAV tree starts
	// at: slash separated, no leading slash, "" for the share's root.
	Root string
	// ID names the mounted directory across users and davgate instances,
	// e.g. the expanded smb:// URL; locks are keyed by it, so two users'
	// home shares of the same name do not share locks. Optional: the
	// share's name in the URL is used when empty.
	ID string
	// Release is called once when the request is done, with the SMB
	// failure its answer rests on (an *Error, which knows its verdict on
	// the connection, see smbstatus.VerdictOf), nil if none; it may be nil.
	Release func(error)
}
