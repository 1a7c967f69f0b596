package worker

import (
	"time"

	"github.com/qctl/qctl/jobs"
)

// Options are the `qctl work` flags, with Laravel's names and meanings.
type Options struct {
	// Connection is the connection's name, recorded with failed jobs and handed to handlers.
	Connection string
	// Queues are popped in strict priority: a job of Queues[1] runs only when Queues[0] has none.
	Queues []string
	// Tries is how many attempts a job gets when its payload has no maxTries; 0 means unlimited.
	Tries int
	// Backoff is the delay before retrying after attempt n failed, indexed by n-1, the last repeating.
	Backoff []time.Duration
	// Sleep is how long to wait when every queue is empty and the backend cannot block.
	Sleep time.Duration
	// Rest is a pause after each job, to go easy on a shared backend.
	Rest time.Duration
	// Timeout bounds one job's run when its payload has no timeout; 0 means no bound.
	Timeout time.Duration
	// KillGrace is how long a handler that ignores its cancelled context may go on before the
	// worker gives up on it, releases its job and stops so a supervisor starts a fresh process.
	// Zero means DefaultKillGrace.
	KillGrace time.Duration
	// Memory stops the worker (exit 12) after the current job once resident memory passes it, in bytes.
	Memory uint64
	// MaxJobs stops the worker after this many jobs; 0 means no limit.
	MaxJobs int
	// MaxTime stops the worker after this long; 0 means no limit.
	MaxTime time.Duration
	// Concurrency is how many jobs run at once in this process.
	Concurrency int
	// Once processes one job (or none, if the queues are empty) and stops.
	Once bool
	// StopWhenEmpty stops the worker as soon as every queue is empty.
	StopWhenEmpty bool
	// Lease is the connection's retry_after. While a job runs the worker extends its reservation
	// every third of it, when the backend can, so no other worker starts the job again.
	Lease time.Duration
	// BlockFor is how long an idle worker blocks on the first queue, when the backend can block.
	BlockFor time.Duration
	// Name identifies the worker in events, like Laravel's --name.
	Name string
	// BuryFailed buries failed jobs on a backend that can (beanstalkd) instead of recording them
	// in the failed store.
	BuryFailed bool
}

// DefaultKillGrace is the worker's grace for a handler whose context ended. It is longer than an
// exec handler's own grace (jobs.DefaultKillGrace) plus the moment it takes to kill the command's
// group and return: such a handler always ends, and giving up on it first would make the worker
// exit 13 ("may still be running") although nothing is left running.
const DefaultKillGrace = jobs.DefaultKillGrace + time.Second

// withDefaults fills the zero values that would make the worker misbehave.
func (o Options) withDefaults() Options {
	if len(o.Queues) == 0 {
		o.Queues = []string{"default"}
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.KillGrace <= 0 {
		o.KillGrace = DefaultKillGrace
	}
	if o.Name == "" {
		o.Name = "default"
	}
	return o
}

// StopReason says why Run returned, as Laravel's worker does; it decides the exit status.
type StopReason string

// The reasons a worker stops.
const (
	StopInterrupted    StopReason = "interrupted"     // TERM, INT or QUIT
	StopRestart        StopReason = "restart"         // `qctl restart` was broadcast
	StopMemory         StopReason = "memory"          // --memory exceeded
	StopMaxJobs        StopReason = "max-jobs"        // --max-jobs or --once reached
	StopMaxTime        StopReason = "max-time"        // --max-time reached
	StopEmpty          StopReason = "empty"           // --stop-when-empty or --once found nothing
	StopTimedOut       StopReason = "timed-out"       // a handler would not stop after its timeout
	StopLostConnection StopReason = "lost-connection" // the backend says it is misconfigured for good
)

// Exit statuses beyond 0, 1 (error) and 2 (usage or config error).
const (
	// ExitMemory is Laravel's status for a worker that stopped over its memory limit.
	ExitMemory = 12
	// ExitTimedOut tells a supervisor that a job's handler had to be abandoned, so this process
	// may still run it in the background and must be replaced by a fresh one.
	ExitTimedOut = 13
)

// ExitCode returns the process exit status for a worker that stopped for r.
func (r StopReason) ExitCode() int {
	switch r {
	case StopMemory:
		return ExitMemory
	case StopTimedOut:
		return ExitTimedOut
	case StopLostConnection:
		return 1
	}
	return 0
}
