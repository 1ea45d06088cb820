package davfs

// LockSystem stores WebDAV locks (RFC 4918 section 6). placeholder
type LockSystem interface{}

// NewMemoryLocks returns an in-memory lock system.
func NewMemoryLocks() LockSystem { return struct{}{} }
