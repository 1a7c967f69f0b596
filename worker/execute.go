package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

// outcome is how one job's run ended.
type outcome int

const (
	outcomeDone     outcome = iota // handler succeeded: delete the job
	outcomeReleased                // put back to run again
	outcomeFailed                  // recorded in the failed store: delete the job
	outcomeKept                    // left reserved (failed store down): its lease will bring it back
	outcomeBuried                  // set aside on the server (beanstalkd): nothing to delete
)

// result is what an execution hands back to the worker loop.
type result struct {
	job     *connectors.Reserved
	outcome outcome
	err     error // why the job was released or failed
	// abandoned is set when the handler ignored its cancelled context past the grace period; it
	// may still be running, so the worker must stop and let a supervisor start a fresh process.
	abandoned bool
}

// ErrTimedOut is the failure recorded for a job that ran past its timeout.
var ErrTimedOut = errors.New("job has timed out")

// ErrMaxAttempts is the failure recorded for a job popped with its tries already used up, which
// happens when it timed out or its worker died on an earlier attempt.
var ErrMaxAttempts = errors.New("job has been attempted too many times")

// execute runs one reserved job to its end and decides what happens to it. It never panics and
// never drops the job: every path ends in delete, release or a failed record.
func (w *Worker) execute(ctx context.Context, r *connectors.Reserved) result {
	start := w.now()
	ev := Event{ID: r.ID, Queue: r.Queue, Attempts: r.Attempts}

	p, err := jobs.Decode(r.Payload)
	if err != nil {
		return w.fail(r, ev, start, err)
	}
	ev.Job = jobName(p)

	maxTries := w.opts.Tries
	if p.MaxTries != nil {
		maxTries = *p.MaxTries
	}
	// A backend that counts attempts on demand (beanstalkd) is asked only when tries are
	// limited; otherwise the handler's Job.Attempts or a failure asks, if anything does.
	attempts := r.Attempts
	counter, _ := w.queue.(connectors.AttemptCounter)
	if attempts == 0 && counter != nil && maxTries > 0 {
		if attempts, err = w.countAttempts(counter, r); err != nil {
			w.report(Event{Type: EventError, Job: ev.Job, ID: r.ID, Queue: r.Queue,
				Error: "counting the job's attempts (it stays reserved until its lease ends): " + err.Error()})
			return result{job: r, outcome: outcomeKept, err: err}
		}
		ev.Attempts = attempts
	}
	if maxTries > 0 && attempts > maxTries {
		return w.fail(r, ev, start, fmt.Errorf("%s: %w (%d attempts, %d allowed)", ev.Job, ErrMaxAttempts, attempts, maxTries))
	}
	if p.RetryUntil != nil && start.Unix() > *p.RetryUntil {
		return w.fail(r, ev, start, fmt.Errorf("%s: %w (retry deadline %s passed)", ev.Job, ErrMaxAttempts, time.Unix(*p.RetryUntil, 0).UTC().Format(time.RFC3339)))
	}
	handler, err := w.handlers.Lookup(p)
	if err != nil {
		return w.fail(r, ev, start, err)
	}

	timeout := w.opts.Timeout
	if p.Timeout != nil && *p.Timeout > 0 {
		timeout = time.Duration(*p.Timeout) * time.Second
	}
	job := &jobs.Job{ID: r.ID, Queue: r.Queue, Connection: w.opts.Connection, Payload: p, Raw: r.Payload}
	var count func() (int, error)
	if attempts == 0 && counter != nil {
		count = func() (int, error) { return w.countAttempts(counter, r) }
	}
	job.SetAttempts(attempts, count)
	err, abandoned := w.runHandler(ctx, handler, job, r, timeout)
	timedOut := errors.Is(err, context.DeadlineExceeded)

	var release *jobs.ReleaseError
	var failNow *jobs.FailError
	switch {
	case err == nil:
		ev.Type, ev.Duration = EventProcessed, w.now().Sub(start)
		w.report(ev)
		return result{job: r, outcome: outcomeDone}
	case ctx.Err() != nil && !timedOut:
		// A hard stop cancelled the job: give it straight back, it did not fail.
		return w.release(r, ev, start, 0, abandoned, err)
	case errors.As(err, &release):
		return w.release(r, ev, start, release.Delay, abandoned, err)
	case errors.As(err, &failNow), errors.Is(err, jobs.ErrBadCommand):
		// A Laravel object job whose command qctl cannot decode (reported when the handler binds
		// it) reads the same bytes on every attempt: retrying cannot help.
		res := w.fail(r, ev, start, err)
		res.abandoned = abandoned
		return res
	}
	if timedOut {
		limit := timeout
		if te := (*jobs.TimeoutError)(nil); errors.As(err, &te) {
			limit = te.Limit // the handler's own, shorter limit applied
		}
		err = fmt.Errorf("%s: %w after %s", ev.Job, ErrTimedOut, limit)
	}
	ev.Attempts = job.Attempts() // a failure needs the count: backoff is indexed by it
	if (timedOut && p.FailOnTimeout) || (maxTries > 0 && ev.Attempts >= maxTries) {
		res := w.fail(r, ev, start, err)
		res.abandoned = abandoned
		return res
	}
	ev.Error = err.Error()
	return w.release(r, ev, start, w.backoff(p, ev.Attempts), abandoned, err)
}

