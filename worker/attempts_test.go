package worker_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/beanstalkqueue"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"

	"github.com/qctl/qctl/connectors/connectortest"
)

// privateBeanstalkd starts a beanstalkd of the test's own, so its command counters are the test's.
func privateBeanstalkd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("beanstalkd")
	if err != nil {
		connectortest.Missing(t, "beanstalkd is not installed (apt-get install -y beanstalkd)")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	host, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "-l", host, "-p", port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("beanstalkd did not start on %s", addr)
		}
	}
}

// statsJobCount reads how many stats-job commands the server at addr has answered.
func statsJobCount(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "stats\r\n")
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading stats: %v", err)
		}
		if v, ok := strings.CutPrefix(line, "cmd-stats-job: "); ok {
			return strings.TrimSpace(v)
		}
	}
}

// On beanstalkd counting attempts costs a stats-job per job. With unlimited tries the worker
// never asks unless something needs the number: a failure (backoff is indexed by it) or a handler
// calling Job.Attempts, which then sees the right count. With limited tries every job is counted
// before it runs, and a job out of tries is failed.
func TestBeanstalkdCountsAttemptsOnlyWhenNeeded(t *testing.T) {
	addr := privateBeanstalkd(t)
	b := setup(t)
	ctx := context.Background()
	q, err := beanstalkqueue.Open(ctx, beanstalkqueue.Options{Addr: addr, RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	push := func(name string) {
		t.Helper()
		payload, _ := jobs.NewPayload(name, nil).Encode()
		if _, err := q.Push(ctx, "default", payload, 0); err != nil {
			t.Fatal(err)
		}
	}
	run := func(tries int) {
		t.Helper()
		w := worker.New(worker.Deps{Queue: q, Handlers: b.handlers, Failed: b.failed, Report: b.events.add},
			worker.Options{Queues: []string{"default"}, Tries: tries, Concurrency: 4, StopWhenEmpty: true, Sleep: time.Millisecond})
		if _, err := w.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu   sync.Mutex
		seen = map[string][]int{}
	)
	record := func(name string, n int) {
		mu.Lock()
		seen[name] = append(seen[name], n)
		mu.Unlock()
	}

	b.handlers.Register("Quiet", func(context.Context, *jobs.Job) error { return nil })
	for range 20 {
		push("Quiet")
	}
	run(0)
	if n := statsJobCount(t, addr); n != "0" {
		t.Fatalf("20 jobs that never needed their attempts cost %s stats-job commands, want 0", n)
	}

	b.handlers.Register("Flaky", func(_ context.Context, j *jobs.Job) error {
		record("Flaky", j.Attempts())
		if j.Attempts() == 1 {
			return errors.New("first try fails")
		}
		return nil
	})
	push("Flaky")
	run(0)

	b.handlers.Register("Doomed", func(_ context.Context, j *jobs.Job) error {
		record("Doomed", j.Attempts())
		return errors.New("always fails")
	})
	push("Doomed")
	run(2)

	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(seen["Flaky"]) != "[1 2]" || fmt.Sprint(seen["Doomed"]) != "[1 2]" {
		t.Fatalf("attempts seen by handlers: %v; want Flaky [1 2] (unlimited tries) and Doomed [1 2] (tries 2)", seen)
	}
	if recs := b.failedRecords(); len(recs) != 1 || !strings.Contains(recs[0].Exception, "always fails") {
		t.Fatalf("failed records %+v, want Doomed's one after its 2 tries", recs)
	}
}
