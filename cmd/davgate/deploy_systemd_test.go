package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/davgate/davgate/internal/testenv"
)

// deploy/systemd/davgate.service passes `systemd-analyze verify` without
// a warning (an unknown or misspelt directive is only a warning there),
// and hands davgate the keyring credential that davgate.yaml's
// master_key_file names.
func TestSystemdUnit(t *testing.T) {
	testenv.Need(t, "systemd-analyze")
	b, err := os.ReadFile("../../deploy/systemd/davgate.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	// verify checks that ExecStart= names an executable: this test's own.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unit, "ExecStart=/usr/local/bin/davgate ") {
		t.Fatalf("davgate.service: no ExecStart=/usr/local/bin/davgate")
	}
	path := filepath.Join(t.TempDir(), "davgate.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(unit, "/usr/local/bin/davgate", exe)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := tryCommand(time.Minute, cmdOpts{}, "systemd-analyze", "verify", path)
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify davgate.service: %v\n%s", err, out)
	}

	m := regexp.MustCompile(`(?m)^LoadCredential(?:Encrypted)?=([^:\s]+):`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatalf("davgate.service loads no credential")
	}
	cfg, err := loadConfig("../../deploy/systemd/davgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.expandCredentials(func(string) string { return "/run/credentials/davgate.service" }); err != nil {
		t.Fatal(err)
	}
	if want := "/run/credentials/davgate.service/" + m[1]; cfg.MasterKeyFile != want {
		t.Errorf("davgate.yaml's master_key_file is %s, want the unit's credential %s", cfg.MasterKeyFile, want)
	}
}
