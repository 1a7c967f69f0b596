package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/beanstalkqueue"

	"github.com/qctl/qctl/connectors/connectortest"
)

// privateBeanstalkd starts a beanstalkd of the test's own on a free loopback port and stops it
// when the test ends. These tests do not share 127.0.0.1:11300: `qctl restart` there would stop
// other tests' workers, and a restart broadcast by another test would stop theirs.
func privateBeanstalkd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("beanstalkd")
	if err != nil {
		msg := "beanstalkd is not installed (apt-get install -y beanstalkd)"
		connectortest.Missing(t, msg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-l", "127.0.0.1", "-p", port)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start beanstalkd: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	waitFor(t, 5*time.Second, "beanstalkd to listen on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// beanstalkEnv is a sandbox whose default connection "tube" is a private beanstalkd (queue
// "jobs"), with a SQLite connection "database" beside it. extra is added to the tube connection.
func beanstalkEnv(t *testing.T, extra string) (*env, string) {
	addr := privateBeanstalkd(t)
	e := newEnv(t, fmt.Sprintf(`
default = "tube"

[connections.tube]
driver = "beanstalkd"
addr = %q
queue = "jobs"
retry_after = 60
block_for = 1
%s

[connections.database]
driver = "database"
dialect = "sqlite"
dsn = "qctl.db"

# JobID records "id attempts" of each run.
[handlers."JobID"]
command = ["sh", "-c", "echo \"$QCTL_JOB_ID $QCTL_JOB_ATTEMPTS\" >> \"$QCTL_TEST_RECORD\""]

# Gated fails until the file $QCTL_TEST_RECORD.open exists, then records like JobID.
[handlers."Gated"]
command = ["sh", "-c", "test -e \"$QCTL_TEST_RECORD.open\" && echo \"$QCTL_JOB_ID $QCTL_JOB_ATTEMPTS\" >> \"$QCTL_TEST_RECORD\""]
`, addr, extra))
	return e, addr
}

// pushed runs `qctl push` and returns the job id it printed.
func pushed(e *env, args ...string) string {
	e.t.Helper()
	return strings.TrimSpace(e.ok(append([]string{"push"}, args...)...).stdout)
}

func TestPushPriorityOrderOnBeanstalkd(t *testing.T) {
	t.Parallel()
	e, _ := beanstalkEnv(t, "")
	p5 := pushed(e, "JobID", "--priority", "5")
	p0 := pushed(e, "JobID", "--priority", "0")
	p1024 := pushed(e, "JobID") // the connection's priority, 1024
	e.ok("work", "--stop-when-empty")
	want := []string{p0 + " 1", p5 + " 1", p1024 + " 1"}
	if got := e.records(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("jobs pushed with priorities 5, 0, 1024 ran as %q, want %q (0, 5, 1024)", got, want)
	}
}

func TestPushPriorityIsRefusedOffBeanstalkd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqliteConfig)
	e.ok("migrate")
	expect(t, e.qctl("push", "Record", "--priority", "5"), 2,
		"--priority is only for beanstalkd connections; connection database is database")
	if n := e.queueSize("default"); n != 0 {
		t.Fatalf("a refused push left %d jobs on the queue", n)
	}
	e.ok("push", "Record") // without --priority the same push works

	b, _ := beanstalkEnv(t, "")
	expect(t, b.qctl("push", "JobID", "--priority", "4294967296"), 2, "out of range")
	expect(t, b.qctl("push", "JobID", "--priority", "-1"), 2)
	expect(t, b.qctl("push", "JobID", "--priority", "1", "--connection", "database"), 2,
		"connection database is database")
}

