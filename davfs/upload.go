package davfs

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Resumable uploads for browsers: tus 1.0 (https://tus.io/protocols/resumable-upload),
// core, creation, termination and expiration, on the same share mounts,
// name rules, lock checks and atomic replacement as PUT.
//
// An upload is a hidden temporary file beside its target, named like PUT's
// (tempPrefix + "up-" + 32 hex digits), that PATCH requests append to at
// their Upload-Offset; the offset is the file's size, so an instance that
// stops loses nothing. When the last byte arrives, the file is renamed over
// the target as PUT's is (the replaced file's ACL and dead properties kept);
// nothing is replaced before. The rest of the upload's state (share,
// target, length, overwrite, owner, creation time and the temporary file's
// name) is sealed into its id with the server's master keys, so any
// instance can continue an upload another one started, and no client can
// read, forge or alter one. Only the user who created an upload may see or
// continue it; to others it does not exist (404).
//
// An upload not written to for uploadExpiry is removed on its next HEAD or
// PATCH, and by any listing of its folder (the sweep of stale temporary
// files, see file.Readdir).

// tusVersion is the tus protocol version served.
const tusVersion = "1.0.0"

// uploadExpiry is how long an upload lives after its last write.
const uploadExpiry = staleTempAge

// uploadPurpose separates sealed upload ids from other sealed values.
const uploadPurpose = "davfs upload"

// uploadTempInfix follows tempPrefix in an upload's temporary file name.
const uploadTempInfix = "up-"

// Sealer seals values under keys that every davgate instance shares, so
// that a value sealed by one opens on any other. *session.Manager is one.
type Sealer interface {
	SealValue(purpose string, plain []byte) (string, error)
	// OpenValue fails for a value not sealed for purpose, or altered.
	OpenValue(purpose, sealed string) ([]byte, error)
}

// UploadOptions configure Handler.Uploads.
type UploadOptions struct {
	// Prefix is the URL path of the creation endpoint, e.g.
	// "/api/v1/uploads"; uploads are Prefix + "/" + id. Required.
	Prefix string
	// Sealer seals upload ids. Required.
	Sealer Sealer
	// MaxSize is the largest upload accepted (Tus-Max-Size). Optional,
	// default 1 TiB.
	MaxSize int64
}

// Uploads serves tus uploads into the shares of a Handler.
type Uploads struct {
	h      *Handler
	prefix string
	seal   Sealer
	max    int64

	mu   sync.Mutex
	busy map[string]chan struct{} // temporary file name -> held while a request works on it
}

// Uploads returns the tus handler for uploads into h's shares. Mount it
// for Prefix and Prefix + "/" behind the same authentication as h.
func (h *Handler) Uploads(o UploadOptions) *Uploads {
	u := &Uploads{h: h, prefix: strings.TrimSuffix(o.Prefix, "/"), seal: o.Sealer, max: o.MaxSize,
		busy: map[string]chan struct{}{}}
	if u.max <= 0 {
		u.max = 1 << 40
	}
	return u
}

// uploadState is what an upload id carries.
type uploadState struct {
	Share     string `json:"s"`
	Name      string `json:"n"` // clean name of the target in the share
	Length    int64  `json:"l"`
	Overwrite bool   `json:"o"`
	User      string `json:"u"`
	Created   int64  `json:"c"` // Unix seconds
	Temp      string `json:"t"` // base name of the temporary file
}

func (st *uploadState) tempName() string { return path.Join(path.Dir(st.Name), st.Temp) }

func (u *Uploads) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Tus-Resumable", tusVersion)
	w.Header().Set("Cache-Control", "no-store")
	share, serve, err := u.route(w, r)
	switch {
	case err != nil:
		u.h.respond(w, r, err)
	case serve != nil:
		u.h.serveMounted(w, r, share, serve)
	}
}

// route checks what a request asks before any share is mounted and
// returns the share it works on and the step that serves it there. It
// answers OPTIONS itself (serve nil).
func (u *Uploads) route(w http.ResponseWriter, r *http.Request) (share string, serve func(*shareRequest) error, err error) {
	rest, ok := strings.CutPrefix(r.URL.Path, u.prefix)
	if !ok || (rest != "" && rest[0] != '/') {
		return "", nil, fail(http.StatusNotFound, errors.New("outside the uploads prefix"))
	}
	id := strings.Trim(rest, "/")
	if r.Method == http.MethodOptions {
		w.Header().Set("Tus-Version", tusVersion)
		w.Header().Set("Tus-Extension", "creation,termination,expiration")
		w.Header().Set("Tus-Max-Size", strconv.FormatInt(u.max, 10))
		w.WriteHeader(http.StatusNoContent)
		return "", nil, nil
	}
	if r.Header.Get("Tus-Resumable") != tusVersion {
		return "", nil, failHeader(http.StatusPreconditionFailed, errors.New("tus version not supported"),
			"Tus-Version", tusVersion)
	}
	switch {
	case id == "" && r.Method == http.MethodPost:
		return u.creation(w, r)
	case id == "" || strings.Contains(id, "/"):
		return "", nil, fail(http.StatusNotFound, errors.New("no such upload endpoint"))
	case r.Method == http.MethodHead:
		return u.onUpload(w, r, id, (*uploadReq).head)
	case r.Method == http.MethodPatch:
		return u.onUpload(w, r, id, (*uploadReq).patch)
	case r.Method == http.MethodDelete:
		return u.onUpload(w, r, id, (*uploadReq).terminate)
	}
	return "", nil, failHeader(http.StatusMethodNotAllowed, fmt.Errorf("method %s on an upload", r.Method),
		"Allow", "OPTIONS, HEAD, PATCH, DELETE")
}

