package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// `davgate login https://server/`: the command-line client of the app
// log-on flow (authn.LoginFlows). It starts a flow, shows its URL (and a
// QR code of it) on stderr, polls until the user answers in a browser,
// and then writes an rclone remote or prints the device token: only the
// token goes to stdout, so that TOKEN=$(davgate login ...) works.

const loginUsage = `usage: davgate login https://server/ [flags]

Connects an app or script to davgate without its password: open the
address shown (or scan the QR code), log on in the browser and allow the
request. Without --rclone the device token is printed on stdout.

`

type loginOptions struct {
	server       *url.URL
	name         string
	rclone       string // remote to write, "" to print the token
	rcloneConfig string
	force        bool
	caFile       string
	qr           bool
}

// runLogin runs `davgate login`.
func runLogin(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, err := parseLoginArgs(args, stderr)
	if err != nil {
		return err
	}
	var rc *rcloneTarget
	if o.rclone != "" {
		// Checked before the flow starts, so that nobody approves a
		// token that then cannot be written.
		if rc, err = newRcloneTarget(o.rcloneConfig, o.rclone, o.force, getenv); err != nil {
			return fmt.Errorf("login: %w", err)
		}
	}
	hc, err := loginClient(o.caFile)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if o.server.Scheme == "http" && !loopbackHost(o.server.Hostname()) {
		fmt.Fprintf(stderr, "warning: %s is plain HTTP: the token will cross the network unencrypted\n", o.server.Host)
	}
	fl, err := startLogin(ctx, hc, o.server, o.name)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	showLoginURL(stderr, fl, o.name, o.qr, useANSI(stderr, getenv))
	res, err := waitForApproval(ctx, hc, o.server, fl, stderr)
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if rc == nil {
		fmt.Fprintf(stderr, "Allowed: a device token for %s, listed on the Devices page as %q.\n", res.User, res.Label)
		fmt.Fprintln(stdout, res.Token)
		return nil
	}
	dav := o.server.JoinPath("/dav/").String()
	if err := rc.write(dav, res.User, res.Token); err != nil {
		return fmt.Errorf("login: the token was issued but not written: %w", err)
	}
	fmt.Fprintf(stderr, "Allowed: rclone remote %q (%s as %s) written to %s.\nTry: rclone lsf %s:\n", rc.remote, dav, res.User, rc.path, rc.remote)
	return nil
}

