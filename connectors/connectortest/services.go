package connectortest

import (
	"net"
	"os"
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
	msg := name + " is not reachable at " + addr + " (" + err.Error() + "); start it with: " + howToStart
	if os.Getenv("QCTL_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg + " [QCTL_REQUIRE_SERVICES=1]")
	}
	t.Skip(msg)
}
