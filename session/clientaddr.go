package session

import "context"

type clientAddrKey struct{}

// WithClientAddr returns ctx carrying the client address of the request it
// serves. Create records it as a new session's last address, and Open moves
// the session's last address to it, so that a user's session list shows
// where each device was last used from.
func WithClientAddr(ctx context.Context, addr string) context.Context {
	return context.WithValue(ctx, clientAddrKey{}, addr)
}

// clientAddr returns the address WithClientAddr put in ctx, or "".
func clientAddr(ctx context.Context) string {
	a, _ := ctx.Value(clientAddrKey{}).(string)
	return a
}
