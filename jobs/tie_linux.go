package jobs

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// This file ties exec handlers' processes to the life of the process that runs them (the worker),
// so that a worker killed with SIGKILL, or exiting while a handler ignores its timeout, leaves
// nothing running that could finish a job the queue has already handed to another worker:
//
//   - the command itself gets SIGKILL from the kernel when the worker dies (PR_SET_PDEATHSIG);
//   - everything it starts inherits QCTL_EXEC_OWNER and QCTL_EXEC_RUN in its environment, and,
//     once the process has called TieToProcess (the worker does), a watchdog process (a small sh script, in a process group of its own so that signals to the
//     worker's group do not reach it first) kills every process carrying this worker's owner
//     value once the worker is gone: grandchildren in the command's group, and those that left
//     it with setsid or a double fork;
//   - when a job's context ends, Exec kills its group and then every process carrying the run's
//     value, so a setsid grandchild that ignores SIGTERM does not escape the timeout.
//
// A process that clears its environment, or runs as another user, is beyond reach; that needs a
// cgroup (systemd's KillMode does that for the unit).

// Environment variables that mark an exec handler's processes, set last like QCTL_JOB_*.
const (
	ownerEnv = "QCTL_EXEC_OWNER"
	runEnv   = "QCTL_EXEC_RUN"
)

// owner identifies this process's exec handlers: its pid and start time, so a reused pid never
// matches. The trailing ";" keeps one value from being the prefix of another.
var owner = fmt.Sprintf("%d-%d;", os.Getpid(), time.Now().UnixNano())

var runs atomic.Uint64

// tie marks cmd as a run of this process's exec handler (killed with it) and returns the run's
// value of QCTL_EXEC_RUN.
func tie(cmd *exec.Cmd) string {
	startWatchdog()
	run := owner + strconv.FormatUint(runs.Add(1), 10) + ";"
	cmd.Env = append(cmd.Env, ownerEnv+"="+owner, runEnv+"="+run)
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	return run
}

// spawner is the goroutine every tied command is started from. The kernel sends the parent-death
// signal when the thread that forked the child exits, not the process; the Go runtime ends a
// thread when a goroutine locked to it returns. This goroutine locks its thread and never
// returns, so the signal comes only when the worker itself dies.
var spawner struct {
	once  sync.Once
	start chan func()
}

// startTied starts cmd on the spawner's thread.
func startTied(cmd *exec.Cmd) error {
	spawner.once.Do(func() {
		spawner.start = make(chan func())
		go func() {
			runtime.LockOSThread() // for good: see spawner
			for f := range spawner.start {
				f()
			}
		}()
	})
	done := make(chan error, 1)
	spawner.start <- func() { done <- cmd.Start() }
	return <-done
}

// watchdogScript waits for its standard input, a pipe whose only writer is the worker, to close:
// the worker is gone, however it ended. It then kills, twice over so that a process forked during
// the first pass is caught by the second, every process whose environment holds the worker's
// QCTL_EXEC_OWNER value ($1).
const watchdogScript = `cat >/dev/null
for pass in 1 2; do
	for dir in /proc/[0-9]*; do
		grep -qaF "` + ownerEnv + `=$1" "$dir/environ" 2>/dev/null && kill -KILL "${dir#/proc/}" 2>/dev/null
	done
done
exit 0`

var watchdog struct {
	wanted atomic.Bool
	once   sync.Once
	pipe   *os.File // the write end; held until the process exits
}

// TieToProcess makes the exec handlers this process runs from now on die with it, whatever it
// dies of: the first one starts a watchdog process that outlives this one only to kill them.
// A worker calls it; a program that waits for every child itself (wait4 of -1) should not, since
// the watchdog is a child that lives as long as the process.
func TieToProcess() { watchdog.wanted.Store(true) }

// startWatchdog starts the watchdog once per process, if TieToProcess asked for it. If it cannot
// start, handlers still run: the parent-death signal and the group kill remain.
func startWatchdog() {
	if !watchdog.wanted.Load() {
		return
	}
	watchdog.once.Do(func() {
		r, w, err := os.Pipe()
		if err != nil {
			return
		}
		cmd := exec.Command("/bin/sh", "-c", watchdogScript, "qctl-exec-watchdog", owner)
		cmd.Stdin = r
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		err = cmd.Start()
		r.Close()
		if err != nil {
			w.Close()
			return
		}
		watchdog.pipe = w
		go func() { _ = cmd.Wait() }() // reaps it should it die early
	})
}

// killRun kills every process that carries run's QCTL_EXEC_RUN value: what a stopped command left
// outside its process group. It reads /proc, so it runs only when a job was stopped, not after
// every job.
func killRun(run string) {
	marker := []byte(runEnv + "=" + run)
	for pass := 0; pass < 2; pass++ {
		dirs, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		self := os.Getpid()
		for _, d := range dirs {
			pid, err := strconv.Atoi(d.Name())
			if err != nil || pid == self {
				continue
			}
			env, err := os.ReadFile("/proc/" + d.Name() + "/environ")
			if err == nil && bytes.Contains(env, marker) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}
