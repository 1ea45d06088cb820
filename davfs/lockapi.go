package davfs

// The rules of lock scope, exported for LockSystem implementations outside
// this package (davfs/redislocks), so that every implementation decides
// conflicts the same way as MemoryLocks.

// Conflicts reports whether l and o may not both be held (RFC 4918
// sections 6.1 and 6.2): their scopes overlap and one is exclusive.
func (l Lock) Conflicts(o Lock) bool { return l.conflicts(&o) }

// Applies reports whether l is one that LockSystem.Find(name, below)
// returns: it covers name, or (below) it is on a resource below name.
func (l Lock) Applies(name string, below bool) bool {
	return l.covers(name) || (below && isBelow(l.Root, name))
}