func parseLoginArgs(args []string, stderr io.Writer) (loginOptions, error) {
	fl := flag.NewFlagSet("login", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.Usage = func() { fmt.Fprint(stderr, loginUsage); fl.PrintDefaults() }
	var o loginOptions
	host, _ := os.Hostname()
	fl.StringVar(&o.name, "name", "", `the name the request shows and the device gets (default "davgate login on HOST", or "rclone on HOST")`)
	fl.StringVar(&o.rclone, "rclone", "", "write an rclone remote of this name instead of printing the token")
	fl.StringVar(&o.rcloneConfig, "rclone-config", "", "rclone config file (default $RCLONE_CONFIG, else rclone's own default)")
	fl.BoolVar(&o.force, "force", false, "replace an rclone remote of the same name")
	fl.StringVar(&o.caFile, "ca-file", "", "PEM file of CA certificates to trust for the server, besides the system's")
	noQR := fl.Bool("no-qr", false, "do not draw a QR code of the address")
	// Flags may come before or after the server's address.
	var pos []string
	for {
		if err := fl.Parse(args); err != nil {
			return o, err
		}
		if fl.NArg() == 0 {
			break
		}
		pos, args = append(pos, fl.Arg(0)), fl.Args()[1:]
	}
	if len(pos) != 1 {
		fl.Usage()
		return o, errors.New("login: give the server's address, e.g. davgate login https://files.example.com/")
	}
	u, err := serverURL(pos[0])
	if err != nil {
		return o, fmt.Errorf("login: %w", err)
	}
	o.server, o.qr = u, !*noQR
	if o.name == "" {
		o.name = "davgate login on " + host
		if o.rclone != "" {
			o.name = "rclone on " + host
		}
	}
	return o, nil
}

// serverURL is the server's root from what the user typed: https:// if no
// scheme is given; a path of /dav/ is dropped, any other refused.
func serverURL(s string) (*url.URL, error) {
	if !strings.Contains(s, "://") {
		s = "https://" + s
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("%q is not a server address like https://files.example.com/", s)
	}
	switch strings.TrimSuffix(u.Path, "/") {
	case "", "/dav":
	default:
		return nil, fmt.Errorf("%q: give the server's address without a path", s)
	}
	return &url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/"}, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// loginClient is an HTTP client that trusts the system's CAs and caFile's.
func loginClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file: %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// loginFlow is what POST /api/v1/login-flows answers.
type loginFlow struct {
	LoginURL string `json:"login_url"`
	Poll     struct {
		URL      string `json:"url"`
		Token    string `json:"token"`
		Interval int    `json:"interval"`
	} `json:"poll"`
	ExpiresIn int `json:"expires_in"`
}

// loginResult is a poll's answer.
type loginResult struct {
	Status, Error, Token, User, ID, Label string
}

// postJSON posts v and decodes the JSON answer into out.
func postJSON(ctx context.Context, hc *http.Client, u string, v, out any) (*http.Response, error) {
	body, _ := json.Marshal(v)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp, fmt.Errorf("%s answered %s, not davgate's JSON", u, resp.Status)
	}
	return resp, nil
}

func startLogin(ctx context.Context, hc *http.Client, server *url.URL, name string) (loginFlow, error) {
	var out struct {
		loginFlow
		Error string `json:"error"`
	}
	resp, err := postJSON(ctx, hc, server.JoinPath("/api/v1/login-flows").String(), map[string]string{"client_name": name}, &out)
	if err != nil {
		return loginFlow{}, fmt.Errorf("start: %w", err)
	}
	if resp.StatusCode != http.StatusCreated {
		return loginFlow{}, fmt.Errorf("start: %s answered %s %s", server.Host, resp.Status, out.Error)
	}
	if out.LoginURL == "" || out.Poll.Token == "" {
		return loginFlow{}, fmt.Errorf("start: %s did not answer as davgate does", server.Host)
	}
	return out.loginFlow, nil
}

var (
	errDenied  = errors.New("the request was denied in the browser")
	errExpired = errors.New("the request expired before it was allowed; run davgate login again")
)

// waitForApproval polls until the flow is answered or gone: every
// interval while pending, slowing down to 5 s, and backing off to 30 s
// while the server is unreachable or busy.
func waitForApproval(ctx context.Context, hc *http.Client, server *url.URL, fl loginFlow, stderr io.Writer) (loginResult, error) {
	pollURL, err := server.Parse(fl.Poll.URL)
	if err != nil || pollURL.Host != server.Host {
		return loginResult{}, fmt.Errorf("the server's poll address %q is not on %s", fl.Poll.URL, server.Host)
	}
	interval := time.Duration(max(fl.Poll.Interval, 1)) * time.Second
	deadline := time.Now().Add(time.Duration(max(fl.ExpiresIn, 60))*time.Second + 30*time.Second)
	wait, troubled := interval, false
	for {
		select {
		case <-ctx.Done():
			return loginResult{}, errors.New("stopped before the request was answered")
		case <-time.After(wait):
		}
		var res loginResult
		resp, err := postJSON(ctx, hc, pollURL.String(), map[string]string{"token": fl.Poll.Token}, &res)
		switch {
		case ctx.Err() != nil:
			continue
		case err != nil || resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			if !troubled {
				fmt.Fprintf(stderr, "cannot ask %s now (%v); still trying\n", server.Host, pollTrouble(resp, err))
				troubled = true
			}
			wait = min(2*wait, 30*time.Second)
			if resp != nil && resp.StatusCode == http.StatusTooManyRequests {
				if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
					wait = max(wait, time.Duration(s)*time.Second)
				}
			}
		case resp.StatusCode == http.StatusOK && res.Token != "":
			return res, nil
		case resp.StatusCode == http.StatusAccepted:
			wait, troubled = min(wait+wait/4, max(interval, 5*time.Second)), false
		case resp.StatusCode == http.StatusForbidden:
			return loginResult{}, errDenied
		case resp.StatusCode == http.StatusGone:
			return loginResult{}, errExpired
		default:
			return loginResult{}, fmt.Errorf("poll: %s answered %s %s", server.Host, resp.Status, res.Error)
		}
		if time.Now().After(deadline) {
			return loginResult{}, errExpired
		}
	}
}

func pollTrouble(resp *http.Response, err error) any {
	if err != nil {
		return err
	}
	return resp.Status
}

// showLoginURL tells the user what to open, on stderr.
func showLoginURL(w io.Writer, fl loginFlow, name string, qr, ansi bool) {
	fmt.Fprintf(w, "To allow %q to access your files, open this address in a browser and log on:\n\n    %s\n\n", name, fl.LoginURL)
	if qr {
		if err := writeQR(w, fl.LoginURL, ansi); err == nil {
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintf(w, "Waiting for your answer (the request expires in %d minutes; Ctrl-C stops)...\n", max(fl.ExpiresIn/60, 1))
}
