package worker

import (
	"context"
	"errors"
	"time"

	"github.com/qctl/qctl/connectors"
)

// This file is how a worker waits out a backend that does not answer, whether it was down when
// the worker started (WaitForBackend) or went away while it ran (loop.backOff): the same backoff,
// and the same two lines in the log per outage.

// The wait between tries against a backend that does not answer: the first, doubling up to the
// last. A 0.3 s restart costs one first wait; a long outage costs a try every 30 s.
const (
	firstRetryDelay = time.Second
	maxRetryDelay   = 30 * time.Second
)

// outage follows one stretch of failed calls to the backend. It reports the first failure and,
// once a call succeeds again, that the backend recovered and after how long, so an outage of an
// hour is two lines in the log and not one per try. Only one goroutine may use it.
type outage struct {
	report Reporter
	now    func() time.Time
	began  time.Time     // when the first failure of this outage happened; zero while calls succeed
	delay  time.Duration // the wait before the next try
	tries  int           // failed calls in this outage
}

// failed notes a failed call and returns how long to wait before the next one.
func (o *outage) failed(err error) time.Duration {
	o.tries++
	if o.began.IsZero() {
		o.began, o.delay = o.now(), firstRetryDelay
		o.report(Event{Time: o.now(), Type: EventError, Error: err.Error() + " (retrying with backoff from " +
			firstRetryDelay.String() + " up to " + maxRetryDelay.String() + " until it answers)"})
		return o.delay
	}
	o.delay = min(o.delay*2, maxRetryDelay)
	return o.delay
}

// succeeded notes a call that worked, reporting the end of an outage.
func (o *outage) succeeded() {
	if o.began.IsZero() {
		return
	}
	o.report(Event{Time: o.now(), Type: EventRecovered, Duration: o.now().Sub(o.began), Attempts: o.tries})
	o.began, o.delay, o.tries = time.Time{}, 0, 0
}

// isOutage reports whether err means the backend could not be reached, which is worth waiting out,
// as opposed to a wrong setting or missing tables, which waiting does not fix.
func isOutage(err error) bool {
	return errors.Is(err, connectors.ErrUnavailable) && !errors.Is(err, connectors.ErrNotMigrated)
}

// WaitForBackend calls open until it succeeds, waiting out a backend that cannot be reached with
// the backoff a running worker uses, so a worker started during an outage (by a supervisor, or
// its hourly --max-time restart) waits for its backend instead of exiting, which would leave it
// FATAL once the supervisor's start retries are spent. The outage is reported once through
// d.Report, and again once open succeeds. Any other error (a wrong setting, refused credentials,
// connectors.ErrNotMigrated) is returned at once, and so is ctx's error when ctx ends the wait.
// It uses d.Report, d.Now and d.After; the rest of d is ignored.
func WaitForBackend(ctx context.Context, d Deps, open func(context.Context) error) error {
	d = d.withDefaults()
	o := outage{report: d.Report, now: d.Now}
	for {
		err := open(ctx)
		if err == nil {
			o.succeeded()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !isOutage(err) {
			return err
		}
		select {
		case <-d.After(o.failed(err)):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// backOff reports a failed fetch (once per outage) and waits before the next try, doubling the
// wait up to 30 s, so a worker whose backend went away neither exits nor spins. It really waits:
// jobs that finish meanwhile are taken and their slots freed, but only a stop, a stop reason, or a
// fetch that got through (the backend is back) ends the wait early. A fetch that fails during the
// wait was sent before it began, so the wait already covers it and does not lengthen the next.
func (l *loop) backOff(err error) {
	l.stopWait() // a wait on the same backend would fail too, and its error is this outage's
	timer := l.w.after(l.outage.failed(err))
	l.backingOff = true
	defer func() { l.backingOff = false }()
	for {
		select {
		case <-timer:
			return
		case r := <-l.results:
			l.take(r)
		case f := <-l.fetchDone:
			l.takeFetch(f)
			if f.err == nil && !f.paused {
				return // it got through: the backend is back
			}
		case <-l.fetchCtx.Done():
			return
		}
		if l.reason != "" || l.jobLimitReached() {
			return
		}
	}
}
