package faults

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

const (
	// freezeFor is how long a frozen server stays stopped: longer than the 20 s the issue asks
	// for, and longer than every timeout a worker's backend calls should have.
	freezeFor = 21 * time.Second
	// downFor is how long a killed server stays down before it is started again.
	downFor = time.Second
	// drainBound is how long the drain may take once the server is back.
	drainBound = 60 * time.Second
	// tries is the workers' --tries: no job fails for running too often, and every backend counts
	// attempts at the pop (beanstalkd counts them only on demand with --tries 0, and a handler's
	// Attempts() would then call a frozen server).
	tries = "1000"
	// deleteSlack is how long before the fault a run may have ended and its delete still have
	// been in flight when the server went away.
	deleteSlack = 2 * time.Second
)

// scenario is one fault under load.
type scenario struct {
	name   string
	server func(*testing.T) *server
	fault  string // "kill" (SIGKILL, then start again) or "freeze" (SIGSTOP, then SIGCONT)
	listen bool   // run `qctl listen` (one `work --once` child per job) instead of `qctl work`
	jobs   int
	ms     int // each job's run time
}

// tally is what one scenario did.
type tally struct {
	name                   string
	pushed, ran, lost      int
	duplicated, allowed    int
	failed                 int
	noticed, drained       time.Duration // freeze: until a worker reported it; from the server's return to the end of the drain
	windowStart, windowEnd time.Time
}

func TestFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the fault suite runs for about two minutes; it is skipped with -short")
	}
	scenarios := []scenario{
		{name: "redis/kill", server: newRedis, fault: "kill", jobs: 400, ms: 20},
		{name: "beanstalkd/kill", server: newBeanstalkd, fault: "kill", jobs: 400, ms: 20},
		{name: "postgres/kill", server: newPostgres, fault: "kill", jobs: 400, ms: 20},
		{name: "mariadb/kill", server: newMariaDB, fault: "kill", jobs: 400, ms: 20},
		{name: "redis/freeze", server: newRedis, fault: "freeze", jobs: 300, ms: 20},
		{name: "beanstalkd/freeze", server: newBeanstalkd, fault: "freeze", jobs: 300, ms: 20},
		{name: "postgres/freeze", server: newPostgres, fault: "freeze", jobs: 300, ms: 20},
		{name: "mariadb/freeze", server: newMariaDB, fault: "freeze", jobs: 300, ms: 20},
		{name: "redis/listen-kill", server: newRedis, fault: "kill", listen: true, jobs: 60},
		{name: "postgres/listen-kill", server: newPostgres, fault: "kill", listen: true, jobs: 60},
	}
	var (
		mu      sync.Mutex
		tallies []tally
	)
	t.Run("scenario", func(t *testing.T) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) {
				t.Parallel()
				got := run(t, sc)
				mu.Lock()
				tallies = append(tallies, got)
				mu.Unlock()
			})
		}
	})
	sort.Slice(tallies, func(i, j int) bool { return tallies[i].name < tallies[j].name })
	var b strings.Builder
	fmt.Fprintf(&b, "%-22s %6s %5s %5s %10s %8s %6s %9s %9s\n", "scenario", "pushed", "ran", "lost", "duplicated", "allowed", "failed", "noticed", "drained")
	for _, r := range tallies {
		noticed := "-"
		if r.noticed > 0 {
			noticed = r.noticed.Round(100 * time.Millisecond).String()
		}
		fmt.Fprintf(&b, "%-22s %6d %5d %5d %10d %8d %6d %9s %9s\n", r.name, r.pushed, r.ran, r.lost, r.duplicated, r.allowed, r.failed, noticed, r.drained.Round(100*time.Millisecond))
	}
	t.Logf("fault suite (duplicated = jobs run more than once; allowed = of those, first run ended while the server was down or frozen, so its delete could not be acknowledged):\n%s", b.String())
}

