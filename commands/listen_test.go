package commands_test

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const listenConfig = sqliteConfig + `
[handlers."Hang"]
command = ["sh", "-c", "sleep 30 & echo $! > \"$QCTL_TEST_RECORD.grandchild\"; echo $$ > \"$QCTL_TEST_RECORD.child\"; wait"]
`

func TestListenRunsEachJobOnceWithTwoChildren(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	e := newEnv(t, listenConfig)
	const n = 200
	for i := 0; i < n; i += 50 {
		for j := 0; j < 50; j++ {
			e.pushQuiet("Record", strconv.Itoa(i+j))
		}
	}
	l := e.start("listen", "--processes", "2", "--sleep", "0.2")
	waitFor(t, 3*time.Minute, "200 jobs to run", func() bool { return len(e.records()) >= n })
	l.signal(syscall.SIGTERM)
	if code := l.exitWithin(20 * time.Second); code != 0 {
		t.Fatalf("listener exit %d\n%s%s", code, l.stdout, l.stderr)
	}
	e.expectEachRanOnce(n)
	out := l.stdout.String()
	if !strings.Contains(out, "[1] ") || !strings.Contains(out, "[2] ") {
		t.Errorf("children's lines are not labelled [1] and [2]:\n%.2000s", out)
	}
}

// pushQuiet pushes a job through the CLI.
func (e *env) pushQuiet(job, data string) {
	e.t.Helper()
	e.ok("push", job, data)
}

func TestListenKillsATimedOutChildWithItsGrandchildrenAndGoesOn(t *testing.T) {
	e := newEnv(t, listenConfig)
	e.ok("push", "Hang")
	l := e.start("listen", "--timeout", "2", "--tries", "1", "--sleep", "0.1")
	waitFor(t, 20*time.Second, "the exec job to start", func() bool { return fileHasPID(e.record + ".grandchild") })
	started := time.Now()
	child, grandchild := readPID(t, e.record+".child"), readPID(t, e.record+".grandchild")
	waitFor(t, 10*time.Second, "the child and grandchild to be gone", func() bool { return gone(child) && gone(grandchild) })
	if took := time.Since(started); took > 3*time.Second {
		t.Errorf("the hung job's processes lived %s after it started, want under 3s", took)
	}
	// Out of tries: in failed_jobs with the reason, at once rather than after its lease.
	waitFor(t, 10*time.Second, "the job to be failed", func() bool {
		return strings.Contains(e.ok("failed", "--json").stdout, "timeout")
	})
	if n := e.queueSize("default"); n != 0 {
		t.Fatalf("queue size %d after the timed-out job was failed", n)
	}
	e.ok("push", "Record", "1")
	waitFor(t, 20*time.Second, "the listener to run the next job", func() bool { return len(e.records()) == 1 })
	l.signal(syscall.SIGTERM)
	if code := l.exitWithin(10 * time.Second); code != 0 {
		t.Fatalf("listener exit %d\n%s%s", code, l.stdout, l.stderr)
	}
}

func TestListenStopsAChildOverItsMemoryAndGoesOn(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Hog", "300", "--tries", "2")
	l := e.start("listen", "--memory", "150", "--timeout", "60", "--sleep", "0.1")
	waitFor(t, 30*time.Second, "the memory kill to be reported", func() bool { return strings.Contains(l.stdout.String(), "over --memory") })
	// Tries left: released at once, so the next child takes it again (and is killed again).
	waitFor(t, 30*time.Second, "the job to be failed on its second try", func() bool {
		return strings.Contains(e.ok("failed", "--json").stdout, "memory")
	})
	e.ok("push", "Record", "1")
	waitFor(t, 20*time.Second, "the listener to run the next job", func() bool { return len(e.records()) == 1 })
	l.signal(syscall.SIGTERM)
	if code := l.exitWithin(10 * time.Second); code != 0 {
		t.Fatalf("listener exit %d\n%s%s", code, l.stdout, l.stderr)
	}
}

func TestListenTermLetsTheRunningJobFinish(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Sleep", "2000")
	l := e.start("listen", "--sleep", "0.1")
	waitFor(t, 20*time.Second, "the job to start", e.started)
	l.signal(syscall.SIGTERM)
	if code := l.exitWithin(10 * time.Second); code != 0 {
		t.Fatalf("listener exit %d\n%s%s", code, l.stdout, l.stderr)
	}
	if len(e.records()) != 1 {
		t.Fatalf("the running job did not complete:\n%s", l.stdout)
	}
	if n := e.queueSize("default"); n != 0 {
		t.Fatalf("queue size %d: the finished job was not deleted", n)
	}
}

func fileHasPID(path string) bool {
	b, err := os.ReadFile(path)
	return err == nil && len(strings.TrimSpace(string(b))) > 0
}

func readPID(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return pid
}

// gone reports whether pid has exited. A zombie counts as gone: it no longer runs, and this
// sandbox's PID 1 may be slow to reap orphans.
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// TestListenIsQuietWhenIdle: an idle listener's children say nothing (they used to print
// "Processing jobs..." and "Worker stopped: empty" every --sleep); a job still gets its line.
func TestListenIsQuietWhenIdle(t *testing.T) {
	e := newEnv(t, listenConfig)
	l := e.start("listen", "--sleep", "0.05")
	waitFor(t, 20*time.Second, "the listener to start", func() bool { return strings.Contains(l.stdout.String(), "Listening for jobs") })
	time.Sleep(time.Second) // idle: about 20 children come and go
	e.pushQuiet("Record", "1")
	waitFor(t, 20*time.Second, "the job to run", func() bool { return strings.Contains(l.stdout.String(), "DONE") })
	l.signal(syscall.SIGTERM)
	if code := l.exitWithin(20 * time.Second); code != 0 {
		t.Fatalf("listener exit %d\n%s%s", code, l.stdout, l.stderr)
	}
	if out := l.stdout.String(); strings.Contains(out, "Worker stopped: empty") || strings.Contains(out, "Processing jobs from") {
		t.Fatalf("an idle listener logs its children:\n%.2000s", out)
	}
}
