package commands_test

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// privateRedis starts a redis-server of the test's own on port (never the shared one), and
// returns a func that stops it.
func privateRedis(t *testing.T, port int) (stop func()) {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	waitFor(t, 10*time.Second, "the private redis-server", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	return stop
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestWorkerSurvivesRedisGoingAwayAndComingBack(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	port := freePort(t)
	stop := privateRedis(t, port)
	e := newEnv(t, fmt.Sprintf("[connections.redis]\ndriver = \"redis\"\naddr = \"127.0.0.1:%d\"\nblock_for = 1\n", port))
	e.ok("push", "Record", "1")
	w := e.start("work", "--sleep", "0.1")
	waitFor(t, 20*time.Second, "the first job", func() bool { return len(e.records()) == 1 })

	stop()
	waitFor(t, 20*time.Second, "the worker to notice Redis is gone", func() bool {
		return strings.Contains(w.stdout.String(), "ERROR")
	})
	select {
	case <-w.done:
		t.Fatalf("the worker exited (status %d) when Redis went away\n%s%s", w.code, w.stdout, w.stderr)
	default:
	}

	privateRedis(t, port) // same port, empty data: Redis restarted without persistence
	e.ok("push", "Record", "2")
	waitFor(t, 60*time.Second, "the worker to reconnect and run a new job", func() bool { return len(e.records()) == 2 })
	w.signal(syscall.SIGTERM)
	if code := w.exitWithin(10 * time.Second); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, w.stdout, w.stderr)
	}
	// go-redis's own lines stay out; qctl says once that Redis went away and once that it is back.
	stderr := w.stderr.String()
	if strings.Contains(stderr, "pool.go") || strings.Count(stderr, "is not answering") != 1 || strings.Count(stderr, "answers again") != 1 {
		t.Fatalf("stderr:\n%s", stderr)
	}
}

// A worker (work or listen) started while Redis is down waits for it, saying so once, instead of
// exiting 1 at once, which under a supervisor's few start retries left it FATAL for good; push
// still fails fast. A worker stopped during the wait exits 0.
func TestWorkersStartedDuringAnOutageWaitForTheirBackend(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (apt-get install redis-server)")
	}
	port := freePort(t)
	e := newEnv(t, fmt.Sprintf("[connections.redis]\ndriver = \"redis\"\naddr = \"127.0.0.1:%d\"\nblock_for = 1\n", port))
	expect(t, e.qctl("push", "Record", "1"), 1, "cannot reach")
	stopped := e.start("work")
	workers := []*proc{e.start("work", "--sleep", "0.1"), e.start("listen", "--sleep", "0.1")}
	for _, w := range append(workers, stopped) {
		waitFor(t, 20*time.Second, "the worker to report the outage", func() bool {
			return strings.Contains(w.stdout.String(), "ERROR")
		})
	}
	stopped.signal(syscall.SIGTERM)
	if code := stopped.exitWithin(10 * time.Second); code != 0 {
		t.Fatalf("a worker stopped while waiting for its backend exited %d, want 0\n%s%s", code, stopped.stdout, stopped.stderr)
	}
	for _, w := range workers {
		select {
		case <-w.done:
			t.Fatalf("%v exited (status %d) while its backend was down\n%s%s", w.cmd.Args[1:], w.code, w.stdout, w.stderr)
		default:
		}
	}

	privateRedis(t, port)
	waitFor(t, 30*time.Second, "both workers to reach Redis", func() bool {
		return strings.Contains(workers[0].stdout.String(), "Backend answers again") &&
			strings.Contains(workers[1].stdout.String(), "Backend answers again")
	})
	e.ok("push", "Record", "1")
	e.ok("push", "Record", "2")
	waitFor(t, 30*time.Second, "the jobs to run", func() bool { return len(e.records()) == 2 })
	for _, w := range workers {
		w.signal(syscall.SIGTERM)
		if code := w.exitWithin(10 * time.Second); code != 0 {
			t.Fatalf("exit %d\n%s%s", code, w.stdout, w.stderr)
		}
		if n := strings.Count(w.stdout.String(), "ERROR"); n != 1 {
			t.Errorf("%v logged %d errors for one outage, want 1\n%s", w.cmd.Args[1:], n, w.stdout)
		}
	}
	e.expectEachRanOnce(2)
}