// run pushes sc.jobs jobs, starts the workers, injects the fault once a quarter of the jobs ran,
// waits for the drain and counts every job's runs.
func run(t *testing.T, sc scenario) tally {
	s := sc.server(t)
	q := openWhenReady(t, s)
	dir := t.TempDir()
	recordPath := filepath.Join(dir, "record.txt")
	config := "default = \"q\"\n\n[connections.q]\n" + s.connection + fmt.Sprintf("retry_after = %d\n", int(lease/time.Second)) +
		"\n[failed]\ndialect = \"sqlite\"\ndsn = \"failed.db\"\n"
	if err := os.WriteFile(filepath.Join(dir, "queue.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	pushed := push(t, q, sc.jobs, sc.ms)

	var procs []*proc
	if sc.listen {
		procs = append(procs, startQctl(t, dir, recordPath, "listen", "q", "--processes", "2", "--sleep", "0.1", "--tries", tries))
	} else {
		for i := 0; i < 2; i++ {
			procs = append(procs, startQctl(t, dir, recordPath, "work", "q", "--concurrency", "4", "--sleep", "0.1", "--tries", tries, "--name", "w"+strconv.Itoa(i)))
		}
	}
	waitFor(t, 60*time.Second, "a quarter of the jobs to run", func() bool { return len(readRuns(t, recordPath)) >= sc.jobs/4 })

	res := tally{name: sc.name, pushed: len(pushed)}
	res.windowStart = time.Now()
	switch sc.fault {
	case "kill":
		s.kill(t)
		time.Sleep(downFor)
		s.restart(t)
	case "freeze":
		marks := make([]int, len(procs))
		for i, p := range procs {
			marks[i] = p.out.Len()
		}
		s.freeze()
		deadline := time.Now().Add(freezeFor)
		for time.Now().Before(deadline) {
			if res.noticed == 0 && allReported(procs, marks) {
				res.noticed = time.Since(res.windowStart)
			}
			time.Sleep(50 * time.Millisecond)
		}
		s.thaw()
	}
	res.windowEnd = time.Now()

	if !drained(q, pushed, recordPath, drainBound) {
		t.Errorf("the queue did not drain within %s of the server's return", drainBound)
	}
	res.drained = time.Since(res.windowEnd)
	for _, p := range procs {
		p.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, p := range procs {
		if code := p.exitWithin(t, 30*time.Second); code != 0 {
			t.Errorf("qctl %s exited %d\n%s", strings.Join(p.cmd.Args[1:], " "), code, tail(p.out.String()))
		}
		// A driver's own log lines ("[mysql] packets.go:58: unexpected EOF") say again, in
		// another format, what the worker's outage report says once.
		if lines := grepLines(p.out.String(), "[mysql] "); lines != "" {
			t.Errorf("qctl %s printed the MySQL driver's log lines:\n%s", strings.Join(p.cmd.Args[1:], " "), lines)
		}
	}

	runs := readRuns(t, recordPath)
	for id := range pushed {
		times := runs[id]
		res.ran += min(len(times), 1)
		switch {
		case len(times) == 0:
			res.lost++
		case len(times) > 1:
			res.duplicated++
			first := times[0].end
			if !first.Before(res.windowStart.Add(-deleteSlack)) && !first.After(res.windowEnd) {
				res.allowed++
			} else {
				var ends []string
				for _, r := range times {
					ends = append(ends, r.String())
				}
				t.Errorf("job %s ran %d times (ended at %s); its first run ended outside the fault (%s to %s), so its delete should have been acknowledged",
					id, len(times), strings.Join(ends, ", "), res.windowStart.Format("15:04:05.000"), res.windowEnd.Format("15:04:05.000"))
			}
		}
	}
	res.failed = countFailed(t, dir)
	if res.lost > 0 {
		t.Errorf("%d of %d jobs never ran", res.lost, res.pushed)
	}
	if os.Getenv("QCTL_FAULTS_VERBOSE") == "1" {
		for _, p := range procs {
			t.Logf("qctl %s:\n%s", strings.Join(p.cmd.Args[1:], " "), grepLines(p.out.String(), " ERROR "))
		}
	}
	if sc.fault == "freeze" && res.noticed == 0 {
		t.Errorf("no worker reported the frozen server during the %s it was frozen: its calls do not time out", freezeFor)
		for _, p := range procs {
			t.Logf("qctl %s:\n%s", strings.Join(p.cmd.Args[1:], " "), tail(p.out.String()))
		}
	}
	if res.failed > 0 {
		t.Errorf("%d jobs were recorded failed", res.failed)
	}
	return res
}

// push pushes n Record jobs and returns their uuids.
func push(t *testing.T, q connectors.Queue, n, ms int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	payloads := make([][]byte, n)
	for i := range payloads {
		p := jobs.NewPayload("Record", []byte(strconv.Itoa(ms)))
		raw, err := p.Encode()
		if err != nil {
			t.Fatal(err)
		}
		payloads[i] = raw
		ids[p.UUID] = true
	}
	ctx := context.Background()
	if bp, ok := q.(connectors.BulkPusher); ok {
		if _, err := bp.PushBulk(ctx, "default", payloads, 0); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	for _, p := range payloads {
		if _, err := q.Push(ctx, "default", p, 0); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// drained waits until every pushed job ran and the queue is empty (nothing ready, delayed or
// reserved, so no job can run again), for at most d.
func drained(q connectors.Queue, pushed map[string]bool, recordPath string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if runsAll(recordPath, pushed) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			n, err := q.Size(ctx, "default")
			cancel()
			if err == nil && n == 0 {
				return true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

func runsAll(recordPath string, pushed map[string]bool) bool {
	runs, err := parseRuns(recordPath)
	if err != nil {
		return false
	}
	for id := range pushed {
		if len(runs[id]) == 0 {
			return false
		}
	}
	return true
}

// jobRun is one run of a job, as its handler recorded it.
type jobRun struct {
	end           time.Time
	attempts, pid string
}

func (r jobRun) String() string {
	return fmt.Sprintf("%s (attempt %s, pid %s)", r.end.Format("15:04:05.000"), r.attempts, r.pid)
}

// readRuns returns, per job uuid, its runs in the order they ended.
func readRuns(t *testing.T, recordPath string) map[string][]jobRun {
	t.Helper()
	runs, err := parseRuns(recordPath)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

func parseRuns(recordPath string) (map[string][]jobRun, error) {
	runs := map[string][]jobRun{}
	b, err := os.ReadFile(recordPath)
	if errors.Is(err, os.ErrNotExist) {
		return runs, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 {
			continue // a line still being written
		}
		id := fields[0]
		n, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil {
			continue // a line still being written
		}
		runs[id] = append(runs[id], jobRun{end: time.Unix(0, n), attempts: fields[2], pid: fields[3]})
	}
	for _, rs := range runs {
		sort.Slice(rs, func(i, j int) bool { return rs[i].end.Before(rs[j].end) })
	}
	return runs, nil
}

// countFailed counts the records of the scenario's failed store, through `qctl failed --json`.
func countFailed(t *testing.T, dir string) int {
	t.Helper()
	cmd := qctlCommand(dir, "", "failed", "--json")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("qctl failed --json: %v\n%s", err, out)
		return 0
	}
	return strings.Count(string(out), `"connection"`)
}

// proc is a running qctl process and its combined output.
type proc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	code int
}

func qctlCommand(dir, recordPath string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "QCTL_FAULTS_AS_QCTL=1", "QCTL_FAULTS_RECORD="+recordPath, "QCTL_CONFIG=", "GORACE=atexit_sleep_ms=0")
	return cmd
}

func startQctl(t *testing.T, dir, recordPath string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: qctlCommand(dir, recordPath, args...), out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			p.code = exit.ExitCode()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) exitWithin(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Errorf("qctl %s did not exit within %s of TERM\n%s", strings.Join(p.cmd.Args[1:], " "), d, tail(p.out.String()))
		p.cmd.Process.Kill()
		<-p.done
		return -1
	}
}

// allReported reports whether every process wrote an ERROR line after its output's mark.
func allReported(procs []*proc, marks []int) bool {
	for i, p := range procs {
		if !strings.Contains(p.out.String()[marks[i]:], " ERROR ") {
			return false
		}
	}
	return true
}

// tail is the last lines of out, enough to see what a process was doing.
func tail(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
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

func (s *syncBuffer) Len() int { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Len() }

// grepLines is the lines of out that contain s.
func grepLines(out, s string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, s) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}
