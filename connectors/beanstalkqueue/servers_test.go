package beanstalkqueue

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"

	"github.com/qctl/qctl/connectors"

	"github.com/qctl/qctl/connectors/connectortest"
)

// freeAddr returns a loopback address nothing listens on (the kernel picked the port).
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// privateServer is a beanstalkd of one test's own.
type privateServer struct {
	t    testing.TB
	addr string
	cmd  *exec.Cmd
}

// startServer runs `beanstalkd -l 127.0.0.1 -p PORT [args]` on addr's port and stops it when t
// ends.
func startServer(t testing.TB, addr string, args ...string) *privateServer {
	t.Helper()
	bin, err := exec.LookPath("beanstalkd")
	if err != nil {
		msg := "beanstalkd is not installed (apt-get install -y beanstalkd)"
		connectortest.Missing(t, msg)
	}
	host, port, _ := net.SplitHostPort(addr)
	s := &privateServer{t: t, addr: addr, cmd: exec.Command(bin, append([]string{"-l", host, "-p", port}, args...)...)}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start beanstalkd: %v", err)
	}
	t.Cleanup(s.stop)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("beanstalkd did not start listening on %s", addr)
		}
	}
}

// stop kills the server and waits for it to be gone. It is safe to call twice.
func (s *privateServer) stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
}

func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	_, err := Open(context.Background(), Options{Addr: addr})
	if !errors.Is(err, connectors.ErrUnavailable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("Open(%s) = %v, want ErrUnavailable naming the address", addr, err)
	}
}

// tubesByServer finds two tube names placed on each of the queue's two servers.
func tubesByServer(t *testing.T, q *Queue) map[*server][]string {
	byServer := map[*server][]string{}
	for i := 0; len(byServer[q.servers[0]]) < 2 || len(byServer[q.servers[1]]) < 2; i++ {
		tube := tubeName(t, "spread")
		if s := q.serverFor(tube); len(byServer[s]) < 2 {
			byServer[s] = append(byServer[s], tube)
		}
	}
	return byServer
}

