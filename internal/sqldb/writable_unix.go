//go:build unix

package sqldb

import "golang.org/x/sys/unix"

// writable reports whether this process's user may write path (access(2), so root may write
// anything on a read-write file system).
func writable(path string) bool { return unix.Access(path, unix.W_OK) == nil }
