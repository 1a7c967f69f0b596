package worker

import (
	"context"
	"errors"

	"github.com/qctl/qctl/jobs"
)

// Duties are what a framework's own worker does around a job besides running its handler:
// Laravel's CallQueuedHandler decrypts the command, dispatches the next job of a chain, counts
// the job in its batch and releases its unique lock. The worker calls them where it applies the
// job's outcome, so a Go or exec handler leaves behind the state PHP's worker would.
type Duties interface {
	// Before runs after the job is decoded and before its handler; it may rewrite job.Payload
	// (a decrypted command). An error fails the job at once, without its after-failure duties,
	// unless it was made with AttemptFailed.
	Before(ctx context.Context, job *jobs.Job) error
	// Succeeded runs after the handler returned nil and before the job is deleted. An error is
	// handled as the handler's own would be: the job is released or failed.
	Succeeded(ctx context.Context, job *jobs.Job) error
	// Failed runs when the job fails for good, before it is recorded in the failed store; what it
	// returns is added to the exception text (what it could not do, such as PHP closures).
	Failed(ctx context.Context, job *jobs.Job, cause error) (note string)
}

// ErrSkip is wrapped by a Before error for a job that must not run yet counts as done, such as
// a job of a cancelled Laravel batch (whose PHP handler would return at once): the handler is not
// called, Succeeded runs, and the job is deleted.
var ErrSkip = errors.New("skipped")

// ErrAttemptFailed is matched (errors.Is) by an error made with AttemptFailed.
var ErrAttemptFailed = errors.New("the attempt failed")

// AttemptFailed marks err, returned by Duties.Before, as failing the attempt rather than the job:
// the job is then released or failed as its tries say, as after an error of its handler. It is
// for what may pass, such as a store Before must read being unreachable; a job Before can never
// prepare (an encrypted one without the key) is better failed at once. The message is err's.
func AttemptFailed(err error) error { return attemptFailed{err} }

type attemptFailed struct{ err error }

func (e attemptFailed) Error() string   { return e.err.Error() }
func (e attemptFailed) Unwrap() []error { return []error{e.err, ErrAttemptFailed} }

// noDuties is the worker's Duties when Deps has none: plain job runs.
type noDuties struct{}

func (noDuties) Before(context.Context, *jobs.Job) error             { return nil }
func (noDuties) Succeeded(context.Context, *jobs.Job) error          { return nil }
func (noDuties) Failed(context.Context, *jobs.Job, error) (s string) { return "" }
