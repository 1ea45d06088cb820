//go:build !unix

package session

import "io/fs"

// readOnlyForOurGroup: elsewhere than Unix no group may read the keyring.
func readOnlyForOurGroup(fs.FileInfo) bool { return false }