func TestBuriedJobIsKickedAndThenRuns(t *testing.T) {
	t.Parallel()
	e, _ := beanstalkEnv(t, "bury_failed = true")
	var ids []string
	for range 3 {
		ids = append(ids, pushed(e, "Gated", "--priority", "7"))
	}
	delayed := pushed(e, "JobID", "--delay", "3600")
	expect(t, e.ok("kick", "jobs"), 0, "Kicked 0 buried jobs") // nothing buried: the delayed job stays

	e.ok("work", "--stop-when-empty", "--tries", "1")
	if got := e.records(); got != nil {
		t.Fatalf("gated jobs ran: %q", got)
	}
	expect(t, e.ok("peek", "buried"), 0, "Job "+ids[0]+", buried on tube jobs", "Name:      Gated", "Attempts:  1", "Priority:  7")

	expect(t, e.ok("kick", "jobs", "2"), 0, `Kicked 2 buried jobs back to ready on tube "jobs"`)
	expect(t, e.ok("peek", "buried"), 0, "Job "+ids[2]+", buried")
	expect(t, e.ok("kick", "jobs"), 0, "Kicked 1 buried job back")
	expect(t, e.ok("peek", "buried"), 0, "No buried jobs on tube jobs.")
	expect(t, e.ok("peek", "delayed"), 0, "Job "+delayed+", delayed") // kick left it alone

	if err := os.WriteFile(e.record+".open", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Kicked jobs come back as new jobs with fresh tries: with beanstalkd's own kick their
	// attempts (reserves) would be 2 > --tries 1, and the worker would fail them unrun.
	e.ok("work", "--stop-when-empty", "--tries", "1")
	got := e.records()
	if len(got) != 3 {
		t.Fatalf("after kick %d jobs ran, want 3: %q", len(got), got)
	}
	for i, line := range got {
		id, attempts, _ := strings.Cut(line, " ")
		if attempts != "1" || slices.Contains(ids, id) {
			t.Fatalf("run %d after kick was %q; want a new job id (not one of %q) on its first attempt", i+1, line, ids)
		}
	}
	if r := e.ok("failed"); strings.Contains(r.stdout, "Gated") {
		t.Fatalf("bury_failed also recorded the job in the failed store:\n%s", r.stdout)
	}
}

func TestPeekShowsTheNextJobOfEachState(t *testing.T) {
	t.Parallel()
	e, addr := beanstalkEnv(t, "")
	ready := pushed(e, "JobID", `{"to":"ann@example.com"}`, "--priority", "3")
	delayed := pushed(e, "JobID", `{"to":"bob@example.com"}`, "--delay", "3600")

	// Bury two jobs of tube "other" through the connector, as a worker with bury_failed does:
	// first one that is not a job at all, then a real one.
	ctx := context.Background()
	q, err := beanstalkqueue.Open(ctx, beanstalkqueue.Options{Addr: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.PushPriority(ctx, "other", []byte("not json at all"), 0, 0); err != nil {
		t.Fatal(err)
	}
	buried := pushed(e, "JobID", `{"to":"cy@example.com"}`, "--queue", "other", "--priority", "9")
	for range 2 {
		r, err := q.Pop(ctx, "other")
		if err != nil || r == nil {
			t.Fatalf("Pop = %v, %v", r, err)
		}
		if err := q.Bury(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	expect(t, e.ok("peek", "ready"), 0, "Job "+ready+", ready on tube jobs (connection tube)",
		"Name:      JobID", "Attempts:  0", "Priority:  3", `"to": "ann@example.com"`)
	expect(t, e.ok("peek", "delayed"), 0, "Job "+delayed+", delayed", "Ready in:  ", `"to": "bob@example.com"`)
	// Not a job: shown as it is, with why.
	expect(t, e.ok("peek", "buried", "--queue", "other"), 0, "(not a job", "not json at all", "Priority:  0")
	expect(t, e.ok("kick", "other", "1"), 0, "Kicked 1 buried job")
	expect(t, e.ok("peek", "buried", "--queue", "other"), 0, "Job "+buried+", buried on tube other",
		"Name:      JobID", "Attempts:  1", "Priority:  9", `"to": "cy@example.com"`)

	r := e.ok("peek", "ready", "--queue", "jobs", "--json")
	var got struct {
		ID, Name, State, Queue string
		Attempts               int
		Priority               uint32
		Payload                struct{ Data struct{ To string } }
	}
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("--json output %q: %v", r.stdout, err)
	}
	if got.ID != ready || got.Name != "JobID" || got.State != "ready" || got.Queue != "jobs" || got.Priority != 3 || got.Payload.Data.To != "ann@example.com" {
		t.Fatalf("--json = %+v", got)
	}
	if strings.Contains(r.stdout, "ready_in_seconds") {
		t.Errorf("a ready job has ready_in_seconds: %s", r.stdout)
	}
	if r := e.ok("peek", "delayed", "--json"); !strings.Contains(r.stdout, `"ready_in_seconds":`) {
		t.Errorf("a delayed job has no ready_in_seconds: %s", r.stdout)
	}

	expect(t, e.ok("peek", "buried"), 0, "No buried jobs on tube jobs.")
	if r := e.ok("peek", "buried", "--json"); strings.TrimSpace(r.stdout) != "null" {
		t.Errorf("--json with no job printed %q, want null", r.stdout)
	}
	expect(t, e.qctl("peek", "reserved"), 2, "peek takes one state: ready, delayed, buried")
	expect(t, e.qctl("peek"), 2)
	expect(t, e.qctl("peek", "ready", "--connection", "database"), 2,
		"peek is only for beanstalkd connections; connection database is database")
	expect(t, e.qctl("kick", "jobs", "--connection", "database"), 2,
		"kick is only for beanstalkd connections; connection database is database")
	expect(t, e.qctl("kick", "jobs", "0"), 2, "positive whole number")
}

func TestRestartOnBeanstalkdStopsTheWorker(t *testing.T) {
	t.Parallel()
	e, _ := beanstalkEnv(t, "")
	w := e.start("work")
	waitFor(t, 20*time.Second, "the worker to start", func() bool {
		return strings.Contains(w.stdout.String(), "Processing jobs")
	})
	expect(t, e.ok("restart"), 0, "Broadcasting queue restart signal.")
	if code := w.exitWithin(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after restart, want 0\n%s%s", code, w.stdout, w.stderr)
	}
	if !strings.Contains(w.stdout.String(), "restart") {
		t.Errorf("stop reason not reported:\n%s", w.stdout)
	}
	// A worker started after the broadcast remembers the new value and keeps working.
	w2 := e.start("work")
	waitFor(t, 20*time.Second, "the second worker to start", func() bool {
		return strings.Contains(w2.stdout.String(), "Processing jobs")
	})
	pushed(e, "JobID")
	waitFor(t, 20*time.Second, "the second worker to run a job", func() bool { return len(e.records()) == 1 })
}

// TestBeanstalkInvalidTubeIsUsageError: a tube name beanstalkd can never accept is exit 2 at
// start for work (even with --stop-when-empty it used to retry forever), push and status.
func TestBeanstalkInvalidTubeIsUsageError(t *testing.T) {
	e, _ := beanstalkEnv(t, "")
	for _, args := range [][]string{
		{"work", "--queue", "it's", "--stop-when-empty"},
		{"work", "--queue", "jobs,it's"},
		{"listen", "--queue", "it's"},
		{"push", "Record", "{}", "--queue", "it's"},
		{"status", "--queue", "it's"},
	} {
		expect(t, e.qctl(args...), 2, `tube "it's"`)
	}
}
