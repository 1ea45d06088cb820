package main

import (
	"github.com/davgate/davgate/authn"
	"github.com/davgate/davgate/session"
)

// loginFlows serves the log-on flow for apps (authn.LoginFlows) from the
// deps' flow store, or one in this process.
func loginFlows(d serverDeps) *authn.LoginFlows {
	store := d.flows
	if store == nil {
		store = session.NewMemoryStore()
	}
	return &authn.LoginFlows{Logon: d.logon, Store: store, TTL: d.flowTTL}
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
