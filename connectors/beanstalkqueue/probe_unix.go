//go:build linux || darwin || freebsd

package beanstalkqueue

import (
	"net"
	"syscall"
)

// peerClosed reports whether an idle connection is no longer usable: the server closed it (it
// restarted, or dropped us) or sent bytes nobody asked for. It peeks without blocking or consuming.
func peerClosed(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	closed := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == syscall.EAGAIN || err == syscall.EWOULDBLOCK || err == syscall.EINTR:
			// Nothing to read: the connection is open and in step.
		default:
			closed = true // an error, the server's close (n == 0), or unsolicited bytes (n > 0)
		}
		return true
	})
	return closed || err != nil
}
