package authn

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"

	"github.com/davgate/davgate/session"
)

// A flow's record is bound to the server: its Binding seals, under the
// master keys (session.Manager.SealValue), a digest of every other field.
// Without it, anyone who can write to the store could swap a pending
// flow's poll verifier and key for their own and collect the device token
// when the user approves, or mark a flow approved with a token of their
// own sealed to its public poll key, so that the user's app works in
// their account. A flow whose binding does not match is refused as if it
// were not there, and logged.

const flowBindPurpose = "davgate login flow record"

// errFlowAltered is a flow whose record does not match its binding.
var errFlowAltered = errors.New("login flow record altered in the store")

// flowDigest hashes every field of f but Binding, each length-prefixed.
func flowDigest(f *session.Flow) []byte {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	str := func(s string) { field([]byte(s)) }
	num := func(v int64) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(v))
		field(n[:])
	}
	str("davgate login flow v1")
	str(f.Key)
	str(f.Client)
	str(f.From)
	num(f.Created.UnixNano())
	num(f.Expires.UnixMilli())
	field(f.Verifier)
	field(f.PollKey)
	str(string(f.State))
	str(f.User)
	str(f.DeviceID)
	field(f.Sealed)
	return h.Sum(nil)
}

// bind sets f.Binding for f's fields as they are now.
func (lf *LoginFlows) bind(f *session.Flow) error {
	b, err := lf.Logon.Sessions.SealValue(flowBindPurpose, flowDigest(f))
	if err != nil {
		return err
	}
	f.Binding = b
	return nil
}

// checkBound returns errFlowAltered unless f's binding matches its fields.
func (lf *LoginFlows) checkBound(f *session.Flow) error {
	d, err := lf.Logon.Sessions.OpenValue(flowBindPurpose, f.Binding)
	if err != nil || subtle.ConstantTimeCompare(d, flowDigest(f)) != 1 {
		return errFlowAltered
	}
	return nil
}

// readFlow is Store.Flow for a flow whose binding matches; an altered one
// is logged and answered as session.ErrNotFound.
func (lf *LoginFlows) readFlow(ctx context.Context, key string) (*session.Flow, error) {
	f, err := lf.Store.Flow(ctx, key)
	if err != nil {
		return nil, err
	}
	return lf.bound(ctx, f)
}

// takeFlow is Store.TakeFlow, checked as readFlow checks.
func (lf *LoginFlows) takeFlow(ctx context.Context, key string) (*session.Flow, error) {
	f, err := lf.Store.TakeFlow(ctx, key)
	if err != nil {
		return nil, err
	}
	return lf.bound(ctx, f)
}

func (lf *LoginFlows) bound(ctx context.Context, f *session.Flow) (*session.Flow, error) {
	if err := lf.checkBound(f); err != nil {
		lf.Logon.Log.ErrorContext(ctx, "login flow refused", "err", err, "client_name", f.Client, "state", string(f.State))
		return nil, session.ErrNotFound
	}
	return f, nil
}
