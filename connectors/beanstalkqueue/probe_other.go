//go:build !(linux || darwin || freebsd)

package beanstalkqueue

import "net"

// peerClosed cannot peek at a socket on this platform; a dead idle connection is found by the
// operation that uses it, which fails once and drops the server's other idle connections.
func peerClosed(net.Conn) bool { return false }
