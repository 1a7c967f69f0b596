//go:build !linux

package listener

import "syscall"

// killSession SIGKILLs the child's process group; without /proc, exec handlers in groups of
// their own are left to their own timeouts.
func killSession(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }

// residentBytes is not available without /proc: memory is then not enforced on children.
func residentBytes(int) uint64 { return 0 }
