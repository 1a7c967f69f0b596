package redisqueue

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestSentinel runs the conformance suite through a private Sentinel watching a private master.
func TestSentinel(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a master and a sentinel")
	}
	master := startPrivateRedis(t, 0)
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	err := os.WriteFile(conf, []byte("sentinel monitor qctlmaster 127.0.0.1 "+strconv.Itoa(master.port)+" 1\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	sentinel := startPrivateRedis(t, 0, conf, "--sentinel")
	inspect := sharedClientAt(t, master.addr())
	conformance(t, inspect, Options{Addrs: []string{sentinel.addr()}, MasterName: "qctlmaster"})
}