func TestSeveralServers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srvA, srvB := startServer(t, freeAddr(t)), startServer(t, freeAddr(t))
	q, err := Open(ctx, Options{Addrs: []string{srvA.addr, srvB.addr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	a, b := q.servers[0], q.servers[1]
	tubes := tubesByServer(t, q)
	all := append(append([]string{}, tubes[a]...), tubes[b]...)

	// Each push lands on its tube's server, and only there.
	for _, tube := range all {
		mustPush(t, q, tube, tube, 0, 1)
	}
	for _, s := range []*server{a, b} {
		raw := rawConn(t, s.addr)
		for _, tube := range all {
			st, err := beanstalk.NewTube(raw, tube).Stats()
			switch owner := q.serverFor(tube) == s; {
			case owner && (err != nil || st["current-jobs-ready"] != "1"):
				t.Fatalf("tube %s on its server %s: stats %v, %v; want one ready job", tube, s.addr, st, err)
			case !owner && !errors.Is(err, beanstalk.ErrNotFound):
				t.Fatalf("tube %s exists on %s, which does not own it (stats %v, %v)", tube, s.addr, st, err)
			}
		}
	}

	// One Queue drains all four tubes, each from its own server.
	for _, tube := range all {
		r := mustPop(t, q, tube)
		if string(r.Payload) != tube {
			t.Fatalf("Pop(%s) returned %q", tube, r.Payload)
		}
		if err := q.Delete(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	// With B down, B's tubes fail clearly and A's keep working.
	srvB.stop()
	for _, tube := range tubes[b] {
		for try := 0; try < 2; try++ { // the first on a dead pooled connection, the second on a failed dial
			_, err := q.Push(ctx, tube, []byte("x"), 0)
			if !errors.Is(err, connectors.ErrUnavailable) || !strings.Contains(err.Error(), srvB.addr) {
				t.Fatalf("Push(%s) with its server down = %v, want ErrUnavailable naming %s", tube, err, srvB.addr)
			}
		}
		if _, err := q.Pop(ctx, tube); !errors.Is(err, connectors.ErrUnavailable) {
			t.Fatalf("Pop(%s) with its server down = %v, want ErrUnavailable", tube, err)
		}
	}
	for _, tube := range tubes[a] {
		mustPush(t, q, tube, "still", 0, 1)
		if r := mustPop(t, q, tube); string(r.Payload) != "still" {
			t.Fatalf("Pop(%s) = %q", tube, r.Payload)
		}
	}

	// When B is back, its tubes work again without reopening the Queue.
	startServer(t, srvB.addr)
	for _, tube := range tubes[b] {
		mustPush(t, q, tube, "back", 0, 1)
		if r := mustPop(t, q, tube); string(r.Payload) != "back" {
			t.Fatalf("Pop(%s) = %q", tube, r.Payload)
		}
	}
}

func TestOpenSucceedsWhileOneOfSeveralServersIsDown(t *testing.T) {
	t.Parallel()
	up, down := startServer(t, freeAddr(t)), freeAddr(t)
	q, err := Open(context.Background(), Options{Addrs: []string{up.addr, down}})
	if err != nil {
		t.Fatalf("Open with one of two servers down: %v", err)
	}
	q.Close()
	if _, err := Open(context.Background(), Options{Addrs: []string{freeAddr(t), down}}); !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("Open with every server down = %v, want ErrUnavailable", err)
	}
}

func TestRestartedServerIsReconnectedTransparently(t *testing.T) {
	t.Parallel()
	srv := startServer(t, freeAddr(t))
	q, err := Open(context.Background(), Options{Addr: srv.addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	tube := tubeName(t, "restart")
	mustPush(t, q, tube, "before", 0, 1)
	srv.stop()
	startServer(t, srv.addr)
	// The pooled connection died with the old server; once it has been idle a moment, the
	// pool notices before using it, so the first call after the restart already succeeds.
	time.Sleep(probeAfter + 100*time.Millisecond)
	if _, err := q.Push(context.Background(), tube, []byte("after"), 0); err != nil {
		t.Fatalf("first Push after the restart: %v", err)
	}
}

func TestPlacementIsStableAndSpread(t *testing.T) {
	addrs := []string{"10.0.0.1:11300", "10.0.0.2:11300", "10.0.0.3:11300"}
	q := &Queue{}
	for i, a := range addrs {
		q.servers = append(q.servers, newServer(i, a))
	}
	// Pinned placements and score: changing the hash would strand the waiting jobs of every
	// deployed multi-server setup, so it must not change by accident.
	for tube, want := range map[string]string{
		"default": "10.0.0.2:11300", "emails": "10.0.0.3:11300", "high": "10.0.0.1:11300",
		"low": "10.0.0.2:11300", "reports": "10.0.0.1:11300",
	} {
		if got := q.serverFor(tube).addr; got != want {
			t.Errorf("tube %q placed on %s, want %s", tube, got, want)
		}
	}
	if got := score("10.0.0.1:11300", "default"); got != 0x57fe8aa58eabc9ad {
		t.Errorf("score(10.0.0.1:11300, default) = %#x, want 0x57fe8aa58eabc9ad", got)
	}
	count := map[string]int{}
	for i := 0; i < 3000; i++ {
		count[q.serverFor("tube-"+strconv.Itoa(i)).addr]++
	}
	for _, a := range addrs {
		if count[a] < 850 || count[a] > 1150 {
			t.Errorf("server %s owns %d of 3000 tubes; want about 1000: %v", a, count[a], count)
		}
	}
	// Removing a server moves only the tubes it owned.
	q2 := &Queue{servers: []*server{newServer(0, addrs[0]), newServer(1, addrs[1])}}
	for i := 0; i < 3000; i++ {
		tube := "tube-" + strconv.Itoa(i)
		before, after := q.serverFor(tube).addr, q2.serverFor(tube).addr
		if before != addrs[2] && before != after {
			t.Fatalf("tube %s moved from %s to %s although its server stayed", tube, before, after)
		}
	}
}