// countAttempts asks a backend that counts attempts on demand for r's.
func (w *Worker) countAttempts(counter connectors.AttemptCounter, r *connectors.Reserved) (int, error) {
	ctx, cancel := w.finishContext()
	defer cancel()
	return counter.CountAttempts(ctx, r)
}

// runHandler runs handler under the job's timeout while keeping its lease alive. A handler that
// ignores its cancelled context gets KillGrace to return; after that it is abandoned.
func (w *Worker) runHandler(ctx context.Context, handler jobs.Handler, job *jobs.Job, r *connectors.Reserved, timeout time.Duration) (err error, abandoned bool) {
	runCtx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		runCtx, cancel = context.WithTimeout(ctx, timeout)
	}
	defer cancel()
	stopLease := w.keepLease(r)
	defer stopLease()

	done := make(chan error, 1)
	go func() { done <- jobs.Run(runCtx, handler, job) }()
	select {
	case err = <-done:
	case <-runCtx.Done():
		grace := time.NewTimer(w.opts.KillGrace)
		defer grace.Stop()
		select {
		case err = <-done:
		case <-grace.C:
			err, abandoned = runCtx.Err(), true
		}
	}
	// A handler that swallowed the deadline and returned nil still ran out of time only if it
	// returned late; honour what it returned otherwise.
	if err != nil && runCtx.Err() == context.DeadlineExceeded && !errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	}
	return err, abandoned
}

// keepLease extends r's reservation every third of a lease while the job runs, when the backend
// can, so a long job is never handed to a second worker. A third, not a half: backends store whole
// seconds, and rounding can make an extension look up to a second older than it is. It costs a
// timer, not a goroutine, so the many jobs that end before their first extension pay almost
// nothing. The returned func stops the extensions and waits for one in progress.
func (w *Worker) keepLease(r *connectors.Reserved) (stop func()) {
	ext, ok := w.queue.(connectors.LeaseExtender)
	if !ok || w.opts.Lease <= 0 {
		return func() {}
	}
	var (
		mu      sync.Mutex // held while extending, so stop waits for an extension in progress
		stopped bool
		timer   *time.Timer
	)
	every := w.opts.Lease / 3
	extend := func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), w.opts.Lease/2)
		err := ext.Extend(ctx, r, w.opts.Lease)
		cancel()
		if err != nil {
			w.report(Event{Type: EventError, ID: r.ID, Queue: r.Queue, Error: "extending the lease: " + err.Error()})
		}
		timer.Reset(every)
	}
	mu.Lock()
	timer = time.AfterFunc(every, extend)
	mu.Unlock()
	return func() {
		mu.Lock()
		stopped = true
		timer.Stop()
		mu.Unlock()
	}
}

