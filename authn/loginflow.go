package authn

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/davgate/davgate/internal/httplog"
	"github.com/davgate/davgate/session"
)

// The log-on flow for apps and scripts, which never asks them for the
// password:
//
//	app      POST /api/v1/login-flows {"client_name": "rclone on laptop"}
//	         → 201 login_url, poll.url, poll.token
//	user     opens login_url in a browser, logs on there if needed, and
//	         answers "Allow rclone on laptop to access your files?"
//	app      POST /api/v1/login-flows/poll {"token": poll.token}
//	         → 202 pending ... → 200 with a device token, once → 410
//
// Allow prepares a device session from the browser session, labelled
// with the client's name, and stores nothing of it but sealed in the flow
// (session.Manager.PrepareFrom); the poll that collects it mints it
// (session.Manager.Mint), and only then is it listed, audited as minted
// and its token accepted. A flow approved and never collected expires
// with everything it holds. What the store keeps and how the token waits
// for its poll: loginflow_seal.go.
//
// It protects against: a leaked URL (it lets its finder approve for
// themselves, never collect a token: that takes the poll token, a
// different secret); a leaked store (no code, poll token or device token
// in it); replay (a flow is settled once and its token taken once); and
// cross-site approval (the answer is a browser write, CSRF-checked by
// Middleware like every other). The page shows where and when the flow
// was started, so that a user sent someone else's link can tell.

// Login flow paths and limits.
const (
	// FlowPagePrefix is where a flow's approval page is served:
	// FlowPagePrefix + code.
	FlowPagePrefix = "/login-flows/"
	// FlowPollPath is where apps poll.
	FlowPollPath = "/api/v1/login-flows/poll"
	// DefaultFlowTTL is how long a flow can be answered and collected.
	DefaultFlowTTL = 10 * time.Minute
	// MaxClientName is the longest client_name, in characters.
	MaxClientName = 64
	// flowPollInterval is the least time between polls apps are asked for.
	flowPollInterval = 2 * time.Second
)

// flowStartPolicy limits flow starts per client address: 10 at once, then
// one every 2 s doubling to a minute, forgotten after 10 quiet minutes.
var flowStartPolicy = LimitPolicy{Free: 10, Base: 2 * time.Second, Max: time.Minute, Forget: 10 * time.Minute}

// LoginFlows serves the log-on flow for apps.
type LoginFlows struct {
	// Logon gives the sessions, the rate limiter's store and the log. Required.
	Logon *Logon
	// Store keeps the flows. Required.
	Store session.FlowStore
	// TTL is how long a flow lives; 0 means DefaultFlowTTL.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (lf *LoginFlows) now() time.Time {
	if lf.Now != nil {
		return lf.Now()
	}
	return time.Now()
}

func (lf *LoginFlows) ttl() time.Duration {
	if lf.TTL > 0 {
		return lf.TTL
	}
	return DefaultFlowTTL
}

// flowStarted is the answer to POST /api/v1/login-flows.
type flowStarted struct {
	LoginURL  string    `json:"login_url"`
	Poll      flowPoll  `json:"poll"`
	ExpiresAt time.Time `json:"expires_at"`
	ExpiresIn int       `json:"expires_in"` // seconds
}

type flowPoll struct {
	URL      string `json:"url"`
	Token    string `json:"token"`
	Interval int    `json:"interval"` // seconds between polls
}

