package jobs

import (
	"context"
	"fmt"
	"time"
)

// TimeoutError is a handler stopped by a time limit of its own (an exec handler's `timeout` in
// queue.toml), shorter than the worker's: it names that limit, so the failure says which one
// applied. It wraps context.DeadlineExceeded, so it is a timeout like any other.
type TimeoutError struct {
	Limit time.Duration
	Err   error // what the handler returned
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("handler timeout of %s passed: %v", e.Limit, e.Err)
}

func (e *TimeoutError) Unwrap() []error { return []error{context.DeadlineExceeded, e.Err} }
