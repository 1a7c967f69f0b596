package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// ErrExposed means the dashboard was asked to listen beyond this machine with neither
// authentication nor read-only mode: anyone who can reach the port could clear queues.
var ErrExposed = errors.New("refusing to serve the dashboard beyond loopback without --auth or --read-only")

// CheckListen refuses, with an error wrapping ErrExposed, an address that is not loopback
// (127.0.0.0/8, ::1, localhost) when o asks for no authentication and allows actions. An empty
// host (":8080") listens on every interface and counts as not loopback.
func CheckListen(addr string, o Options) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if o.Auth != "" || o.ReadOnly || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("%w: %s is reachable from other machines; add --auth user:password (or QCTL_DASHBOARD_AUTH), or --read-only", ErrExposed, addr)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Serve listens on addr and serves h until ctx ends, then lets requests in flight finish (for up
// to five seconds). listening, when not nil, is called with the bound address once the port is
// open (addr may name port 0).
func Serve(ctx context.Context, addr string, h http.Handler, listening func(addr string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if listening != nil {
		listening(ln.Addr().String())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return err
	}
	<-done
	return nil
}
