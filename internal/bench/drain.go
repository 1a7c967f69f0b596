package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// drain runs the real worker with a no-op Go handler over the Jobs jobs on the queue, with
// Concurrency, as `qctl work --stop-when-empty --concurrency C` would, and times it from its start
// until it returned having run them all (their deletes included).
func (b *bench) drain(ctx context.Context) (*Throughput, error) {
	n := b.opts.Jobs
	var elapsed time.Duration
	err := b.phase(ctx, "drain", n, func(ctx context.Context, m *meter) error {
		run := b.newRun(func(context.Context, *jobs.Job) error { return nil }, m, n)
		start := time.Now()
		err := run.wait(ctx)
		elapsed = time.Since(start)
		return err
	})
	if err != nil {
		return nil, err
	}
	return throughput(n, elapsed), nil
}

// workerRun is the worker of a phase, which stops itself once want jobs ran. A worker that stops
// because `qctl restart` was broadcast (for the real workers sharing the backend) is replaced by a
// fresh one, so a benchmark is not cut short by a deploy.
type workerRun struct {
	m     *meter
	want  int64
	fresh func() *worker.Worker

	mu      sync.Mutex
	w       *worker.Worker // the worker running now
	killed  bool
	problem error // the first job that did not succeed
}

// newRun builds a worker over the bench queue running handler for every bench job. Its events
// count processed jobs into m; the want-th stops it, and a job that did not succeed stops it too.
func (b *bench) newRun(handler jobs.Handler, m *meter, want int) *workerRun {
	r := &workerRun{m: m, want: int64(want)}
	reg := jobs.NewRegistry()
	reg.Register(jobName, handler)
	r.fresh = func() *worker.Worker {
		return worker.New(worker.Deps{Queue: b.q, Handlers: reg, Failed: discardFailed{}, Report: r.observe},
			worker.Options{
				Connection: b.opts.Connection, Queues: []string{b.opts.Queue}, Concurrency: b.opts.Concurrency,
				Tries: b.opts.Tries, Timeout: time.Minute, Sleep: b.opts.Sleep, Lease: b.opts.Lease, BlockFor: b.opts.BlockFor,
				Name: "bench",
			})
	}
	r.w = r.fresh()
	return r
}

func (r *workerRun) observe(e worker.Event) {
	switch e.Type {
	case worker.EventProcessed:
		if r.m.done.Add(1) >= r.want {
			r.current().Stop()
		}
	case worker.EventFailed, worker.EventReleased:
		r.mu.Lock()
		if r.problem == nil {
			r.problem = fmt.Errorf("bench job %s was %s: %s", e.ID, e.Type, e.Error)
		}
		w := r.w
		r.mu.Unlock()
		w.Stop()
	}
}

func (r *workerRun) current() *worker.Worker {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w
}

// wait runs the worker until it stopped itself, or ctx ended (which kills it).
func (r *workerRun) wait(ctx context.Context) error {
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			r.mu.Lock()
			r.killed = true
			w := r.w
			r.mu.Unlock()
			w.Kill()
		case <-stopped:
		}
	}()
	for {
		reason, err := r.current().Run(ctx)
		r.mu.Lock()
		problem, killed := r.problem, r.killed
		restart := err == nil && problem == nil && !killed && reason == worker.StopRestart && r.m.done.Load() < r.want
		if restart {
			r.w = r.fresh()
		}
		r.mu.Unlock()
		switch {
		case restart:
			continue
		case err != nil:
			return err
		case problem != nil:
			return problem
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case r.m.done.Load() < r.want:
			return fmt.Errorf("the worker stopped (%s) after %d of %d jobs", reason, r.m.done.Load(), r.want)
		}
		return nil
	}
}

// discardFailed is the failed store of benchmark workers: their jobs never fail, and one that
// does ends the phase with an error (workerRun.observe), so nothing needs keeping.
type discardFailed struct{}

func (discardFailed) Log(context.Context, string, string, []byte, string) (string, error) {
	return "", errors.New("benchmark jobs are not kept in the failed store")
}
