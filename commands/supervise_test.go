package commands_test

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const superviseConfig = `
[connections.database]
driver = "database"
dsn = "qctl.db"

[supervisors.web]
queues = ["a", "b"]
balance = "auto"
min_processes = 1
max_processes = 4
balance_max_shift = 1
balance_cooldown = 1
auto_scaling_strategy = "size"
sleep = 1
timeout = 3
memory = 64
`

var startedWorker = regexp.MustCompile(`Started worker (\d+) `)

// workerPIDs lists the pids of every worker the master said it started.
func workerPIDs(out string) []int {
	var pids []int
	for _, m := range startedWorker.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[1])
		pids = append(pids, pid)
	}
	return pids
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// A backlog on a moves processes to a, one per cooldown and never past max_processes, and back to
// the minimum once it drains; a child killed with -9 is replaced; TERM leaves no process behind.
func TestSuperviseScalesReplacesAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	e := newEnv(t, superviseConfig)
	e.ok("status") // creates the tables
	for range 40 {
		e.ok("push", "Sleep", "300", "--queue", "a")
	}
	m := e.start("supervise")
	waitFor(t, 30*time.Second, "a to reach 3 processes", func() bool { return strings.Contains(m.stderr.String(), "scaled: a=3 b=1") })
	if strings.Contains(m.stderr.String(), "scaled: a=4") {
		t.Fatalf("a got 4 processes: b's minimum of 1 and max_processes 4 allow 3\n%s", m.stderr)
	}
	for _, step := range []string{"scaled: a=2 b=1", "scaled: a=3 b=1"} {
		if !strings.Contains(m.stderr.String(), step) {
			t.Errorf("no step %q on the way up, one process per cooldown:\n%s", step, m.stderr)
		}
	}
	e.ok("clear", "--queue", "a", "--force")
	waitFor(t, 30*time.Second, "a to drain back to 1 process", func() bool { return strings.Contains(m.stderr.String(), "scaled: a=1 b=1") })

	pids := workerPIDs(m.stderr.String())
	victim := pids[0]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the killed worker to be replaced", func() bool {
		return len(workerPIDs(m.stderr.String())) > len(pids) && strings.Contains(m.stderr.String(), "Worker "+strconv.Itoa(victim)+" ")
	})

	m.signal(syscall.SIGTERM)
	if code := m.exitWithin(30 * time.Second); code != 0 {
		t.Fatalf("supervise exited %d\n%s", code, m.stderr)
	}
	for _, pid := range workerPIDs(m.stderr.String()) {
		if alive(pid) {
			t.Errorf("worker %d outlived its master", pid)
		}
	}
}

// A child past its memory limit is recycled: the master stops it and starts another.
func TestSuperviseRecyclesAWorkerPastItsMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	e := newEnv(t, strings.Replace(superviseConfig, `balance = "auto"`, `balance = "off"`, 1))
	e.ok("status")
	e.ok("push", "Hog", "300", "--queue", "b")
	m := e.start("supervise")
	waitFor(t, 30*time.Second, "the hog's worker to be recycled", func() bool { return strings.Contains(m.stderr.String(), "over its limit: recycling it") })
	waitFor(t, 30*time.Second, "a fresh worker", func() bool { return len(workerPIDs(m.stderr.String())) >= 2 })
	m.signal(syscall.SIGTERM)
	if code := m.exitWithin(30 * time.Second); code != 0 {
		t.Fatalf("supervise exited %d\n%s", code, m.stderr)
	}
}
