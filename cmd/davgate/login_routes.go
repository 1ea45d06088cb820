package main

import (
	"net/http"

	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/session"
)

// loginFlowRoutes serves the log-on flow for apps (authn.LoginFlows):
// starting and polling need no session; the approval page and its answer
// are a logged-on browser's.
func loginFlowRoutes(mux *http.ServeMux, d serverDeps, browser *authn.Middleware) {
	store := d.flows
	if store == nil {
		store = session.NewMemoryStore()
	}
	lf := &authn.LoginFlows{Logon: d.logon, Store: store}
	mux.Handle("POST /api/v1/login-flows", lf.HandleStart())
	mux.Handle("POST "+authn.FlowPollPath, lf.HandlePoll())
	mux.Handle("GET "+authn.FlowPagePrefix+"{code}", browser.Require(lf.HandlePage()))
	mux.Handle("POST "+authn.FlowPagePrefix+"{code}", browser.Require(lf.HandleAnswer()))
}

// flowStore keeps the log-on flows in the session store when it can
// (memory, Redis: shared by every instance that shares the store), else
// in this process.
func flowStore(s session.Store) session.FlowStore {
	if f, ok := s.(session.FlowStore); ok {
		return f
	}
	return session.NewMemoryStore()
}
