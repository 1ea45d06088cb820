package authn

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// Poll limits of the app log-on flow, kept in the log-on limiter's store
// (memory, file or Redis: every instance sees the same counts):
//
//   - per flow: a poll that finds the flow still pending less than 3/4 of
//     the advertised interval after the one before is answered 429
//     "slow_down" with Retry-After, as RFC 8628's slow_down answers a
//     device polling too fast; a poll that would collect the token, or
//     learn that the flow was denied or is gone, is never held back;
//   - per client address (IPv6 by its /64): at most flowPollAddrMax polls
//     in each flowPollWindow, whatever the flows or tokens, then 429 until
//     the window ends.
//
// Starts are limited per address by flowStartPolicy.
const (
	flowPollWindow  = 10 * time.Second
	flowPollAddrMax = 30 // 15 apps polling every 2 s behind one address
)

// flowPollPolicy lets one pending poll per flow through every 3/4 of the
// advertised interval.
var flowPollPolicy = LimitPolicy{Free: 1, Base: flowPollInterval * 3 / 4, Max: flowPollInterval * 3 / 4, Forget: flowPollInterval * 3 / 4}

// flowPollAddrPolicy counts one address's polls in one window (its key
// names the window): flowPollAddrMax, then none until the key's window
// is over.
var flowPollAddrPolicy = LimitPolicy{Free: flowPollAddrMax, Base: flowPollWindow, Max: flowPollWindow, Forget: flowPollWindow}

// pollAddrLimited reserves a poll for the request's client address and,
// when the address has polled too often, answers 429 and reports true.
func (lf *LoginFlows) pollAddrLimited(w http.ResponseWriter, r *http.Request, client string) bool {
	now := lf.now()
	win := now.UnixNano() / int64(flowPollWindow)
	key := "fp:" + addrLimitKey(client) + ":" + strconv.FormatInt(win, 10)
	wait, err := lf.Logon.Limiter.Store.Reserve(r.Context(), flowPollAddrPolicy, key)
	if err != nil {
		lf.Logon.Log.ErrorContext(r.Context(), "login flow poll rate limit", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, flowAnswer{Status: "error", Error: statusMessage(http.StatusServiceUnavailable)})
		return true
	}
	if wait <= 0 {
		return false
	}
	wait = min(wait, time.Unix(0, (win+1)*int64(flowPollWindow)).Sub(now))
	lf.Logon.Log.WarnContext(r.Context(), "login flow polls rate limited", "retry_after_s", retryAfter(wait))
	w.Header().Set("Retry-After", retryAfter(wait))
	writeJSON(w, http.StatusTooManyRequests, flowAnswer{Status: "slow_down",
		Error: "too many polls from this address, try again later", Interval: int(flowPollInterval / time.Second)})
	return true
}

// pollTooSoon reserves a pending poll of the flow under key and returns
// how long the app must still wait, 0 if it may poll now. A store that
// cannot count lets the poll through: the answer is only "pending".
func (lf *LoginFlows) pollTooSoon(ctx context.Context, key string) time.Duration {
	wait, err := lf.Logon.Limiter.Store.Reserve(ctx, flowPollPolicy, "fq:"+key)
	if err != nil {
		lf.Logon.Log.ErrorContext(ctx, "login flow poll interval", "err", err)
		return 0
	}
	return wait
}

// slowDown is the answer to a pending poll sent too soon.
func slowDown(wait time.Duration) flowAnswer {
	return flowAnswer{Status: "slow_down", Error: "polling faster than the interval; wait retry_after seconds",
		Interval: int(flowPollInterval / time.Second), RetryAfter: retrySeconds(wait)}
}
