package redisqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors/connectortest"
)

// sharedAddr is the development and CI Redis. Tests never flush it: each isolates itself under a
// random key prefix and deletes its keys when done.
const sharedAddr = "127.0.0.1:6379"

func requireRedis(t testing.TB) {
	t.Helper()
	connectortest.RequireService(t, "Redis", sharedAddr, "redis-server --daemonize yes")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testPrefix returns a key prefix unique to t and deletes every key under it when t ends.
func testPrefix(t testing.TB, client redis.UniversalClient) string {
	t.Helper()
	prefix := "qctl-test-" + randomHex(6) + ":"
	t.Cleanup(func() { deleteKeys(t, client, prefix) })
	return prefix
}

// deleteKeys removes every key starting with prefix, on every master of a cluster.
func deleteKeys(t testing.TB, client redis.UniversalClient, prefix string) {
	ctx := context.Background()
	del := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := c.Del(ctx, iter.Val()).Err(); err != nil {
				return err
			}
		}
		return iter.Err()
	}
	var err error
	switch c := client.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, del)
	case *redis.Client:
		err = del(ctx, c)
	}
	if err != nil {
		t.Errorf("deleting test keys %s*: %v", prefix, err)
	}
}

// sharedClient is a plain client on the shared Redis for inspecting keys.
func sharedClient(t testing.TB) *redis.Client {
	t.Helper()
	requireRedis(t)
	c := redis.NewClient(&redis.Options{Addr: sharedAddr})
	t.Cleanup(func() { c.Close() })
	return c
}

// sharedClientAt is a plain client on a private server for inspecting keys.
func sharedClientAt(t testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// freePort returns a TCP port nobody listens on (nor on port+10000, a cluster node's bus port).
func freePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port+10000 > 65535 {
			continue
		}
		if bus, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port+10000)); err == nil {
			bus.Close()
			return port
		}
	}
	t.Fatal("no free port pair found")
	return 0
}

// privateRedis is a redis-server this test started and owns; it may be stopped and restarted.
type privateRedis struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// startPrivateRedis starts a redis-server without persistence on a free port (or port, if not 0),
// with extra arguments first
// and stops it when t ends. It skips t when redis-server is not installed, unless services are
// required.
func startPrivateRedis(t testing.TB, port int, extra ...string) *privateRedis {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		connectortest.Missing(t, "redis-server is not installed (apt-get install redis-server)")
	}
	if port == 0 {
		port = freePort(t)
	}
	s := &privateRedis{t: t, port: port, dir: t.TempDir()}
	s.args = append(s.args, extra...) // a config file (sentinel.conf) must come first
	s.args = append(s.args, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", s.dir, "--daemonize", "no", "--loglevel", "warning")
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *privateRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *privateRedis) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", s.args...)
	s.cmd.Stdout, _ = os.Create(filepath.Join(s.dir, fmt.Sprintf("stdout-%d.log", time.Now().UnixNano())))
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("starting redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: s.addr(), MaxRetries: -1})
	defer c.Close()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c.Ping(context.Background()).Err() == nil {
			return
		}
	}
	s.stop()
	s.t.Fatalf("redis-server on %s did not answer within 10s", s.addr())
}

// stop sends SIGTERM to this test's own redis-server process and waits for it to exit.
func (s *privateRedis) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
}