// HandleStart serves POST /api/v1/login-flows {"client_name": "..."}; it
// needs no session.
func (lf *LoginFlows) HandleStart() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, err := readFlowStart(w, r)
		if err != nil {
			writeBodyError(w, err)
			return
		}
		ctx := r.Context()
		client := httplog.ClientAddr(r)
		wait, err := lf.Logon.Limiter.Store.Reserve(ctx, flowStartPolicy, "f:"+addrLimitKey(client))
		if err != nil {
			lf.Logon.Log.ErrorContext(ctx, "login flow rate limit", "err", err)
			writeJSONError(w, http.StatusServiceUnavailable, statusMessage(http.StatusServiceUnavailable))
			return
		}
		if wait > 0 {
			w.Header().Set("Retry-After", retryAfter(wait))
			writeJSONError(w, http.StatusTooManyRequests, "too many log-on flows started, try again later")
			return
		}
		out, err := lf.start(r, name, client)
		if err != nil {
			lf.Logon.Log.ErrorContext(ctx, "start login flow", "err", err)
			writeJSONError(w, http.StatusServiceUnavailable, statusMessage(http.StatusServiceUnavailable))
			return
		}
		lf.Logon.Log.InfoContext(ctx, "login flow started", "client_name", name)
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, http.StatusCreated, out)
	})
}

// start stores a new pending flow and returns what the app is told.
func (lf *LoginFlows) start(r *http.Request, name, client string) (flowStarted, error) {
	sec, err := newFlowSecrets()
	if err != nil {
		return flowStarted{}, err
	}
	now := lf.now()
	f := &session.Flow{Key: sec.key, Client: name, From: client, Created: now, Expires: now.Add(lf.ttl()),
		Verifier: sec.verifier, PollKey: sec.pollKey, State: session.FlowPending}
	if err := lf.bind(f); err != nil {
		return flowStarted{}, err
	}
	if err := lf.Store.CreateFlow(r.Context(), f); err != nil {
		return flowStarted{}, err
	}
	return flowStarted{
		LoginURL:  serverOrigin(r) + FlowPagePrefix + sec.code,
		Poll:      flowPoll{URL: FlowPollPath, Token: sec.pollToken, Interval: int(flowPollInterval / time.Second)},
		ExpiresAt: f.Expires.UTC(),
		ExpiresIn: int(lf.ttl() / time.Second),
	}, nil
}

// readFlowStart reads and checks the client's name: 1 to MaxClientName
// printable characters (no control or bidi formatting characters, which
// could make the page say something else) that show (visibleName), spaces
// trimmed.
func readFlowStart(w http.ResponseWriter, r *http.Request) (string, error) {
	var req struct {
		ClientName string `json:"client_name"`
	}
	if err := readJSON(w, r, 4096, &req, `body must be a JSON object {"client_name": "..."}`); err != nil {
		return "", err
	}
	name := strings.TrimSpace(req.ClientName)
	if name == "" || utf8.RuneCountInString(name) > MaxClientName || !printable(name) || !visibleName(name) {
		return "", errors.New("client_name must be 1 to 64 printable characters with a letter or digit, no blank characters and at most 3 combining marks on one character")
	}
	return name, nil
}

// flowAnswer is the answer to a poll.
type flowAnswer struct {
	Status   string `json:"status"` // pending, approved, denied, expired
	Error    string `json:"error,omitempty"`
	Interval int    `json:"interval,omitempty"`
	Token    string `json:"token,omitempty"`
	User     string `json:"user,omitempty"`
	ID       string `json:"id,omitempty"`
	Label    string `json:"label,omitempty"`

	// RetryAfter is the wait, in seconds, of a 429 "slow_down" answer.
	RetryAfter int `json:"retry_after,omitempty"`
}

// HandlePoll serves POST /api/v1/login-flows/poll {"token": "..."}: 202
// pending, 200 with the device token once, 403 denied, 410 for a flow
// that is not there (expired, collected, never started, or a wrong
// token: all alike, so that a poll token reveals nothing).
func (lf *LoginFlows) HandlePoll() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if lf.pollAddrLimited(w, r, httplog.ClientAddr(r)) {
			return
		}
		key, secret, err := readPoll(w, r)
		if err != nil {
			writeBodyError(w, err)
			return
		}
		status, out := lf.poll(r, key, secret)
		if out.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(out.RetryAfter))
		}
		writeJSON(w, status, out)
	})
}

var flowGone = flowAnswer{Status: "expired", Error: "no such log-on flow: it expired, was collected already, or never started; start a new one"}

