package testenv

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudsoda/go-smb2"
)

func TestSmbdServesShareAndRestarts(t *testing.T) {
	s := StartSmbd(t, SmbdConfig{
		Users:  map[string]string{"dgtest1": "pass-one-1"},
		Shares: []Share{{Name: "data"}},
	})
	write := func(name string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		d := &smb2.Dialer{Initiator: &smb2.NTLMInitiator{User: "dgtest1", Password: "pass-one-1"}}
		sess, err := d.Dial(ctx, s.Addr())
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer sess.Logoff()
		sh, err := sess.Mount("data")
		if err != nil {
			t.Fatalf("mount: %v", err)
		}
		defer sh.Umount()
		if err := sh.WriteFile(name, []byte("hello"), 0o644); err != nil {
			t.Fatalf("write: %v", err)
		}
	}
	write("a.txt")
	s.Stop(t)
	if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatal("smbd still listening after Stop")
	}
	s.Start(t)
	write("b.txt")
	for _, n := range []string{"a.txt", "b.txt"} {
		if b, err := os.ReadFile(filepath.Join(s.SharePath("data"), n)); err != nil || string(b) != "hello" {
			t.Errorf("%s on disk = %q, %v; want hello", n, b, err)
		}
	}
	if !strings.Contains(s.Log(t), "dgtest1") {
		t.Errorf("smbd log has no auth line for dgtest1")
	}
}

func TestRedisStartsAndStops(t *testing.T) {
	r := StartRedis(t)
	c, err := net.DialTimeout("tcp", r.Addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("PING\r\n"))
	buf := make([]byte, 16)
	n, _ := c.Read(buf)
	c.Close()
	if got := string(buf[:n]); got != "+PONG\r\n" {
		t.Fatalf("PING answered %q", got)
	}
	r.Stop(t)
	if _, err := net.DialTimeout("tcp", r.Addr, time.Second); err == nil {
		t.Fatal("redis still listening after Stop")
	}
}