// backoff returns the delay before the next attempt: the payload's backoff, else --backoff.
func (w *Worker) backoff(p *jobs.Payload, attempts int) time.Duration {
	if p.Backoff != "" {
		if list, err := jobs.ParseBackoff(p.Backoff); err == nil {
			return jobs.BackoffFor(list, attempts)
		}
	}
	return jobs.BackoffFor(w.opts.Backoff, attempts)
}

// release puts r back on its queue after delay. If that fails the job stays reserved and comes
// back when its lease ends, so nothing is lost.
func (w *Worker) release(r *connectors.Reserved, ev Event, start time.Time, delay time.Duration, abandoned bool, cause error) result {
	ctx, cancel := w.finishContext()
	defer cancel()
	if err := w.queue.Release(ctx, r, delay); err != nil {
		w.report(Event{Type: EventError, Job: ev.Job, ID: r.ID, Queue: r.Queue, Error: "releasing the job (it returns when its lease ends): " + err.Error()})
		return result{job: r, outcome: outcomeKept, abandoned: abandoned, err: cause}
	}
	ev.Type, ev.Duration, ev.Delay = EventReleased, w.now().Sub(start), delay
	w.report(ev)
	return result{job: r, outcome: outcomeReleased, abandoned: abandoned, err: cause}
}

// burier is a backend that can set a failed job aside itself (beanstalkd's bury).
type burier interface {
	Bury(ctx context.Context, job *connectors.Reserved) error
}

// fail records r in the failed store with cause; the loop then deletes it from the queue. With
// BuryFailed on a backend that can bury, the job is buried instead (kept on the server, where
// `qctl kick` brings it back). If neither can take it, the job is released so it is never lost.
func (w *Worker) fail(r *connectors.Reserved, ev Event, start time.Time, cause error) result {
	ctx, cancel := w.finishContext()
	defer cancel()
	if b, ok := w.queue.(burier); ok && w.opts.BuryFailed {
		if err := b.Bury(ctx, r); err != nil {
			w.report(Event{Type: EventError, Job: ev.Job, ID: r.ID, Queue: r.Queue, Error: "burying the failed job, releasing it instead: " + err.Error()})
			return w.release(r, ev, start, time.Minute, false, cause)
		}
		ev.Type, ev.Duration, ev.Error = EventFailed, w.now().Sub(start), "buried: "+cause.Error()
		w.report(ev)
		return result{job: r, outcome: outcomeBuried, err: cause}
	}
	if _, err := w.failed.Log(ctx, w.opts.Connection, r.Queue, r.Payload, exceptionText(cause)); err != nil {
		w.report(Event{Type: EventError, Job: ev.Job, ID: r.ID, Queue: r.Queue, Error: "recording the failed job, releasing it instead: " + err.Error()})
		return w.release(r, ev, start, time.Minute, false, cause)
	}
	ev.Type, ev.Duration, ev.Error = EventFailed, w.now().Sub(start), cause.Error()
	w.report(ev)
	return result{job: r, outcome: outcomeFailed, err: cause}
}

// finishContext bounds the bookkeeping after a job. It does not derive from the job's context: a
// hard stop must still be able to release or record the job it interrupted.
func (w *Worker) finishContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

// exceptionText is what the failed store keeps: the error chain's text (a panic's includes its stack).
func exceptionText(err error) string { return err.Error() }

// jobName is the name shown in output: Laravel's displayName, else the job string.
func jobName(p *jobs.Payload) string { return p.ResolveName() }

// RunOne runs one job outside the loop (the sync driver does, in the pushing process) and returns
// why it did not succeed, if it did not. The job is not deleted: a sync job is never stored.
func (w *Worker) RunOne(ctx context.Context, r *connectors.Reserved) error {
	res := w.execute(ctx, r)
	if res.outcome == outcomeDone {
		return nil
	}
	return res.err
}
