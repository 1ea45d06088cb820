package davfs

import (
	"archive/zip"
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A member named many times, in any case, is read and archived once; a
// request naming more than maxZipNames members is refused before any SMB
// work (a long URL of one name repeated would otherwise read the file for
// every copy).
func TestZipNamesOnceAndBounded(t *testing.T) {
	e := newTestEnv(t)
	c := tusClient{t: t, srv: uploadServer(t, e, newTestSealer(t)), user: "alice"}
	os.MkdirAll(filepath.Join(e.dir, "z"), 0o777)
	os.WriteFile(filepath.Join(e.dir, "z", "Read.txt"), []byte("once"), 0o666)
	get := func(q string) (*http.Response, []byte) {
		t.Helper()
		resp, err := c.srv.Client().Get(c.srv.URL + "/api/v1/zip?" + q)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	q := "dir=/dav/data/z/&" + strings.Repeat("name=Read.txt&name=READ.TXT&", 200)
	resp, body := get(q)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("zip of one name repeated = %d %s", resp.StatusCode, body)
	}
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		t.Fatal(err)
	}
	if len(zr.File) != 1 {
		t.Errorf("zip of one name given 400 times holds %d entries, want 1", len(zr.File))
	}
	q = "dir=/dav/data/z/&" + strings.Repeat("name=a&", maxZipNames+1)
	if resp, body := get(q); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("zip of %d names = %d %.100s, want 400", maxZipNames+1, resp.StatusCode, body)
	}
}
