package commands_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/dbqueue"
)

// proc is a qctl process running in the background.
type proc struct {
	t              testing.TB
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{}
	code           int
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func (e *env) start(args ...string) *proc {
	e.t.Helper()
	p := &proc{t: e.t, cmd: e.command(args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			p.code = exit.ExitCode()
		}
		close(p.done)
	}()
	e.t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) signal(s os.Signal) {
	if err := p.cmd.Process.Signal(s); err != nil {
		p.t.Fatalf("signal %v: %v", s, err)
	}
}

// exitWithin waits for the process to exit and returns its status, failing after d.
func (p *proc) exitWithin(d time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		p.t.Fatalf("qctl did not exit within %s\nstdout:\n%s\nstderr:\n%s", d, p.stdout, p.stderr)
		return -1
	}
}

// waitFor polls cond until it holds, failing after d. It waits on an outside process's effect,
// which no in-process signal can tell us about. The pause between polls grows from 20 ms to
// 250 ms: several conditions run a qctl process each time, and a loaded machine should not be
// loaded further by the test waiting on it.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	pause := 20 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(pause)
		pause = min(pause*3/2, 250*time.Millisecond)
	}
}

func (e *env) started() bool {
	_, err := os.Stat(e.record + ".started")
	return err == nil
}

func (e *env) queueSize(queue string) int64 {
	e.t.Helper()
	q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(e.dir, "qctl.db"), Table: "jobs", RetryAfter: time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	defer q.Close()
	n, err := q.Size(context.Background(), queue)
	if err != nil {
		e.t.Fatal(err)
	}
	return n
}

func TestTermDuringAJobLetsItFinishThenExitsZero(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Sleep", "2000")
	w := e.start("work", "--json")
	waitFor(t, 20*time.Second, "the job to start", e.started)
	sent := time.Now()
	w.signal(syscall.SIGTERM)
	if code := w.exitWithin(5 * time.Second); code != 0 {
		t.Fatalf("exit %d after TERM, want 0\n%s%s", code, w.stdout, w.stderr)
	}
	if took := time.Since(sent); took > 3*time.Second {
		t.Errorf("exited %s after TERM (sent %s), want within 3s\n%s", took, sent.UTC().Format(time.RFC3339Nano), w.stdout)
	}
	if len(e.records()) != 1 || !strings.Contains(w.stdout.String(), `"processed"`) {
		t.Fatalf("the running job did not complete: records %q\n%s", e.records(), w.stdout)
	}
	if n := e.queueSize("default"); n != 0 {
		t.Fatalf("%d jobs left: the finished job was not deleted", n)
	}
}

func TestHandlerIgnoringTimeoutExitsNonZeroAndReleasesTheJob(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Stubborn", "60000")
	w := e.start("work", "--timeout=1", "--tries=3")
	code := w.exitWithin(5 * time.Second)
	if code == 0 {
		t.Fatalf("exit 0; a worker that abandoned a handler must exit non-zero\n%s%s", w.stdout, w.stderr)
	}
	if n := e.queueSize("default"); n != 1 {
		t.Fatalf("queue size %d, want the job back (1)", n)
	}
	// Nothing stays reserved: another worker can take the job at once.
	e.start("work", "--once", "--timeout=1")
	waitFor(t, 10*time.Second, "the released job to be taken again", func() bool {
		b, _ := os.ReadFile(e.record + ".started")
		return len(b) > 0 && e.started()
	})
}

func TestLongJobWithExtendedLeaseRunsOnceAcrossTwoWorkers(t *testing.T) {
	e := newEnv(t, strings.Replace(sqliteConfig, "retry_after = 60", "retry_after = 2", 1))
	e.ok("push", "Sleep", "5000")
	// --tries=3: with the default of 1, a second worker taking a lapsed job would fail it
	// unrun (attempt 2 of 1), and this test could not see the job run twice.
	a := e.start("work", "--stop-when-empty", "--sleep=0.1", "--tries=3")
	b := e.start("work", "--stop-when-empty", "--sleep=0.1", "--tries=3")
	waitFor(t, 20*time.Second, "the job to start", e.started)
	// Keep a worker polling for the whole run: with the lease not extended it would take the job.
	c := e.start("work", "--max-time=7", "--sleep=0.1", "--tries=3")
	for _, p := range []*proc{a, b} {
		if code := p.exitWithin(20 * time.Second); code != 0 {
			t.Fatalf("worker exit %d\n%s%s", code, p.stdout, p.stderr)
		}
	}
	c.exitWithin(20 * time.Second)
	if got := e.records(); len(got) != 1 {
		t.Fatalf("the 5s job ran %d times with retry_after=2, want once: %q", len(got), got)
	}
}

