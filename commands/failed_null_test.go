package commands_test

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// [failed] driver = "null" is Laravel's null failer: workers run, a job that fails is dropped
// (after a warning at start), and the commands that read the store say it is disabled.
func TestNullFailedStoreDiscardsFailedJobsForWorkListenAndPush(t *testing.T) {
	const warning = `[failed] driver = "null": jobs that fail are discarded`
	e := newEnv(t, `
default = "database"

[connections.database]
driver = "database"
dsn = "qctl.db"

[connections.now]
driver = "sync"

[failed]
driver = "null"
`)
	e.ok("push", "Fail", "{}")
	e.ok("push", "Record", "{}")
	r := e.ok("work", "--stop-when-empty")
	expect(t, r, 0, "FAIL", "DONE")
	if n := strings.Count(r.stderr, warning); n != 1 {
		t.Errorf("work warned %d times, want once:\n%s", n, r.stderr)
	}
	if n := e.queueSize("default"); n != 0 {
		t.Fatalf("the queue holds %d jobs after work, want 0 (the failed job dropped)", n)
	}
	expect(t, e.qctl("failed"), 2, "the failed-job store is disabled")

	// push onto a sync connection runs the job in the pushing process; its failure is dropped.
	expect(t, e.qctl("push", "Fail", "{}", "--connection", "now"), 1, "the mail server refused")

	e.ok("push", "Fail", "{}")
	e.ok("push", "Record", "{}")
	l := e.start("listen", "--sleep", "0.2")
	waitFor(t, time.Minute, "listen to run the queue dry", func() bool { return e.queueSize("default") == 0 })
	l.signal(syscall.SIGTERM)
	if code := l.exitWithin(20 * time.Second); code != 0 {
		t.Fatalf("listen exited %d\n%s%s", code, l.stdout, l.stderr)
	}
	if got := len(e.records()); got != 2 {
		t.Errorf("Record ran %d times in all, want 2 (once under work, once under listen)", got)
	}
	if n := strings.Count(l.stderr.String(), warning); n != 1 {
		t.Errorf("listen warned %d times, want once:\n%s", n, l.stderr.String())
	}
}
