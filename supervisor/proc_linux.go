//go:build linux

package supervisor

import "syscall"

// childAttr puts a child in a process group of its own (a terminal's Ctrl-C reaches only the
// master, which then stops children gracefully) and has the kernel send it TERM if the master
// dies, so a killed master leaves no worker behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
