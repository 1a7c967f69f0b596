package commands_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
)

// benchJSON is `qctl bench --json`'s output.
type benchJSON struct {
	Queue       string      `json:"queue"`
	Enqueue     *throughput `json:"enqueue"`
	EnqueueBulk *throughput `json:"enqueue_bulk"`
	Drain       *throughput `json:"drain"`
	// Latency has jobs, rate, achieved_rate, p50_ms, p90_ms, p99_ms and max_ms.
	Latency map[string]float64 `json:"latency"`
}

type throughput struct {
	Jobs      int     `json:"jobs"`
	PerSecond float64 `json:"jobs_per_s"`
}

// checkBench checks that a `bench --mode all --json` run printed every figure for jobs jobs;
// bulk says whether the backend pushes in bulk.
func checkBench(t *testing.T, out string, jobs int, bulk bool) benchJSON {
	t.Helper()
	var b benchJSON
	if err := json.Unmarshal([]byte(out), &b); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	for name, tp := range map[string]*throughput{"enqueue": b.Enqueue, "drain": b.Drain} {
		if tp == nil || tp.Jobs != jobs || tp.PerSecond <= 0 {
			t.Errorf("%s = %+v, want %d jobs at a positive rate\n%s", name, tp, jobs, out)
		}
	}
	if bulk != (b.EnqueueBulk != nil) || bulk && (b.EnqueueBulk.Jobs != jobs || b.EnqueueBulk.PerSecond <= 0) {
		t.Errorf("enqueue_bulk = %+v, want it measured: %v\n%s", b.EnqueueBulk, bulk, out)
	}
	l := b.Latency
	if l == nil || int(l["jobs"]) != jobs || !(0 < l["p50_ms"] && l["p50_ms"] <= l["p90_ms"] && l["p90_ms"] <= l["p99_ms"] && l["p99_ms"] <= l["max_ms"]) {
		t.Errorf("latency = %v, want %d jobs with 0 < p50 <= p90 <= p99 <= max\n%s", l, jobs, out)
	}
	return b
}

func TestBenchAllOnTheSQLiteDefault(t *testing.T) {
	e := newEnv(t, "") // no queue.toml: the built-in SQLite default
	e.ok("push", "Record", "{}")
	r := e.ok("bench", "--jobs", "150", "--concurrency", "2", "--rate", "300", "--sleep", "0.01")
	for _, figure := range []string{"enqueue (one at a time)", "enqueue (bulk)", "drain", "latency at 300 jobs/s", "p50", "p90", "p99", "max", "jobs/s"} {
		if !strings.Contains(r.stdout, figure) {
			t.Errorf("bench summary lacks %q:\n%s", figure, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "Benchmarking connection [database] on queue [qctl-bench-") {
		t.Errorf("bench did not say what it measures on stderr:\n%s", r.stderr)
	}
	checkBench(t, e.ok("bench", "--jobs", "100", "--rate", "300", "--sleep", "0.01", "--json").stdout, 100, true)
	// Only the job pushed before remains: the bench queues were cleared.
	s := parseStatus(t, e.ok("status", "--json").stdout)
	if len(s.Queues) != 1 || s.counts("default") != "1/0/0 failed=0" {
		t.Fatalf("after bench, status shows %+v; want only default's one job", s.Queues)
	}
	expect(t, e.qctl("bench", "--mode", "fast"), 2, "--mode")
	expect(t, e.qctl("bench", "--jobs", "0"), 2, "--jobs")
}

// TestBenchStatusAndClearOnEveryServer runs bench --mode all (small N), status and clear through
// the real binary on each network backend.
func TestBenchStatusAndClearOnEveryServer(t *testing.T) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	unique := hex.EncodeToString(b)
	servers := serverBackends("bench", unique, "", true)
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			s.use(t)
			e := newEnv(t, "default = \"q\"\n[connections.q]\n"+s.connection+"\n")
			if s.table != "" {
				e.ok("migrate")
			}
			out := e.ok("bench", "--mode", "all", "--jobs", "60", "--concurrency", "3", "--rate", "200", "--sleep", "0.01", "--json").stdout
			checkBench(t, out, 60, true)

			queue := "status-" + unique
			e.ok("push", "Record", "{}", "--queue", queue)
			e.ok("push", "Record", "{}", "--queue", queue)
			e.ok("push", "Record", "{}", "--queue", queue, "--delay", "3600")
			st := parseStatus(t, e.ok("status", "--json", "--queue", queue).stdout)
			if got := st.counts(queue); got != "2/1/0 failed=0" {
				t.Errorf("status of %s: %s, want 2 ready, 1 delayed", queue, got)
			}
			if s.name != "beanstalkd" { // the shared beanstalkd lists every test's tubes
				if all := parseStatus(t, e.ok("status", "--json").stdout); all.counts(queue) != "2/1/0 failed=0" {
					t.Errorf("status without --queue does not list %s: %+v", queue, all.Queues)
				}
			}
			expect(t, e.ok("clear", "--queue", queue, "--force"), 0, "Cleared 3 jobs from the ["+queue+"] queue")
			if got := parseStatus(t, e.ok("status", "--json", "--queue", queue).stdout).counts(queue); got != "0/0/0 failed=0" {
				t.Errorf("status after clear: %s, want an empty queue", got)
			}
		})
	}
}
