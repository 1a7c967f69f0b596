package jobs

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests check that Exec kills the grandchildren a command leaves behind. A killed orphan
// stays a zombie until its new parent reaps it, and an init that does not reap (as in some
// containers) would leave kill(pid, 0) succeeding forever; so the test binary makes itself the
// child subreaper, inherits the orphans, and reaps them itself with wait4.

var subreaper struct {
	once sync.Once
	err  error
}

func becomeSubreaper(t *testing.T) {
	t.Helper()
	subreaper.once.Do(func() {
		const prSetChildSubreaper = 36
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
			subreaper.err = errno
		}
	})
	if subreaper.err != nil {
		t.Skipf("cannot become child subreaper: %v", subreaper.err)
	}
	t.Cleanup(func() { reapOrphans(t) })
}

// reapOrphans waits for every remaining child of the test binary: the other processes of the
// killed groups (such as the shell's foreground sleep) that were orphaned to us, so the tests leave
// no zombies behind. Tests using it do not run in parallel, and by the time it runs every command
// they started has been waited for, so wait4(-1) takes nothing that os/exec is waiting on.
func reapOrphans(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(-1, &ws, 0, nil); errors.Is(err, syscall.ECHILD) {
				return
			} else if err != nil && !errors.Is(err, syscall.EINTR) {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("orphaned processes from a killed group are still running")
	}
}

// pidWriter takes the first line a script prints (its background child's pid, from `echo $!`);
// parsed is closed once that line has been read, and later output is discarded.
type pidWriter struct {
	w      *io.PipeWriter
	parsed chan struct{}
	pid    int // written before parsed is closed
}

func newPIDWriter() *pidWriter {
	r, w := io.Pipe()
	pw := &pidWriter{w: w, parsed: make(chan struct{})}
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		pw.pid, _ = strconv.Atoi(strings.TrimSpace(line))
		close(pw.parsed)
		_, _ = io.Copy(io.Discard, r)
	}()
	return pw
}

func (p *pidWriter) Write(b []byte) (int, error) { return p.w.Write(b) }

// grandchildPID returns the pid the script printed, failing the test if it printed none. Call it
// after the handler returned, when nothing writes to p any more.
func (p *pidWriter) grandchildPID(t *testing.T) int {
	t.Helper()
	p.w.Close()
	<-p.parsed
	if p.pid <= 0 {
		t.Fatal("the script did not print its background pid")
	}
	return p.pid
}

// reap waits for the orphaned grandchild pid, which must already be dead or dying, and checks
// that it is gone afterwards. A grandchild that Exec failed to kill would run for 30s; the guard
// fails the test and kills it long before that. ok is false when the shell reaped the grandchild
// itself (it can, when both die from the same signal while the shell sits in wait), so there is
// no status to report.
func reap(t *testing.T, pid int) (ws syscall.WaitStatus, ok bool) {
	t.Helper()
	type result struct {
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan result, 1)
	go func() {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		done <- result{ws, err}
	}()
	var res result
	select {
	case res = <-done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("grandchild %d is still running after the handler returned", pid)
	}
	if res.err != nil && !errors.Is(res.err, syscall.ECHILD) {
		t.Fatalf("wait4(%d): %v", pid, res.err)
	}
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill(%d, 0) = %v, want ESRCH", pid, err)
	}
	return res.ws, res.err == nil
}

func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	becomeSubreaper(t)
	out := newPIDWriter()
	h := Exec(ExecSpec{Command: []string{"sh", "-c", `sleep 30 & echo $!; sleep 30`}, Stdout: out})

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	start := time.Now()
	err := h(ctx, shJob(t))
	elapsed := time.Since(start)
	pid := out.grandchildPID(t)

	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	if want := `command "sh" stopped because the job's context ended (context deadline exceeded)`; err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	if elapsed > 3*time.Second {
		t.Errorf("handler returned after %v, want about 1s", elapsed)
	}
	if ws, ok := reap(t, pid); ok && !ws.Signaled() {
		t.Errorf("grandchild %d ended with %v, want killed by a signal", pid, ws)
	}
}

func TestExecEscalatesToSIGKILL(t *testing.T) {
	becomeSubreaper(t)
	out := newPIDWriter()
	h := Exec(ExecSpec{
		// The trap makes the shell, and the sleeps it starts, ignore SIGTERM.
		Command:   []string{"sh", "-c", `trap '' TERM; sleep 30 & echo $!; sleep 30`},
		Stdout:    out,
		KillGrace: 200 * time.Millisecond,
	})
	jobTimedOut := errors.New("job timed out")
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		<-out.parsed // cancel only once the grandchild exists
		cancel(jobTimedOut)
	}()

	start := time.Now()
	err := h(ctx, shJob(t))
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, jobTimedOut) {
		t.Errorf("err = %v, want context.Canceled and the cause", err)
	}
	if err != nil && !strings.Contains(err.Error(), "(job timed out)") {
		t.Errorf("error does not name the cause: %v", err)
	}
	if elapsed > 5*time.Second {
		t.Errorf("handler returned after %v, want about the 200ms grace", elapsed)
	}
	pid := out.grandchildPID(t)
	// The shell was killed before its group, so the grandchild is an orphan we must reap.
	if ws, ok := reap(t, pid); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("grandchild %d ended with %v, want SIGKILL", pid, ws)
	}
}

func TestExecLeftoverHoldingStdoutDoesNotBlock(t *testing.T) {
	becomeSubreaper(t)
	out := newPIDWriter()
	h := Exec(ExecSpec{
		Command:   []string{"sh", "-c", `sleep 30 & echo $!; exit 0`},
		Stdout:    out,
		KillGrace: 100 * time.Millisecond,
	})
	start := time.Now()
	if err := h(context.Background(), shJob(t)); err != nil {
		t.Errorf("err = %v, want nil: the command itself succeeded", err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("handler returned after %v although the command exited at once", elapsed)
	}
	pid := out.grandchildPID(t)
	if ws, ok := reap(t, pid); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Errorf("leftover %d ended with %v, want SIGKILL", pid, ws)
	}
}