// uploadReq is one request on an existing upload.
type uploadReq struct {
	st      *uploadState
	s       *shareRequest
	tmpPath string // SMB path of the temporary file
}

// onUpload opens the upload id for its owner and returns its share and
// the step that, with the share mounted, holds the upload against other
// requests on it (in any instance) and calls f.
func (u *Uploads) onUpload(w http.ResponseWriter, r *http.Request, id string,
	f func(q *uploadReq, w http.ResponseWriter, r *http.Request) error) (string, func(*shareRequest) error, error) {
	plain, err := u.seal.OpenValue(uploadPurpose, id)
	st := &uploadState{}
	if err == nil {
		err = json.Unmarshal(plain, st)
	}
	if err != nil {
		return "", nil, fail(http.StatusNotFound, fmt.Errorf("upload id: %w", err))
	}
	if st.User != u.h.user(r.Context()) {
		return "", nil, fail(http.StatusNotFound, errors.New("an upload of another user"))
	}
	return st.Share, func(s *shareRequest) error {
		tmpPath, err := s.fsys.smbPathOf(st.tempName())
		if err != nil {
			return fail(http.StatusBadRequest, err)
		}
		unlock, err := u.hold(r.Context(), st.User, st.Temp)
		if errors.Is(err, errUploadBusy) {
			return fail(http.StatusLocked, err)
		} else if err != nil {
			return fail(http.StatusServiceUnavailable, err)
		}
		defer unlock()
		return f(&uploadReq{st: st, s: s, tmpPath: tmpPath}, w, r)
	}, nil
}

// offset is the upload's offset, its temporary file's size. An upload
// that is gone (completed, terminated, swept) is 404; one not written to
// for uploadExpiry is removed and 404 too.
func (q *uploadReq) offset(ctx context.Context) (int64, time.Time, error) {
	fi, err := q.s.fsys.share.Stat(q.tmpPath)
	if err != nil {
		err = q.s.fsys.fail("stat", q.st.tempName(), err)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, time.Time{}, fail(http.StatusNotFound, errors.New("upload gone: completed, terminated or expired"))
		}
		return 0, time.Time{}, failFS(err)
	}
	if time.Since(fi.ModTime()) > uploadExpiry {
		q.s.removeTemp(ctx, q.tmpPath)
		q.s.h.log.InfoContext(ctx, "removed an expired upload", "path", q.st.tempName())
		return 0, time.Time{}, fail(http.StatusNotFound, errors.New("upload expired"))
	}
	return fi.Size(), fi.ModTime().Add(uploadExpiry), nil
}

func (q *uploadReq) head(w http.ResponseWriter, r *http.Request) error {
	off, expires, err := q.offset(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Upload-Offset", strconv.FormatInt(off, 10))
	w.Header().Set("Upload-Length", strconv.FormatInt(q.st.Length, 10))
	w.Header().Set("Upload-Expires", expires.UTC().Format(http.TimeFormat))
	w.WriteHeader(http.StatusOK)
	return nil
}

func (q *uploadReq) terminate(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := q.offset(r.Context()); err != nil {
		return err
	}
	q.s.fsys.forget()
	if err := q.s.fsys.share.Remove(q.tmpPath); err != nil {
		return failFS(q.s.fsys.fail("remove", q.st.tempName(), err))
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// parseMetadata parses Upload-Metadata: comma separated "key base64value"
// pairs, the value optional.
func parseMetadata(h string) (map[string]string, error) {
	m := map[string]string{}
	for pair := range strings.SplitSeq(h, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, _ := strings.Cut(pair, " ")
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("upload metadata %q: %w", k, err)
		}
		m[k] = string(b)
	}
	return m, nil
}

// splitTarget parses a target, the path of a resource under the WebDAV
// prefix as its names are (not percent-encoded: "/dav/data/50% off.txt"),
// into share and clean name.
func (h *Handler) splitTarget(target string) (share, name string, err error) {
	rest, ok := strings.CutPrefix(path.Clean("/"+target), h.prefix+"/")
	share, rest, _ = strings.Cut(rest, "/")
	if !ok || share == "" {
		return "", "", fmt.Errorf("target %q is not in a share", target)
	}
	return share, clean(rest), nil
}

// isOctetStream reports whether a PATCH carries tus's content type.
func isOctetStream(r *http.Request) bool {
	t, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && t == "application/offset+octet-stream"
}
