package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// errStalled ends a phase in which no job moved for Options.StallAfter.
var errStalled = errors.New("no progress")

// meter counts a phase's finished jobs. One goroutine (watch) prints progress and notices a
// stall; the phase's goroutines only Add.
type meter struct {
	done    atomic.Int64
	stalled chan struct{} // closed when no job moved for StallAfter
	quit    chan struct{}
	exited  chan struct{}
}

// watch starts the meter of phase, which moves total jobs. stop ends it and waits for it.
func (b *bench) watch(phase string, total int) (m *meter, stop func()) {
	m = &meter{stalled: make(chan struct{}), quit: make(chan struct{}), exited: make(chan struct{})}
	every := b.opts.ProgressEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	check := min(every, b.opts.StallAfter)
	update, end := func(int64) {}, func() {}
	if b.opts.Phase != nil {
		update, end = b.opts.Phase(phase, total)
		check = min(check, 100*time.Millisecond)
	}
	go func() {
		defer end()
		defer close(m.exited)
		start := time.Now()
		lastPrint, lastMove, lastDone := start, start, int64(0)
		tick := time.NewTicker(check)
		defer tick.Stop()
		for {
			select {
			case <-m.quit:
				return
			case now := <-tick.C:
				done := m.done.Load()
				update(done)
				if done != lastDone {
					lastMove, lastDone = now, done
				} else if now.Sub(lastMove) >= b.opts.StallAfter {
					close(m.stalled)
					return
				}
				if b.opts.Progress != nil && now.Sub(lastPrint) >= every-check/2 {
					lastPrint = now
					fmt.Fprintf(b.opts.Progress, "bench %s: %d/%d jobs, %.0f jobs/s\n",
						phase, done, total, float64(done)/now.Sub(start).Seconds())
				}
			}
		}
	}()
	return m, func() { close(m.quit); <-m.exited }
}

// stallError says which phase stalled and how far it got.
func (b *bench) stallError(phase string, m *meter, total int) error {
	return fmt.Errorf("%s: %w for %s after %d of %d jobs", phase, errStalled, b.opts.StallAfter, m.done.Load(), total)
}

// phase runs fn as the phase name that moves total jobs, with a meter fn adds to. fn's context is
// cancelled when the phase stalls, and the phase then returns a stall error.
func (b *bench) phase(ctx context.Context, name string, total int, fn func(ctx context.Context, m *meter) error) error {
	m, stop := b.watch(name, total)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.stalled:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := fn(ctx, m)
	select {
	case <-m.stalled:
		return b.stallError(name, m, total)
	default:
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}
