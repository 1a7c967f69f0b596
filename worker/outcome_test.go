package worker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// payload decodes a test payload with the given top-level keys (JSON fragments) added.
func payload(t *testing.T, keys string) *jobs.Payload {
	t.Helper()
	if keys != "" {
		keys = "," + keys
	}
	p, err := jobs.Decode([]byte(`{"uuid":"u","displayName":"SendEmail","job":"SendEmail@handle","data":{}` + keys + `}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func attempts(n int) func() int { return func() int { return n } }

func TestPolicyDecide(t *testing.T) {
	boom := errors.New("boom")
	s := time.Second
	flags := worker.Policy{Tries: 3, Backoff: []time.Duration{1 * s, 5 * s}}
	unlimited := worker.Policy{Backoff: []time.Duration{2 * s}}
	killedWhy := errors.New("listen: the worker running this job was killed: ran past --timeout (1m0s)")
	cases := []struct {
		name   string
		pol    worker.Policy
		keys   string // payload keys; "-" = undecodable payload
		run    worker.Run
		action worker.Action
		delay  time.Duration
		reason error // wrapped by Decision.Reason (nil: Reason must be nil)
	}{
		{name: "success deletes", pol: flags, run: worker.Run{Ending: worker.Succeeded, Attempts: attempts(3)}, action: worker.DeleteJob},
		{name: "undecodable payload fails", pol: flags, keys: "-", run: worker.Run{Err: jobs.ErrBadPayload}, action: worker.FailJob, reason: jobs.ErrBadPayload},
		{name: "undecodable payload of a killed child fails", pol: unlimited, keys: "-", run: worker.Run{Ending: worker.Killed, Err: killedWhy}, action: worker.FailJob, reason: killedWhy},
		{name: "no handler fails at once", pol: unlimited, run: worker.Run{Ending: worker.Unhandled, Err: jobs.ErrNoHandler, Attempts: attempts(1)}, action: worker.FailJob, reason: jobs.ErrNoHandler},
		{name: "hard stop releases at once without a reason", pol: flags, run: worker.Run{Ending: worker.Interrupted, Err: context.Canceled, Attempts: attempts(3)}, action: worker.ReleaseJob},

		// tries: the flag, the payload's maxTries over it, 0 = unlimited
		{name: "error with tries left releases after backoff", pol: flags, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(1)}, action: worker.ReleaseJob, delay: 1 * s, reason: boom},
		{name: "error on the last try fails", pol: flags, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(3)}, action: worker.FailJob, reason: boom},
		{name: "tries 0 is unlimited", pol: unlimited, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(1000)}, action: worker.ReleaseJob, delay: 2 * s, reason: boom},
		{name: "payload maxTries overrides the flag (more)", pol: flags, keys: `"maxTries":5`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(4)}, action: worker.ReleaseJob, delay: 5 * s, reason: boom},
		{name: "payload maxTries overrides the flag (fewer)", pol: unlimited, keys: `"maxTries":2`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(2)}, action: worker.FailJob, reason: boom},
		{name: "payload maxTries 0 is unlimited despite the flag", pol: flags, keys: `"maxTries":0`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(10)}, action: worker.ReleaseJob, delay: 5 * s, reason: boom},
		{name: "payload maxTries null leaves the flag", pol: flags, keys: `"maxTries":null`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(3)}, action: worker.FailJob, reason: boom},
		{name: "uncounted attempts (0) release", pol: flags, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(0)}, action: worker.ReleaseJob, delay: 1 * s, reason: boom},
		{name: "nil Attempts counts as 0", pol: flags, run: worker.Run{Ending: worker.Errored, Err: boom}, action: worker.ReleaseJob, delay: 1 * s, reason: boom},
		{name: "a panic is an error", pol: flags, run: worker.Run{Ending: worker.Errored, Err: fmt.Errorf("%w: oops", jobs.ErrPanic), Attempts: attempts(1)}, action: worker.ReleaseJob, delay: 1 * s, reason: jobs.ErrPanic},

		// backoff: indexed by attempt, the last repeating; the payload's over the flag
		{name: "flag backoff second entry", pol: flags, keys: `"maxTries":0`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(2)}, action: worker.ReleaseJob, delay: 5 * s, reason: boom},
		{name: "flag backoff last entry repeats", pol: flags, keys: `"maxTries":0`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(7)}, action: worker.ReleaseJob, delay: 5 * s, reason: boom},
		{name: "no backoff anywhere is no delay", pol: worker.Policy{}, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(1)}, action: worker.ReleaseJob, reason: boom},
		{name: "payload backoff overrides the flag", pol: flags, keys: `"backoff":"10,20,30"`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(2)}, action: worker.ReleaseJob, delay: 20 * s, reason: boom},
		{name: "payload backoff number", pol: flags, keys: `"backoff":7`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(1)}, action: worker.ReleaseJob, delay: 7 * s, reason: boom},
		{name: "payload backoff last entry repeats", pol: unlimited, keys: `"backoff":"10,20"`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(9)}, action: worker.ReleaseJob, delay: 20 * s, reason: boom},
		{name: "payload backoff null leaves the flag", pol: flags, keys: `"backoff":null`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(2)}, action: worker.ReleaseJob, delay: 5 * s, reason: boom},
		{name: "invalid payload backoff falls back to the flag", pol: flags, keys: `"backoff":"soon"`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(1)}, action: worker.ReleaseJob, delay: 1 * s, reason: boom},

		// control flow from the handler
		{name: "ReleaseAfter releases after its delay, whatever the tries", pol: flags, run: worker.Run{Ending: worker.Errored, Err: jobs.ReleaseAfter(42 * s), Attempts: attempts(3)}, action: worker.ReleaseJob, delay: 42 * s},
		{name: "Fail fails with tries left", pol: unlimited, run: worker.Run{Ending: worker.Errored, Err: jobs.Fail(boom), Attempts: attempts(1)}, action: worker.FailJob, reason: boom},
		{name: "an undecodable command fails with tries left", pol: unlimited, run: worker.Run{Ending: worker.Errored, Err: fmt.Errorf("binding: %w", jobs.ErrBadCommand), Attempts: attempts(1)}, action: worker.FailJob, reason: jobs.ErrBadCommand},
		{name: "ReleaseAfter returned late still releases", pol: flags, run: worker.Run{Ending: worker.TimedOut, Err: fmt.Errorf("%w: %w", context.DeadlineExceeded, jobs.ReleaseAfter(3*s)), Attempts: attempts(3)}, action: worker.ReleaseJob, delay: 3 * s},

		// timeouts and failOnTimeout
		{name: "timeout with tries left releases", pol: flags, keys: `"failOnTimeout":false`, run: worker.Run{Ending: worker.TimedOut, Err: context.DeadlineExceeded, Attempts: attempts(1)}, action: worker.ReleaseJob, delay: 1 * s, reason: worker.ErrTimedOut},
		{name: "timeout with failOnTimeout fails", pol: unlimited, keys: `"failOnTimeout":true`, run: worker.Run{Ending: worker.TimedOut, Err: context.DeadlineExceeded, Attempts: attempts(1)}, action: worker.FailJob, reason: worker.ErrTimedOut},
		{name: "timeout on the last try fails", pol: flags, run: worker.Run{Ending: worker.TimedOut, Err: context.DeadlineExceeded, Attempts: attempts(3)}, action: worker.FailJob, reason: worker.ErrTimedOut},
		{name: "failOnTimeout does not fail an error", pol: unlimited, keys: `"failOnTimeout":true`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(1)}, action: worker.ReleaseJob, delay: 2 * s, reason: boom},

		// maxExceptions, when the exceptions are counted
		{name: "maxExceptions reached fails with tries left", pol: unlimited, keys: `"maxExceptions":2`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(5), Exceptions: 2}, action: worker.FailJob, reason: boom},
		{name: "maxExceptions not reached releases", pol: unlimited, keys: `"maxExceptions":2`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(5), Exceptions: 1}, action: worker.ReleaseJob, delay: 2 * s, reason: boom},
		{name: "maxExceptions uncounted does not apply", pol: unlimited, keys: `"maxExceptions":1`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(5)}, action: worker.ReleaseJob, delay: 2 * s, reason: boom},
		{name: "maxExceptions null does not apply", pol: unlimited, keys: `"maxExceptions":null`, run: worker.Run{Ending: worker.Errored, Err: boom, Attempts: attempts(5), Exceptions: 9}, action: worker.ReleaseJob, delay: 2 * s, reason: boom},
		{name: "a timeout is not an exception", pol: unlimited, keys: `"maxExceptions":1`, run: worker.Run{Ending: worker.TimedOut, Err: context.DeadlineExceeded, Attempts: attempts(5), Exceptions: 1}, action: worker.ReleaseJob, delay: 2 * s, reason: worker.ErrTimedOut},

		// a child the listener killed
		{name: "killed with tries left releases after backoff", pol: flags, run: worker.Run{Ending: worker.Killed, Err: killedWhy, Attempts: attempts(2)}, action: worker.ReleaseJob, delay: 5 * s, reason: killedWhy},
		{name: "killed on the last try fails", pol: flags, run: worker.Run{Ending: worker.Killed, Err: killedWhy, Attempts: attempts(3)}, action: worker.FailJob, reason: killedWhy},
		{name: "killed uncounted releases", pol: flags, run: worker.Run{Ending: worker.Killed, Err: killedWhy, Attempts: attempts(0)}, action: worker.ReleaseJob, delay: 1 * s, reason: killedWhy},
		{name: "killed under a timeout with failOnTimeout fails", pol: worker.Policy{Timeout: time.Minute}, keys: `"failOnTimeout":true`, run: worker.Run{Ending: worker.Killed, Err: killedWhy, Attempts: attempts(1)}, action: worker.FailJob, reason: killedWhy},
		{name: "killed without a timeout ignores failOnTimeout", pol: worker.Policy{}, keys: `"failOnTimeout":true`, run: worker.Run{Ending: worker.Killed, Err: killedWhy, Attempts: attempts(1)}, action: worker.ReleaseJob, reason: killedWhy},
		{name: "killed uses the payload's backoff and maxTries", pol: flags, keys: `"maxTries":9,"backoff":"30"`, run: worker.Run{Ending: worker.Killed, Err: killedWhy, Attempts: attempts(5)}, action: worker.ReleaseJob, delay: 30 * s, reason: killedWhy},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			run := c.run
			if c.keys != "-" {
				run.Payload = payload(t, c.keys)
			}
			d := c.pol.Decide(run)
			if d.Action != c.action || d.Delay != c.delay {
				t.Fatalf("Decide = action %d after %s, want action %d after %s (reason %v)", d.Action, d.Delay, c.action, c.delay, d.Reason)
			}
			if c.reason == nil && d.Reason != nil {
				t.Fatalf("reason %q, want none", d.Reason)
			}
			if c.reason != nil && !errors.Is(d.Reason, c.reason) {
				t.Fatalf("reason %v, want one wrapping %v", d.Reason, c.reason)
			}
		})
	}
}

// TestPolicyCountsAttemptsOnlyWhenItMatters checks that a decision that does not depend on the
// attempt count never asks for it: on beanstalkd that costs a round trip.
func TestPolicyCountsAttemptsOnlyWhenItMatters(t *testing.T) {
	pol := worker.Policy{Tries: 3}
	for _, run := range []worker.Run{
		{Ending: worker.Succeeded},
		{Ending: worker.Interrupted, Err: context.Canceled},
		{Ending: worker.Unhandled, Err: jobs.ErrNoHandler},
		{Ending: worker.Errored, Err: jobs.ReleaseAfter(time.Second)},
		{Ending: worker.Errored, Err: jobs.Fail(nil)},
	} {
		asked := false
		run.Payload, run.Attempts = payload(t, ""), func() int { asked = true; return 1 }
		if pol.Decide(run); asked {
			t.Errorf("ending %d with %v counted the attempts", run.Ending, run.Err)
		}
	}
}

func TestPolicyTimedOutReasonNamesTheJobAndItsTimeout(t *testing.T) {
	d := worker.Policy{Timeout: time.Minute}.Decide(worker.Run{Payload: payload(t, `"timeout":5`), Ending: worker.TimedOut, Err: context.DeadlineExceeded, Attempts: attempts(1)})
	if want := "SendEmail: job has timed out after 5s"; d.Reason == nil || d.Reason.Error() != want {
		t.Fatalf("reason %v, want %q", d.Reason, want)
	}
}

func TestPolicyAdmit(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	cases := []struct {
		name     string
		pol      worker.Policy
		keys     string
		attempts int
		refused  bool
	}{
		{name: "within the flag's tries", pol: worker.Policy{Tries: 3}, attempts: 3},
		{name: "past the flag's tries", pol: worker.Policy{Tries: 3}, attempts: 4, refused: true},
		{name: "tries 0 is unlimited", attempts: 1000},
		{name: "uncounted attempts", pol: worker.Policy{Tries: 3}, attempts: 0},
		{name: "payload maxTries over the flag", pol: worker.Policy{Tries: 3}, keys: `"maxTries":5`, attempts: 5},
		{name: "past the payload's maxTries", keys: `"maxTries":2`, attempts: 3, refused: true},
		{name: "payload maxTries 0 is unlimited", pol: worker.Policy{Tries: 1}, keys: `"maxTries":0`, attempts: 50},
		{name: "retryUntil not passed", keys: `"retryUntil":1800000000`, attempts: 1},
		{name: "retryUntil passed", keys: `"retryUntil":1799999999`, attempts: 1, refused: true},
		{name: "think-queue timeoutAt passed", keys: `"timeoutAt":1799999999`, attempts: 1, refused: true},
		{name: "think-queue timeoutAt not passed", keys: `"timeoutAt":1800000060`, attempts: 1},
		{name: "retryUntil null", keys: `"retryUntil":null`, attempts: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.pol.Admit(payload(t, c.keys), c.attempts, now)
			if c.refused != (err != nil) {
				t.Fatalf("Admit = %v, refused want %v", err, c.refused)
			}
			if err != nil && !errors.Is(err, worker.ErrMaxAttempts) {
				t.Fatalf("Admit = %v, want one wrapping ErrMaxAttempts", err)
			}
		})
	}
}
