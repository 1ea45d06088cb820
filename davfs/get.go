package davfs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// options answers OPTIONS on a resource of a share.
func (s *shareRequest) options(w http.ResponseWriter, r *http.Request) error {
	allow := allowAny
	if fi, err := s.fsys.Stat(r.Context(), s.name); err == nil {
		allow = allowFile
		if fi.IsDir() {
			allow = allowCollection
		}
	}
	writeOptions(w, allow)
	return nil
}

// href is the escaped URL path of a resource name.
func (s *shareRequest) href(name string, dir bool) string {
	p := path.Join(s.prefix, name)
	if dir {
		p += "/"
	}
	return (&url.URL{Path: p}).EscapedPath()
}

// get serves GET and HEAD: a file through http.ServeContent (Range and
// conditional requests), whose copy is steered to hand the response whole
// 1 MiB chunks; a collection as a plain HTML listing.
func (s *shareRequest) get(w http.ResponseWriter, r *http.Request) error {
	f, err := s.fsys.openKnown(s.name)
	if err != nil {
		return failFS(err)
	}
	defer f.Close()
	if r.Method == http.MethodGet && r.Header.Get("Range") == "" && !strings.HasSuffix(r.URL.Path, "/") {
		f.readAheadStart()
	}
	if r.Method == http.MethodGet {
		f.confirmSize()
	}
	fi, err := s.fsys.statOpen(f)
	if err != nil {
		return failFS(err)
	}
	if fi.IsDir() {
		return s.listing(w, r, f)
	}
	if strings.HasSuffix(r.URL.Path, "/") {
		return fail(http.StatusNotFound, errors.New("a file asked for as a collection"))
	}
	w.Header().Set("ETag", fi.etag())
	w.Header().Set("Content-Type", contentType(fi.name))
	if rg := r.Header.Get("Range"); rg != "" && (!validRange(rg) || fi.size == 0) {
		// RFC 9110 section 14.2: ignored, the whole file (an empty one has
		// no range to serve)
		r.Header.Del("Range")
	}
	http.ServeContent(chunkWriter{w, f}, r, fi.name, fi.mtime, f)
	if err := f.readErr; err != nil {
		// The status is out; the client sees a body cut short.
		return &httpError{status: http.StatusInternalServerError, sent: true, err: err,
			msg: "webdav response cut short by a failed read"}
	}
	return nil
}

// validRange reports whether a Range header is a well-formed bytes range
// set (RFC 9110 section 14.1.2): "bytes=" and first-last, first- or -suffix
// specs with first <= last. Whether it fits the file is for
// http.ServeContent (416 if no range does); a malformed one is ignored.
func validRange(h string) bool {
	set, ok := strings.CutPrefix(h, "bytes=")
	if !ok {
		return false
	}
	digits := func(s string) bool {
		if s == "" {
			return false
		}
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return false
			}
		}
		return true
	}
	for spec := range strings.SplitSeq(set, ",") {
		first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
		switch {
		case !ok:
			return false
		case first == "":
			// a suffix of 0 bytes is satisfiable by nothing; Go would
			// answer it with a broken Content-Range
			if !digits(last) || strings.Trim(last, "0") == "" {
				return false
			}
		case !digits(first) || (last != "" && !digits(last)):
			return false
		case last != "":
			f, err1 := strconv.ParseUint(first, 10, 63)
			l, err2 := strconv.ParseUint(last, 10, 63)
			if err1 != nil || err2 != nil || f > l {
				return false
			}
		}
	}
	return true
}

// chunkWriter passes the response writer on, except that http.ServeContent's
// io.CopyN from the file goes through file.writeTo.
type chunkWriter struct {
	http.ResponseWriter
	f *file
}

func (w chunkWriter) ReadFrom(src io.Reader) (int64, error) {
	if lr, ok := src.(*io.LimitedReader); ok && lr.R == io.Reader(w.f) {
		n, err := w.f.writeTo(w.ResponseWriter, lr.N)
		lr.N -= n
		return n, err
	}
	return io.Copy(writerOnly{w.ResponseWriter}, src)
}

type writerOnly struct{ io.Writer }

func (w chunkWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// listing writes a plain HTML list of a collection for browsers.
func (s *shareRequest) listing(w http.ResponseWriter, r *http.Request, f *file) error {
	name := s.name
	children, err := f.Readdir(0)
	if err != nil {
		return failFS(err)
	}
	slices.SortFunc(children, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	if r.Method == http.MethodHead {
		return nil
	}
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "<!doctype html>\n<meta charset=\"utf-8\"><title>%s</title>\n<h1>%s</h1>\n<ul>\n",
		xmlEscape(path.Join(s.share, name)), xmlEscape(path.Join(s.share, name)))
	if name != "/" {
		fmt.Fprintf(bw, "<li><a href=\"%s\">../</a></li>\n", xmlEscape(s.href(path.Dir(name), true)))
	}
	for _, c := range children {
		label := c.Name()
		if c.IsDir() {
			label += "/"
		}
		fmt.Fprintf(bw, "<li><a href=\"%s\">%s</a></li>\n", xmlEscape(s.href(path.Join(name, c.Name()), c.IsDir())), xmlEscape(label))
	}
	bw.WriteString("</ul>\n")
	bw.Flush()
	return nil
}
