package jobs

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
)

// ErrPanic is wrapped by the error Run returns when a handler panics, so the worker treats the
// panic as a failed attempt instead of crashing with every other job in flight.
var ErrPanic = errors.New("handler panicked")

// Run calls h for job and turns a panic into an error that wraps ErrPanic (and the panic value
// itself when it is an error) and whose text includes the panic value and the goroutine's stack,
// so the failed-job store shows where the handler broke. Any other result passes through as is.
func Run(ctx context.Context, h Handler, job *Job) (err error) {
	if h == nil {
		return fmt.Errorf("%w: nil handler", ErrNoHandler)
	}
	defer func() {
		if v := recover(); v != nil {
			stack := debug.Stack()
			if perr, ok := v.(error); ok {
				err = fmt.Errorf("%w: %w\n\n%s", ErrPanic, perr, stack)
				return
			}
			err = fmt.Errorf("%w: %v\n\n%s", ErrPanic, v, stack)
		}
	}()
	return h(ctx, job)
}
