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
	took      time.Duration // the run's length on the monotonic clock (set by Run's slot goroutine)
}

// execute runs one reserved job to its end and decides what happens to it. It never panics and
// never drops the job: every path ends in delete, release or a failed record. The outcome is the
// policy's (outcome.go); Laravel's duties around the job (Deps.Duties) run before the handler,
// after its success, and before a failed record is written.
func (w *Worker) execute(ctx context.Context, r *connectors.Reserved) result {
	start := w.now()
	ev := Event{ID: r.ID, Queue: r.Queue, Attempts: r.Attempts, Wait: -1}
	pol := w.policy()

	p, err := jobs.Decode(r.Payload)
	if err != nil {
		return w.apply(r, ev, start, nil, pol.Decide(Run{Err: err}), err, false)
	}
	ev.Wait = waited(r, p, start)
	ev.Job = jobName(p)
	job := &jobs.Job{ID: r.ID, Queue: r.Queue, Connection: w.opts.Connection, Payload: p, Raw: r.Payload}

	// A backend that counts attempts on demand (beanstalkd) is asked only when tries are
	// limited; otherwise the handler's Job.Attempts or a failure asks, if anything does.
	attempts := r.Attempts
	counter, _ := w.queue.(connectors.AttemptCounter)
	if attempts == 0 && counter != nil && pol.MaxTries(p) > 0 {
		if attempts, err = w.countAttempts(counter, r); err != nil {
			w.report(Event{Type: EventError, Job: ev.Job, ID: r.ID, Queue: r.Queue,
				Error: "counting the job's attempts (it stays reserved until its lease ends): " + err.Error()})
			return result{job: r, outcome: outcomeKept, err: err}
		}
		ev.Attempts = attempts
	}
	if err := pol.Admit(p, attempts, start); err != nil {
		return w.failJob(r, ev, start, job, err)
	}
	var count func() (int, error)
	if attempts == 0 && counter != nil {
		count = func() (int, error) { return w.countAttempts(counter, r) }
	}
	job.SetAttempts(attempts, count)
	// A failure needs the count (backoff is indexed by it); the policy asks only then.
	attemptsNow := func() int {
		ev.Attempts = job.Attempts()
		return ev.Attempts
	}
	if err := w.duties.Before(ctx, job); errors.Is(err, ErrSkip) {
		if err := w.succeeded(job); err != nil {
			return w.release(r, ev, start, pol.BackoffAfter(p, attempts), false, err)
		}
		ev.Type, ev.Duration, ev.Error = EventProcessed, w.now().Sub(start), err.Error()
		w.report(ev)
		return result{job: r, outcome: outcomeDone}
	} else if errors.Is(err, ErrAttemptFailed) {
		return w.apply(r, ev, start, job, pol.Decide(Run{Payload: p, Ending: Errored, Err: err, Attempts: attemptsNow}), err, false)
	} else if err != nil {
		return w.fail(r, ev, start, err)
	}
	handler, err := w.handlers.Lookup(p)
	if err != nil {
		return w.apply(r, ev, start, job, pol.Decide(Run{Payload: p, Ending: Unhandled, Err: err}), err, false)
	}

	err, abandoned := w.runHandler(ctx, handler, job, r, pol.RunTimeout(p))
	if err == nil {
		err = w.succeeded(job) // a duty that could not be done fails the attempt, as in Laravel
	}
	ending := Errored
	switch {
	case err == nil:
		ending = Succeeded
	case errors.Is(err, context.DeadlineExceeded):
		ending = TimedOut
	case ctx.Err() != nil:
		ending = Interrupted // a hard stop cancelled the job: give it straight back, it did not fail
	}
	d := pol.Decide(Run{Payload: p, Ending: ending, Err: err, Attempts: attemptsNow})
	return w.apply(r, ev, start, job, d, err, abandoned)
}

// policy is the outcome policy under this worker's flags.
func (w *Worker) policy() Policy {
	return Policy{Tries: w.opts.Tries, Backoff: w.opts.Backoff, Timeout: w.opts.Timeout}
}

// apply carries out the policy's decision d for r, whose run returned err. job is nil when the
// payload could not be decoded: there is nothing to run duties for.
func (w *Worker) apply(r *connectors.Reserved, ev Event, start time.Time, job *jobs.Job, d Decision, err error, abandoned bool) result {
	switch d.Action {
	case DeleteJob:
		ev.Type, ev.Duration = EventProcessed, w.now().Sub(start)
		w.report(ev)
		return result{job: r, outcome: outcomeDone}
	case FailJob:
		var res result
		if job != nil {
			res = w.failJob(r, ev, start, job, d.Reason)
		} else {
			res = w.fail(r, ev, start, d.Reason)
		}
		res.abandoned = abandoned
		return res
	}
	if d.Reason != nil { // a failed attempt, to be retried
		ev.Error, err = d.Reason.Error(), d.Reason
	}
	return w.release(r, ev, start, d.Delay, abandoned, err)
}

// succeeded runs the after-success duties (the next job of a chain, the batch's count, the
// unique lock). They run under the finish context: the job's own may be near its deadline.
func (w *Worker) succeeded(job *jobs.Job) error {
	ctx, cancel := w.finishContext()
	defer cancel()
	return w.duties.Succeeded(ctx, job)
}

// failJob runs the after-failure duties of a job that failed for good, then records it with
// whatever the duties could not do added to its exception text.
func (w *Worker) failJob(r *connectors.Reserved, ev Event, start time.Time, job *jobs.Job, cause error) result {
	ctx, cancel := w.finishContext()
	note := w.duties.Failed(ctx, job, cause)
	cancel()
	if note != "" {
		cause = fmt.Errorf("%w\n%s", cause, note)
	}
	return w.fail(r, ev, start, cause)
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

// fail records r in the failed store with cause; the loop then deletes it from the queue. With
// BuryFailed on a backend that can bury, the job is buried instead (kept on the server, where
// `qctl kick` brings it back). If neither can take it, the job is released so it is never lost.
func (w *Worker) fail(r *connectors.Reserved, ev Event, start time.Time, cause error) result {
	ctx, cancel := w.finishContext()
	defer cancel()
	if b, ok := w.queue.(connectors.Burier); ok && w.opts.BuryFailed {
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

// waited is how long r waited from due to start, or -1 when unknown. It takes the latest of
// the due times it has, each a lower bound: the payload's (microseconds with a pushedAt,
// else seconds) and the backend's (a database row's available_at, in seconds, which covers
// Laravel 8-11 payloads that carry no time). Those are the first push's, and a database row's
// may predate a lapsed reservation, so only a first run's wait is known (Attempts 0 is a backend
// that has not counted, beanstalkd, whose released jobs are then counted from their push). A due
// time a little after start (a clock ahead on the pushing machine) counts 0.
func waited(r *connectors.Reserved, p *jobs.Payload, start time.Time) time.Duration {
	if r.Attempts > 1 {
		return -1
	}
	due, ok := p.DueAt()
	if !r.ReadyAt.IsZero() && (!ok || r.ReadyAt.After(due)) {
		due, ok = r.ReadyAt, true
	}
	if !ok {
		return -1
	}
	return max(start.Sub(due), 0)
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
