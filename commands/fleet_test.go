package commands_test

import (
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// workersJSON is `qctl workers --json`, as a script reads it.
type workersJSON struct {
	Workers []struct {
		ID, Host, Name, State string
		PausedQueues          []string `json:"paused_queues"`
		Processed             int64
	}
}

func (e *env) workers() workersJSON {
	e.t.Helper()
	var w workersJSON
	if out := e.ok("workers", "--json").stdout; json.Unmarshal([]byte(out), &w) != nil {
		e.t.Fatalf("workers --json printed %q", out)
	}
	return w
}

// TestFleetAcrossTwoHosts runs two worker processes as if on two machines (different --name and
// --host) with a 200 ms heartbeat, and steers them from a third process: a paused queue is not
// popped until continued, terminate --worker stops exactly that worker, and a killed worker
// leaves `qctl workers` once its entry expires. The delays are logged, not asserted beyond
// generous bounds: speed is the benchmarks' business.
func TestFleetAcrossTwoHosts(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("pause")
	beat := "0.2"
	a := e.start("work", "--name", "a", "--host", "host-a", "--heartbeat", beat, "--sleep", "0.05")
	b := e.start("work", "--name", "b", "--host", "host-b", "--heartbeat", beat, "--sleep", "0.05")
	var ids map[string]string
	waitFor(t, 20*time.Second, "both workers listed as paused", func() bool {
		ids = map[string]string{}
		for _, w := range e.workers().Workers {
			if w.State == "paused" && slices.Equal(w.PausedQueues, []string{"default"}) {
				ids[w.Host] = w.ID
			}
		}
		return len(ids) == 2
	})
	for i := range 3 {
		e.ok("push", "Record", strconv.Itoa(i))
	}
	// Several beats pass; neither worker pops the paused queue.
	first := time.Now()
	waitFor(t, 10*time.Second, "a few heartbeats", func() bool { return time.Since(first) > time.Second })
	if got := e.records(); len(got) != 0 || e.queueSize("default") != 3 {
		t.Fatalf("a paused queue was popped: %d jobs ran, %d left", len(got), e.queueSize("default"))
	}
	if out := e.ok("status").stdout; !regexp.MustCompile(`default \(paused\)\s+3\s+0\s+0\s+\S+\s+0\s+2\n`).MatchString(out) {
		t.Errorf("status does not show default paused, 3 ready and 2 workers:\n%s", out)
	}

	continued := time.Now()
	e.ok("continue")
	waitFor(t, 10*time.Second, "the continued queue's jobs to run", func() bool { return len(e.records()) == 3 })
	t.Logf("continue took effect in %s (heartbeat %ss)", time.Since(continued).Round(time.Millisecond), beat)

	asked := time.Now()
	out := e.ok("terminate", "--worker", ids["host-a"]).stdout
	if code := a.exitWithin(10 * time.Second); code != 0 {
		t.Fatalf("a exited %d after terminate (%s)\n%s%s", code, out, a.stdout, a.stderr)
	}
	t.Logf("terminate took effect in %s", time.Since(asked).Round(time.Millisecond))
	if ws := e.workers().Workers; len(ws) != 1 || ws[0].ID != ids["host-b"] {
		t.Fatalf("after terminating a, workers lists %+v; want b alone", ws)
	}
	select {
	case <-b.done:
		t.Fatalf("b stopped too:\n%s%s", b.stdout, b.stderr)
	default:
	}

	b.signal(syscall.SIGKILL)
	b.exitWithin(10 * time.Second)
	killed := time.Now()
	// Three missed beats (600 ms), plus under a second of the database's whole-second expiry.
	waitFor(t, 10*time.Second, "the killed worker to leave the registry", func() bool { return len(e.workers().Workers) == 0 })
	t.Logf("the killed worker left the registry after %s", time.Since(killed).Round(time.Millisecond))
}
