package davfs

import (
	"archive/zip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"slices"
	"strings"
)

// ZipHandler serves GET ?dir=<path of a collection under the prefix, not
// percent-encoded>&name=a&name=b: the named members of dir (all of them without a
// name), folders recursed, as one zip archive written while it is read
// from the share (stored, not compressed; zip64 past 4 GiB), through the
// same file system reads as GET. Names are those on the share; davgate's
// temporary files are left out. A file that fails mid-way ends the stream
// without the archive's end (the client sees a download cut short) and is
// logged. Mount it behind the same authentication as the handler.
func (h *Handler) ZipHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		share, dir, err := h.zipTarget(r)
		if err != nil {
			h.respond(w, r, err)
			return
		}
		h.serveMounted(w, r, share, func(s *shareRequest) error {
			return s.zip(w, r, dir, r.URL.Query()["name"])
		})
	})
}

// zipTarget is the share and the collection in it a zip request names.
func (h *Handler) zipTarget(r *http.Request) (share, dir string, err error) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", "", failHeader(http.StatusMethodNotAllowed, fmt.Errorf("method %s on zip downloads", r.Method),
			"Allow", "GET, HEAD")
	}
	share, dir, err = h.splitTarget(r.URL.Query().Get("dir"))
	if err != nil {
		return "", "", fail(http.StatusBadRequest, err)
	}
	if n := len(r.URL.Query()["name"]); n > maxZipNames {
		return "", "", fail(http.StatusBadRequest, fmt.Errorf("zip of %d names: at most %d; zip their folder instead", n, maxZipNames))
	}
	return share, dir, nil
}

// maxZipNames bounds the members one zip request may name.
const maxZipNames = 10000

// zipEntry is a resource put in the archive.
type zipEntry struct {
	name string // in the share
	rel  string // in the archive
	fi   *fileInfo
}

func (s *shareRequest) zip(w http.ResponseWriter, r *http.Request, dir string, names []string) error {
	ctx := r.Context()
	entries, err := s.zipMembers(ctx, dir, names)
	if err != nil {
		return failFS(err)
	}
	label := s.share
	if dir != "/" {
		label = path.Base(dir)
	}
	if len(names) == 1 {
		label = path.Base(clean(names[0]))
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", attachment(label+".zip"))
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return nil
	}
	w.WriteHeader(http.StatusOK)
	zw := zip.NewWriter(w)
	for _, e := range entries {
		if err := s.zipAdd(ctx, zw, e); err != nil {
			return zipCut(fmt.Errorf("zip member %s: %w", e.name, err))
		}
	}
	if err := zw.Close(); err != nil {
		return zipCut(fmt.Errorf("zip end: %w", err))
	}
	return nil
}

// zipCut is a failure once the archive is on its way: logged, handed to
// the mount's release, and the connection dropped, so that the archive
// does not look whole.
func zipCut(err error) error {
	return &httpError{status: http.StatusInternalServerError, err: err, sent: true, abort: true,
		msg: "zip download cut short"}
}

// zipMembers stats the named members of dir, or lists dir without names.
// A name must be one member: no slash, not ".", "..", nor a temporary file.
func (s *shareRequest) zipMembers(ctx context.Context, dir string, names []string) ([]zipEntry, error) {
	if len(names) == 0 {
		fi, err := s.fsys.Stat(ctx, dir)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			return nil, &os.PathError{Op: "zip", Path: dir, Err: ErrNotSupported}
		}
		return s.zipList(ctx, dir, "")
	}
	var out []zipEntry
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || n == "." || n == ".." || strings.ContainsAny(n, "/\\") || hiddenName(n) {
			return nil, &os.PathError{Op: "zip", Path: n, Err: ErrBadName}
		}
		// A member named twice (in any case: SMB names are not case
		// sensitive) goes in once.
		k := strings.ToUpper(n)
		if seen[k] {
			continue
		}
		seen[k] = true
		name := clean(path.Join(dir, n))
		fi, err := s.fsys.Stat(ctx, name)
		if err != nil {
			return nil, err
		}
		out = append(out, zipEntry{name: name, rel: path.Base(name), fi: fi.(*fileInfo)})
	}
	return out, nil
}

// zipList lists a folder's members for the archive, under prefix, by name.
func (s *shareRequest) zipList(ctx context.Context, dir, prefix string) ([]zipEntry, error) {
	f, err := s.fsys.OpenFile(ctx, dir, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	list, err := f.Readdir(0)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(list, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	out := make([]zipEntry, 0, len(list))
	for _, c := range list {
		out = append(out, zipEntry{name: path.Join(dir, c.Name()), rel: path.Join(prefix, c.Name()), fi: c.(*fileInfo)})
	}
	return out, nil
}

// zipAdd writes one entry, a folder with everything below it.
func (s *shareRequest) zipAdd(ctx context.Context, zw *zip.Writer, e zipEntry) error {
	hdr := &zip.FileHeader{Name: e.rel, Method: zip.Store, Modified: e.fi.mtime}
	if e.fi.IsDir() {
		hdr.Name += "/"
		hdr.SetMode(os.ModeDir | 0o755)
		if _, err := zw.CreateHeader(hdr); err != nil {
			return err
		}
		members, err := s.zipList(ctx, e.name, e.rel)
		if err != nil {
			return err
		}
		for _, m := range members {
			if err := s.zipAdd(ctx, zw, m); err != nil {
				return err
			}
		}
		return nil
	}
	hdr.SetMode(0o644)
	out, err := zw.CreateHeader(hdr)
	if err != nil {
		return err
	}
	f, err := s.fsys.OpenFile(ctx, e.name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(out, f)
	if err == nil && n != e.fi.size {
		err = fmt.Errorf("%s: %d bytes read, %d listed", e.name, n, e.fi.size)
	}
	return err
}

// attachment is a Content-Disposition for a download named name (RFC 6266):
// an ASCII fallback and the exact name in filename* (RFC 8187).
func attachment(name string) string {
	var fb strings.Builder
	for _, c := range name {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%' {
			c = '_'
		}
		fb.WriteRune(c)
	}
	var ext strings.Builder
	for _, c := range []byte(name) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0 {
			ext.WriteByte(c) // attr-char
		} else {
			fmt.Fprintf(&ext, "%%%02X", c)
		}
	}
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, fb.String(), ext.String())
}
