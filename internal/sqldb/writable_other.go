//go:build !unix

package sqldb

// writable leaves the answer to SQLite where access(2) does not exist.
func writable(string) bool { return true }
