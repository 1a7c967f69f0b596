package connectortest

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireService skips t when nothing listens on addr, with a message saying how to start the
// service, unless QCTL_REQUIRE_SERVICES=1 (set by CI), where an unreachable service fails the test.
// It lets `go test ./...` pass on a laptop with no servers while CI always covers every backend.
func RequireService(t testing.TB, name, addr, howToStart string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err == nil {
		conn.Close()
		return
	}
	Missing(t, name+" is not reachable at "+addr+" ("+err.Error()+"); start it with: "+howToStart)
}

// Missing skips t for want of what msg names (a service, a tool, PHP packages) and how to get it,
// or fails t under QCTL_REQUIRE_SERVICES=1. Without -v, `go test ./...` shows nothing of a passing
// package, so the first skip for each msg is also written, once per test binary, to the terminal
// (/dev/tty) the tests were started from: otherwise a package whose every test skipped would
// just print "ok".
func Missing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("QCTL_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg + " [QCTL_REQUIRE_SERVICES=1]")
	}
	announce(msg)
	t.Skip(msg)
}

var (
	announcedMu sync.Mutex
	announced   = map[string]bool{}
	// announceTo opens where skips are announced; tests replace it.
	announceTo = func() (io.WriteCloser, error) { return os.OpenFile("/dev/tty", os.O_WRONLY, 0) }
)

// announce writes "qctl tests: <package>: skipping tests: msg" once per msg, to the terminal when
// there is one (no terminal, as in CI: nothing, the -v log has the skips).
func announce(msg string) {
	announcedMu.Lock()
	defer announcedMu.Unlock()
	if announced[msg] {
		return
	}
	announced[msg] = true
	w, err := announceTo()
	if err != nil {
		return
	}
	defer w.Close()
	pkg := strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
	fmt.Fprintf(w, "qctl tests: %s: skipping tests: %s\n", pkg, msg)
}
