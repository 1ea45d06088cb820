package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/davgate/davgate/session"
)

const sessionsUsage = `usage:
  davgate sessions list   --user NAME [--config FILE] [--admin URL]
  davgate sessions revoke --user NAME [--id ID] [--config FILE] [--admin URL]

Lists or ends a user's sessions through the running davgate's admin
endpoint on metrics_listen, authenticated with the master keyring
(master_key_file): run it as the user davgate runs as. NAME is the
user's canonical name, as the audit log shows it. Without --id, revoke
ends every session of the user.
`

// runSessions is `davgate sessions list|revoke`.
func runSessions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "revoke") {
		fmt.Fprint(stderr, sessionsUsage)
		return errors.New("sessions: want list or revoke")
	}
	verb := args[0]
	fl := flag.NewFlagSet("sessions "+verb, flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := configFlag(fl, getenv)
	user := fl.String("user", "", "the user whose sessions to list or end (required)")
	id := fl.String("id", "", "revoke: only the session with this public id")
	admin := fl.String("admin", "", "admin endpoint base URL (default http://metrics_listen)")
	if err := fl.Parse(args[1:]); err != nil {
		return err
	}
	switch {
	case *user == "":
		return errors.New("sessions: --user NAME is required")
	case *cfgPath == "":
		return errors.New("sessions: --config FILE or DAVGATE_CONFIG is required")
	case *id != "" && verb == "list":
		return errors.New("sessions list: --id is for revoke")
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	base := *admin
	if base == "" {
		if base, err = adminBase(cfg.MetricsListen); err != nil {
			return err
		}
	}
	kr, err := session.LoadKeyring(cfg.MasterKeyFile)
	if err != nil {
		return fmt.Errorf("sessions: master_key_file: %w", err)
	}
	q := url.Values{"user": {*user}}
	if *id != "" {
		q.Set("id", *id)
	}
	method := http.MethodGet
	if verb == "revoke" {
		method = http.MethodDelete
	}
	body, err := adminRequest(ctx, kr, method, base, "/admin/v1/sessions?"+q.Encode())
	if err != nil {
		return err
	}
	if verb == "list" {
		return printSessions(stdout, *user, body)
	}
	var out struct{ Revoked int }
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("sessions revoke: malformed answer: %w", err)
	}
	fmt.Fprintf(stdout, "revoked %d session(s) of %s\n", out.Revoked, *user)
	return nil
}

// adminBase is the admin endpoint's base URL on metrics_listen; a
// wildcard host is reached on loopback.
func adminBase(listen string) (string, error) {
	if listen == "" {
		return "", errors.New("sessions: metrics_listen is not set: the admin endpoint is served there (or give --admin URL)")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "0" {
		return "", fmt.Errorf("sessions: metrics_listen %q names no fixed port: give --admin URL", listen)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// adminRequest sends one admin request, authenticated by an admin token
// for it, and returns the body of a 200 answer.
func adminRequest(ctx context.Context, kr *session.Keyring, method, base, uri string) ([]byte, error) {
	tok, err := kr.SealAdmin(method+" "+uri, time.Now())
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, base+uri, nil)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	req.Header.Set("Authorization", "DavgateAdmin "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sessions: is davgate running? %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		json.Unmarshal(body, &e)
		return nil, fmt.Errorf("sessions: %s: %s", resp.Status, e.Error)
	}
	return body, nil
}

func printSessions(w io.Writer, user string, body []byte) error {
	var list []adminSession
	if err := json.Unmarshal(body, &list); err != nil {
		return fmt.Errorf("sessions list: malformed answer: %w", err)
	}
	if len(list) == 0 {
		fmt.Fprintf(w, "%s has no sessions\n", user)
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tLABEL\tCREATED\tLAST USED\tEXPIRES")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.Kind, s.Label, s.CreatedAt.Format(time.RFC3339),
			s.LastUsedAt.Format(time.RFC3339), s.ExpiresAt.Format(time.RFC3339))
	}
	return tw.Flush()
}