func (lf *LoginFlows) poll(r *http.Request, key string, secret []byte) (int, flowAnswer) {
	ctx := r.Context()
	unavailable := flowAnswer{Status: "error", Error: statusMessage(http.StatusServiceUnavailable)}
	f, err := lf.readFlow(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return http.StatusGone, flowGone
	}
	if err != nil {
		lf.Logon.Log.ErrorContext(ctx, "poll login flow", "err", err)
		return http.StatusServiceUnavailable, unavailable
	}
	if !pollMatches(f.Verifier, secret) {
		lf.Logon.Log.InfoContext(ctx, "login flow poll refused", "reason", "wrong poll secret")
		return http.StatusGone, flowGone
	}
	switch f.State {
	case session.FlowPending:
		if wait := lf.pollTooSoon(ctx, key); wait > 0 {
			return http.StatusTooManyRequests, slowDown(wait)
		}
		return http.StatusAccepted, flowAnswer{Status: "pending", Interval: int(flowPollInterval / time.Second)}
	case session.FlowDenied:
		return http.StatusForbidden, flowAnswer{Status: "denied", Error: "the user denied access"}
	}
	return lf.collect(r, key, secret)
}

// collect takes an approved flow and mints its device session
// (session.Manager.Mint) from what the approval sealed to the poll key.
func (lf *LoginFlows) collect(r *http.Request, key string, secret []byte) (int, flowAnswer) {
	ctx := r.Context()
	f, err := lf.takeFlow(ctx, key)
	if errors.Is(err, session.ErrNotFound) {
		return http.StatusGone, flowGone // another poll took it a moment ago
	}
	if err != nil {
		lf.Logon.Log.ErrorContext(ctx, "collect login flow", "err", err)
		return http.StatusServiceUnavailable, flowAnswer{Status: "error", Error: statusMessage(http.StatusServiceUnavailable)}
	}
	token, pending, err := openDevice(secret, key, f.Sealed)
	if err != nil {
		lf.Logon.Log.ErrorContext(ctx, "open login flow token", "err", err)
		return http.StatusGone, flowGone
	}
	info, err := lf.Logon.Sessions.Mint(session.WithClientAddr(ctx, httplog.ClientAddr(r)), token, pending)
	if errors.Is(err, session.ErrRevoked) {
		// The approving session ended since (log out everywhere, say).
		lf.Logon.Log.InfoContext(ctx, "login flow refused", "reason", "the approving session has ended", "logon_user", f.User)
		return http.StatusGone, flowGone
	}
	if errors.Is(err, session.ErrInvalidToken) {
		lf.Logon.Log.ErrorContext(ctx, "mint login flow device", "err", err)
		return http.StatusGone, flowGone
	}
	if err != nil {
		// The flow goes back as it was, so that the next poll tries again.
		lf.Logon.Log.ErrorContext(ctx, "mint login flow device", "err", err)
		if err := lf.Store.CreateFlow(ctx, f); err != nil {
			lf.Logon.Log.ErrorContext(ctx, "put back login flow", "err", err)
		}
		return http.StatusServiceUnavailable, flowAnswer{Status: "error", Error: statusMessage(http.StatusServiceUnavailable)}
	}
	lf.Logon.Log.InfoContext(ctx, "login flow collected", "logon_user", f.User, "session", info.ID)
	return http.StatusOK, flowAnswer{Status: "approved", Token: token, User: f.User, ID: info.ID, Label: f.Client}
}

func readPoll(w http.ResponseWriter, r *http.Request) (string, []byte, error) {
	var req struct {
		Token string `json:"token"`
	}
	if err := readJSON(w, r, 4096, &req, `body must be a JSON object {"token": "..."}`); err != nil {
		return "", nil, err
	}
	key, secret, err := pollSecret(req.Token)
	if err != nil {
		return "", nil, err
	}
	return key, secret, nil
}
