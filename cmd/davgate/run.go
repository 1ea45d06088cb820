package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

const usage = `usage:
  davgate serve [--config FILE]   serve WebDAV (config also from DAVGATE_CONFIG)
  davgate keygen --out FILE       create a master keyring, or add a newest key to it
  davgate sessions list|revoke --user NAME [--id ID] [--config FILE]
                                  list or end a user's sessions (through metrics_listen)
  davgate check-config --config FILE
                                  check the config and the servers, files and store it names
  davgate login https://server/   connect an app or rclone without its password (-h for flags)
  davgate version                 print the version
`

// run is the whole program; main only calls it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch cmd, rest := args[1], args[2:]; cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "keygen":
		return runKeygen(rest, stdout, stderr)
	case "sessions":
		return runSessions(ctx, rest, getenv, stdout, stderr)
	case "check-config":
		return runCheckConfig(ctx, rest, getenv, stdout, stderr)
	case "login":
		return runLogin(ctx, rest, getenv, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "davgate", versionString())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " " + s.Value[:12]
			}
		}
		return v
	}
	return "(unknown)"
}

func runKeygen(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fl.SetOutput(stderr)
	out := fl.String("out", "", "keyring file to create or add a key to (mode 0600)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("keygen: --out FILE is required")
	}
	_, statErr := os.Stat(*out)
	id, err := addKey(*out)
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	verb := "added key"
	if statErr != nil {
		verb = "created keyring with key"
	}
	fmt.Fprintf(stdout, "%s %d in %s\n", verb, id, *out)
	return nil
}
