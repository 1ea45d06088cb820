package main

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// trickleRequest sends head and then body one byte every gap over a raw
// connection, and reports how long until davgate answered or closed the
// connection, and the status (0 if it closed without one).
func trickleRequest(t *testing.T, base, head, body string, gap time.Duration) (time.Duration, int) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	fmt.Fprintf(c, "%sContent-Length: %d\r\n\r\n", head, len(body))
	done := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			done <- 0
			return
		}
		done <- resp.StatusCode
	}()
	for i := 0; i < len(body); i++ {
		select {
		case st := <-done:
			return time.Since(start), st
		case <-time.After(gap):
		}
		if _, err := c.Write([]byte{body[i]}); err != nil {
			break
		}
	}
	st := <-done
	return time.Since(start), st
}

// slowReader hands out n bytes at a steady chunk bytes per gap: a slow but
// steady upload.
type slowReader struct {
	n, chunk int
	gap      time.Duration
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.chunk, r.n)
	time.Sleep(r.gap * time.Duration(k) / time.Duration(r.chunk))
	rand.Read(p[:k])
	r.n -= k
	return k, nil
}

// A log-on, PROPFIND, PROPPATCH or LOCK body trickled one byte every 3 s
// is cut off with 408 within the 30 s bound for small bodies; a PUT of
// several MiB that takes longer than that bound, at a steady pace, still
// succeeds.
func TestEndToEndSlowBodies(t *testing.T) {
	f := newFixture(t, "memory")
	in := startDavgate(t, f.cfgPath)
	c := client{t: t, base: in.URL}
	alice := c.logon("dgalice", alicePass, http.StatusCreated)
	host := "Host: x\r\nAuthorization: Bearer " + alice.Token + "\r\n"
	xmlBody := `<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>`
	patchBody := `<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x"><D:set><D:prop><Z:p>v</Z:p></D:prop></D:set></D:propertyupdate>`
	lockBody := `<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>`
	// want is the status of the cut-off request; 0: any that is not 2xx.
	cases := []struct {
		name, head, body string
		want             int
	}{
		{"log-on", "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n",
			fmt.Sprintf(`{"username":"dgalice","password":%q}`, alicePass), http.StatusRequestTimeout},
		{"app log-on flow", "POST /api/v1/login-flows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n",
			`{"client_name":"a slow app"}`, http.StatusRequestTimeout},
		{"log-on form", "POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n",
			"username=dgalice&password=x&login_token=abc", http.StatusRequestTimeout},
		{"PROPFIND", "PROPFIND /dav/data/ HTTP/1.1\r\nDepth: 0\r\n" + host, xmlBody, http.StatusRequestTimeout},
		{"PROPPATCH", "PROPPATCH /dav/data/ HTTP/1.1\r\n" + host, patchBody, http.StatusRequestTimeout},
		{"LOCK", "LOCK /dav/data/slow-lock.txt HTTP/1.1\r\n" + host, lockBody, http.StatusRequestTimeout},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, st := trickleRequest(t, in.URL, tc.head, tc.body, 3*time.Second)
			t.Logf("%s: status %d after %v", tc.name, st, d)
			if st/100 == 2 || d > 40*time.Second || (tc.want != 0 && st != tc.want) {
				t.Errorf("%s body trickled 1 byte/3 s: status %d after %v, want cut off (%d) within ~30 s", tc.name, st, d, tc.want)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		const size = 6 << 20
		start := time.Now()
		req, _ := http.NewRequest("PUT", in.URL+"/dav/data/slow-put.bin", &slowReader{n: size, chunk: 128 << 10, gap: 800 * time.Millisecond})
		req.ContentLength = size
		req.Header.Set("Authorization", "Bearer "+alice.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("slow steady PUT of 6 MiB: %v", err)
			return
		}
		resp.Body.Close()
		t.Logf("PUT: status %d after %v", resp.StatusCode, time.Since(start))
		if resp.StatusCode != http.StatusCreated {
			t.Errorf("slow steady PUT of 6 MiB over %v: status %d, want 201", time.Since(start), resp.StatusCode)
		}
	}()
	wg.Wait()
}
