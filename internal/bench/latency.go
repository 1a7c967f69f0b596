package bench

import (
	"context"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/qctl/qctl/jobs"
)

// latency pushes Jobs jobs, one at a time at Rate per second, while a worker runs them, and
// measures each job's wait from the call that pushed it to its handler's start. The push time
// travels in the job's data, so the figure includes the push itself, the backend's hand-over and
// the worker's pop, as a producer and a worker in separate processes would see it.
func (b *bench) latency(ctx context.Context) (*Latency, error) {
	n := b.opts.Jobs
	var (
		mu      sync.Mutex
		waits   = make([]time.Duration, 0, n)
		elapsed time.Duration
	)
	handler := func(_ context.Context, j *jobs.Job) error {
		started := time.Now()
		var d benchData
		if err := j.Bind(&d); err != nil {
			return jobs.Fail(err)
		}
		mu.Lock()
		waits = append(waits, started.Sub(time.Unix(0, d.T)))
		mu.Unlock()
		return nil
	}
	err := b.phase(ctx, "latency", n, func(ctx context.Context, m *meter) error {
		run := b.newRun(handler, m, n)
		ctx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		ran := make(chan error, 1)
		go func() { ran <- run.wait(ctx) }()

		interval := time.Duration(float64(time.Second) / b.opts.Rate)
		start := time.Now()
		timer := time.NewTimer(0)
		defer timer.Stop()
		for i := 0; i < n; i++ {
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					return <-ran
				}
			}
			now := time.Now()
			payload, err := b.payload(now)
			if err == nil {
				_, err = b.q.Push(ctx, b.opts.Queue, payload, 0)
			}
			if err != nil {
				cancel(err)
				<-ran
				return err
			}
		}
		elapsed = time.Since(start)
		return <-ran
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(waits)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	at := func(p float64) float64 { return ms(waits[max(int(math.Ceil(p*float64(len(waits))))-1, 0)]) }
	l := &Latency{Jobs: n, Rate: b.opts.Rate, P50: at(.50), P90: at(.90), P99: at(.99), Max: ms(waits[len(waits)-1])}
	if n > 1 && elapsed > 0 {
		l.AchievedRate = float64(n-1) / elapsed.Seconds() // n pushes span n-1 intervals
	}
	return l, nil
}
