package commands_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// orphanScript is an exec handler that starts a grandchild in its own process group and one that
// leaves the group with setsid and ignores TERM, writes the three pids to $QCTL_TEST_RECORD.pids
// once all exist, and sleeps.
const orphanScript = `sleep 60 &
group=$!
setsid sh -c 'trap "" TERM; sleep 60' &
escaped=$!
echo "$$ $group $escaped" > "$QCTL_TEST_RECORD.tmp" && mv "$QCTL_TEST_RECORD.tmp" "$QCTL_TEST_RECORD.pids"
sleep 60
`

func orphanEnv(t *testing.T) *env {
	e := newEnv(t, sqliteConfig+`
[handlers."Orphans"]
command = ["sh", "orphans.sh"]
`)
	if err := os.WriteFile(filepath.Join(e.dir, "orphans.sh"), []byte(orphanScript), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

// handlerPIDs waits for the Orphans handler to write its pids.
func (e *env) handlerPIDs() []int {
	e.t.Helper()
	waitFor(e.t, 20*time.Second, "the handler to start its grandchildren", func() bool {
		_, err := os.Stat(e.record + ".pids")
		return err == nil
	})
	b, err := os.ReadFile(e.record + ".pids")
	if err != nil {
		e.t.Fatal(err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			e.t.Fatalf("bad pid %q", f)
		}
		pids = append(pids, pid)
	}
	// Whatever the outcome, nothing the test started outlives it.
	e.t.Cleanup(func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return pids
}

// running reports whether pid runs: it exists and is not a zombie waiting to be reaped (an init
// that does not reap, as in some containers, would keep it around for good).
func running(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, after, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(after, "Z") && !strings.HasPrefix(after, "X")
}

func expectGone(t *testing.T, what string, pids []int) {
	t.Helper()
	waitFor(t, 10*time.Second, what, func() bool {
		for _, pid := range pids {
			if running(pid) {
				return false
			}
		}
		return true
	})
}

// A worker killed with SIGKILL takes its exec handler with it, with the grandchild in the
// handler's group and the one that left it with setsid: none may go on to finish (or half-finish)
// a job that the queue will hand to another worker.
func TestKilledWorkerTakesItsExecHandlerAlong(t *testing.T) {
	e := orphanEnv(t)
	e.ok("push", "Orphans")
	w := e.start("work", "--tries=1")
	pids := e.handlerPIDs()
	w.signal(syscall.SIGKILL)
	// Not <-w.done: a surviving handler holds the worker's output pipes, which that waits for.
	expectGone(t, "the handler and its grandchildren to die with their worker", append(pids, w.cmd.Process.Pid))
}

// A setsid grandchild that ignores TERM is killed when its job times out, not left running after
// its worker exits.
func TestTimedOutExecHandlerLeavesNothingOutsideItsGroup(t *testing.T) {
	e := orphanEnv(t)
	e.ok("push", "Orphans")
	w := e.start("work", "--stop-when-empty", "--timeout=1", "--tries=1")
	pids := e.handlerPIDs()
	if code := w.exitWithin(20 * time.Second); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, w.stdout, w.stderr)
	}
	expectGone(t, "the timed-out handler's processes to be killed", pids)
}
