package jobs

import (
	"fmt"
	"time"
)

// ReleaseError is returned (through ReleaseAfter) by a handler that wants its job run again later,
// for example when a rate limit is hit. The worker releases the job with Delay instead of the
// backoff list; the run still counts as an attempt, as in Laravel's $this->release($delay).
// Detect it with errors.As and a *ReleaseError target.
type ReleaseError struct {
	Delay time.Duration
}

// ReleaseAfter returns an error telling the worker to put the job back and run it again after d.
// A negative d is treated as 0.
func ReleaseAfter(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	return &ReleaseError{Delay: d}
}

// Error describes the release so it reads sensibly if it is ever logged as a failure.
func (e *ReleaseError) Error() string {
	return fmt.Sprintf("job released by handler, to run again after %v", e.Delay)
}

// FailError is returned (through Fail) by a handler that knows retrying cannot help, such as when
// the data refers to a record that no longer exists. The worker fails the job at once, whatever
// tries are left, and stores Err as the reason. Detect it with errors.As and a *FailError target.
type FailError struct {
	Err error
}

// Fail returns an error telling the worker to fail the job now without further retries; err is the
// reason recorded in the failed-job store and may be nil.
func Fail(err error) error {
	return &FailError{Err: err}
}

// Error gives the reason, which becomes the exception text in the failed-job store.
func (e *FailError) Error() string {
	if e.Err == nil {
		return "failed by handler"
	}
	return "failed by handler: " + e.Err.Error()
}

// Unwrap returns the reason, so errors.Is and errors.As see through Fail to the handler's error.
func (e *FailError) Unwrap() error {
	return e.Err
}
