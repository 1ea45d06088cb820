// Package session owns davgate's sessions: the master keyring, the sealed
// tokens handed to clients, the session records in a store (memory, a
// bbolt file, or Redis), and the per-session pool of SMB connections opened with the
// user's stored credentials.
//
// What it protects against (the security model of davgate's design):
//
//   - A stolen store (memory dump, store file, Redis dump): records are keyed by
//     H(sid) = hex(SHA-256(sid)) and hold the password only as
//     AES-256-GCM(K, password, aad = "pw"|sid|user). K, the per-session key,
//     exists only inside the client's token, so a store dump yields neither
//     tokens nor passwords.
//   - A stolen or altered token: tokens are sealed with AES-256-GCM under a
//     master key chosen by key id from the keyring; any change, an unknown
//     key id or a passed expiry is refused. Keys rotate: the newest key
//     seals, every key in the file opens.
//   - A stolen client device: the client holds only the token, never the
//     ciphertext; the token dies when its session is revoked or expires.
//   - Locked directory accounts: when a file server (or, for Kerberos
//     log-ons, the KDC) refuses the stored credentials the pool reports
//     ErrLogonFailure and never dials with them again, nor tries them with
//     another mechanism; the caller ends the session.
//
// Passwords, tokens and keys never appear in errors or logs written by this
// package.
package session
