// Command davgate is a WebDAV gateway to SMB file shares: users log on once
// with their directory password and then reach their shares from any WebDAV
// client with a revocable token.
//
//	davgate serve --config FILE     serve (config also from DAVGATE_CONFIG)
//	davgate keygen --out FILE       create a master keyring or add a newest key
//	davgate check-config --config FILE  check the config and what it names
//	davgate login https://server/   connect an app or rclone without its password
//	davgate version
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "davgate: %v\n", err)
		os.Exit(1)
	}
}
