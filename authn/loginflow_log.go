package authn

import (
	"net/http"
	"strings"

	"github.com/davgate/davgate/internal/httplog"
)

// HideFlowCode keeps a flow's URL code out of the request's log lines:
// whoever read it there within the flow's lifetime could approve the flow
// with their own account (the user's app would then work in theirs) or
// deny it. The path is logged with the code's first 4 characters, enough
// to tell requests apart; wrap the flow page's routes, outside Require.
func HideFlowCode(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := httplog.FromContext(r.Context()); i != nil {
			if code, ok := strings.CutPrefix(i.Path, FlowPagePrefix); ok {
				if len(code) > 4 {
					code = code[:4] + "…"
				}
				i.Path = FlowPagePrefix + code
			}
		}
		next.ServeHTTP(w, r)
	})
}
