package main

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
)

// auditLog is check-config's check of audit_log. Like the store check it
// creates nothing: an existing file must be a regular file davgate can
// append to, a missing one needs its directory.
func (c *checker) auditLog(cfg Config) {
	const what = "audit_log"
	switch cfg.AuditLog {
	case "", "stderr", "-":
		c.report("ok", what, "stderr, beside the log (lines marked \"stream\":\"audit\")")
		return
	case "off":
		c.report("warn", what, "off: no audit trail is written")
		return
	}
	path := cfg.AuditLog
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if di, err := os.Stat(filepath.Dir(path)); err != nil || !di.IsDir() {
			c.report("FAIL", what, "%s: neither it nor its directory exists", path)
			return
		}
		c.report("ok", what, "%s: does not exist yet; davgate creates it (mode 0640)", path)
		return
	}
	if err == nil && !fi.Mode().IsRegular() {
		err = errors.New("not a regular file")
	}
	if err == nil {
		var f *os.File
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0); err == nil {
			f.Close()
		}
	}
	if err != nil {
		c.report("FAIL", what, "%s: %v", path, err)
		return
	}
	c.report("ok", what, "%s: appended to", path)
}