func TestRestartStopsEveryWorkerAfterItsJob(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("migrate")
	a := e.start("work", "--sleep=0.1")
	b := e.start("work", "--sleep=0.1")
	waitFor(t, 20*time.Second, "both workers to start", func() bool {
		return strings.Contains(a.stdout.String(), "Processing jobs") && strings.Contains(b.stdout.String(), "Processing jobs")
	})
	expect(t, e.ok("restart"), 0, "Broadcasting queue restart signal.")
	for _, p := range []*proc{a, b} {
		if code := p.exitWithin(10 * time.Second); code != 0 {
			t.Fatalf("exit %d after restart, want 0\n%s%s", code, p.stdout, p.stderr)
		}
		if !strings.Contains(p.stdout.String(), "restart") {
			t.Errorf("stop reason not reported:\n%s", p.stdout)
		}
	}
}

// TestRestartStoresUnixSeconds: `qctl restart` stores Unix seconds, as `php artisan
// queue:restart` does, and a second restart right after the first stores a later value.
func TestRestartStoresUnixSeconds(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("migrate")
	start := time.Now().Unix()
	var values []int64
	for range 2 {
		expect(t, e.ok("restart"), 0, "Broadcasting queue restart signal.")
		q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(e.dir, "qctl.db"), Table: "jobs"})
		if err != nil {
			t.Fatal(err)
		}
		v, err := q.RestartSignal(context.Background())
		q.Close()
		n, perr := strconv.ParseInt(v, 10, 64)
		if err != nil || perr != nil {
			t.Fatalf("restart signal = %q, %v; want a number", v, err)
		}
		values = append(values, n)
	}
	// Two restarts take well under a minute; a value past that is not in seconds.
	if values[0] < start || values[1] <= values[0] || values[1] > time.Now().Unix()+60 {
		t.Errorf("restart values %v, want increasing Unix seconds from %d", values, start)
	}
}

func TestPauseAndResume(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("migrate")
	w := e.start("work", "--sleep=0.1")
	waitFor(t, 20*time.Second, "the worker to start", func() bool { return strings.Contains(w.stdout.String(), "Processing jobs") })
	w.signal(syscall.SIGUSR2)
	waitFor(t, 10*time.Second, "the worker to pause", func() bool { return strings.Contains(w.stdout.String(), "paused") })
	e.ok("push", "Record", "1")
	time.Sleep(time.Second) // the absence of a run is what is being checked
	if len(e.records()) != 0 {
		t.Fatal("a job started while the worker was paused")
	}
	w.signal(syscall.SIGCONT)
	waitFor(t, 10*time.Second, "the job to run after CONT", func() bool { return len(e.records()) == 1 })
	w.signal(syscall.SIGTERM)
	if code := w.exitWithin(5 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

func TestMemoryLimitExitsTwelveAfterTheFirstJob(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Record", "1")
	e.ok("push", "Record", "2")
	r := e.qctl("work", "--memory=1")
	expect(t, r, 12, "memory")
	if got := e.records(); len(got) != 1 {
		t.Fatalf("%d jobs ran before the memory stop, want 1", len(got))
	}
}

func TestSecondTermReleasesTheRunningJobAndExits(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Sleep", "30000")
	w := e.start("work", "--tries=1")
	waitFor(t, 20*time.Second, "the job to start", e.started)
	w.signal(syscall.SIGTERM)
	// Signals of one kind are not queued: wait for the first to land before sending the second.
	waitFor(t, 10*time.Second, "the worker to acknowledge TERM", func() bool { return strings.Contains(w.stdout.String(), "Worker stopping") })
	w.signal(syscall.SIGTERM)
	if code := w.exitWithin(5 * time.Second); code != 0 {
		t.Fatalf("exit %d after a second TERM, want 0\n%s%s", code, w.stdout, w.stderr)
	}
	if len(e.records()) != 0 {
		t.Fatal("the job ran to completion although the second TERM should cut it short")
	}
	// Released, not failed: it is on the queue and ready for the next worker, tries notwithstanding.
	if n := e.queueSize("default"); n != 1 {
		t.Fatalf("queue size %d, want the interrupted job back", n)
	}
	if out := e.ok("failed").stdout; !strings.Contains(out, "No failed jobs.") {
		t.Fatalf("the interrupted job was failed:\n%s", out)
	}
}

// An exec handler that ignores TERM is killed with its group once its grace is over, so nothing is
// left running: the worker must fail its job and go on, not exit 13 ("may still be running")
// because its own grace for the handler was no longer than the handler's.
func TestExecHandlerIgnoringTermIsKilledWithoutAFalseTimedOutExit(t *testing.T) {
	e := newEnv(t, sqliteConfig+`
[handlers."Deaf"]
command = ["sh", "-c", "trap '' TERM; sleep 30"]
`)
	e.ok("push", "Deaf")
	r := e.qctl("work", "--stop-when-empty", "--timeout=1", "--tries=1")
	expect(t, r, 0, "FAIL")
}
