package worker

import (
	"errors"
	"fmt"
	"time"

	"github.com/qctl/qctl/jobs"
)

// ErrTimedOut is the failure recorded for a job that ran past its timeout.
var ErrTimedOut = errors.New("job has timed out")

// ErrMaxAttempts is the failure recorded for a job popped with its tries already used up, which
// happens when it timed out or its worker died on an earlier attempt.
var ErrMaxAttempts = errors.New("job has been attempted too many times")

// Policy is the outcome policy: what follows a run of a job (delete it, release it after a
// backoff, or fail it) from the job's payload and the worker's flags, which the payload's keys
// override. It is the one place these rules live: the worker applies it after every run, and the
// listener to the job of a child it had to kill, so both leave a job as Laravel's worker would.
type Policy struct {
	Tries   int             // --tries: attempts a job gets when its payload has no maxTries; 0 = unlimited
	Backoff []time.Duration // --backoff: the delay before retry n, indexed n-1, the last repeating
	Timeout time.Duration   // --timeout: a run's bound when its payload has no timeout; 0 = none
}

// Action is what is done with a job after a run.
type Action int

// The actions a Decision can ask for.
const (
	DeleteJob  Action = iota // the run succeeded: delete the job
	ReleaseJob               // put it back to run again after Decision.Delay
	FailJob                  // record it as failed with Decision.Reason and delete it
)

// Ending is how a run ended, as far as the policy cares.
type Ending int

// The ways a run can end. An undecodable payload is not one: it is a Run without a Payload.
const (
	Succeeded   Ending = iota // the handler returned nil
	Errored                   // it returned an error or panicked; jobs.ReleaseAfter and jobs.Fail are read from Run.Err
	TimedOut                  // it ran past its timeout (Run.Err is what it returned, if anything)
	Interrupted               // a hard stop cancelled it: it did not fail, and goes straight back
	Killed                    // the process running it was killed or died (listen); Run.Err says why
	Unhandled                 // no handler is registered for its name; Run.Err says which
)

// Run is what the policy knows about one run of a job.
type Run struct {
	// Payload is the job's decoded payload; nil when it could not be decoded (Err says why), which
	// fails the job: the same bytes would fail to decode on every attempt.
	Payload *jobs.Payload
	Ending  Ending
	// Err is what the handler returned (a panic is an error wrapping jobs.ErrPanic), or why the
	// job could not run.
	Err error
	// Attempts returns the attempts made, this one included, or 0 when the backend did not count
	// them. Decide calls it only when the decision depends on it (a run that failed), because on
	// beanstalkd counting costs a round trip; nil means 0.
	Attempts func() int
	// Exceptions is how many runs of this job ended in an error, this one included, as Laravel
	// counts them (under the cache key "job-exceptions:{uuid}") for the payload's maxExceptions;
	// 0 when nobody counts them, and then maxExceptions does not apply.
	Exceptions int
}

// Decision is the policy's answer for one run.
type Decision struct {
	Action Action
	Delay  time.Duration // how long a released job waits before it may run again
	// Reason is why the job failed or is being retried (the failed store's exception text); nil
	// when it succeeded or was released without failing (jobs.ReleaseAfter, a hard stop).
	Reason error
}

// MaxTries returns the attempts p's job gets: its payload's maxTries, else --tries; 0 = unlimited.
func (pol Policy) MaxTries(p *jobs.Payload) int {
	if p.MaxTries != nil {
		return *p.MaxTries
	}
	return pol.Tries
}

// RunTimeout returns how long one run of p's job may take: its payload's timeout, else --timeout;
// 0 = no bound.
func (pol Policy) RunTimeout(p *jobs.Payload) time.Duration {
	if p.Timeout != nil && *p.Timeout > 0 {
		return time.Duration(*p.Timeout) * time.Second
	}
	return pol.Timeout
}

// BackoffAfter returns how long p's job waits after its attempt number attempt (1-based) failed:
// the payload's backoff list when it has a valid one, else --backoff.
func (pol Policy) BackoffAfter(p *jobs.Payload, attempt int) time.Duration {
	if p.Backoff != "" {
		if list, err := jobs.ParseBackoff(p.Backoff); err == nil {
			return jobs.BackoffFor(list, attempt)
		}
	}
	return jobs.BackoffFor(pol.Backoff, attempt)
}

// Admit is checked before a popped job runs: it returns why the job must fail without running
// (wrapping ErrMaxAttempts) when it has been attempted more often than it may be, which happens
// when it timed out or its worker died on an earlier attempt, or when its retryUntil (think-queue's
// timeoutAt) has passed at now. It returns nil when the job may run; attempts 0 means not counted.
func (pol Policy) Admit(p *jobs.Payload, attempts int, now time.Time) error {
	if maxTries := pol.MaxTries(p); maxTries > 0 && attempts > maxTries {
		return fmt.Errorf("%s: %w (%d attempts, %d allowed)", jobName(p), ErrMaxAttempts, attempts, maxTries)
	}
	if p.RetryUntil != nil && now.Unix() > *p.RetryUntil {
		return fmt.Errorf("%s: %w (retry deadline %s passed)", jobName(p), ErrMaxAttempts, time.Unix(*p.RetryUntil, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// Decide says what follows run r. A job whose run failed is released after its backoff until it
// has used up its tries (or, counted, its maxExceptions), then failed; a timeout fails it at once
// when its payload says failOnTimeout. A job the listener had to kill is treated as timed out
// when the listener enforces a timeout (Policy.Timeout > 0), since that is what its kill is for.
func (pol Policy) Decide(r Run) Decision {
	p := r.Payload
	if p == nil {
		return Decision{Action: FailJob, Reason: r.Err}
	}
	switch r.Ending {
	case Succeeded:
		return Decision{Action: DeleteJob}
	case Interrupted:
		return Decision{Action: ReleaseJob}
	case Unhandled:
		return Decision{Action: FailJob, Reason: r.Err}
	}
	var release *jobs.ReleaseError
	var failNow *jobs.FailError
	switch {
	case errors.As(r.Err, &release):
		return Decision{Action: ReleaseJob, Delay: release.Delay}
	case errors.As(r.Err, &failNow), errors.Is(r.Err, jobs.ErrBadCommand):
		// A Laravel object job whose command qctl cannot decode (reported when the handler binds
		// it) reads the same bytes on every attempt: retrying cannot help.
		return Decision{Action: FailJob, Reason: r.Err}
	}
	reason, timedOut := r.Err, r.Ending == TimedOut || r.Ending == Killed && pol.Timeout > 0
	if r.Ending == TimedOut {
		limit := pol.RunTimeout(p)
		if te := (*jobs.TimeoutError)(nil); errors.As(r.Err, &te) {
			limit = te.Limit // the handler's own, shorter limit applied
		}
		reason = fmt.Errorf("%s: %w after %s", jobName(p), ErrTimedOut, limit)
	}
	attempts := 0
	if r.Attempts != nil {
		attempts = r.Attempts()
	}
	maxTries := pol.MaxTries(p)
	tooManyExceptions := r.Ending == Errored && p.MaxExceptions != nil && r.Exceptions > 0 && r.Exceptions >= *p.MaxExceptions
	if (timedOut && p.FailOnTimeout) || (maxTries > 0 && attempts >= maxTries) || tooManyExceptions {
		return Decision{Action: FailJob, Reason: reason}
	}
	return Decision{Action: ReleaseJob, Delay: pol.BackoffAfter(p, attempts), Reason: reason}
}
