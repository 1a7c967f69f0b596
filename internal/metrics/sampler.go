package metrics

import (
	"context"
	"time"

	"github.com/qctl/qctl/connectors"
)

// sampleTimeout bounds one round of queue samples, so a hung backend never stalls the sampler
// past its next tick.
const sampleTimeout = 5 * time.Second

// sampler reads the depth of the worker's queues every interval into the gauges. Only its own
// goroutine (run) touches its fields after start.
type sampler struct {
	m        *Metrics
	inspect  connectors.Inspector
	queues   []string
	interval time.Duration
	now      func() time.Time
}

// run samples at once, then every interval, until ctx ends.
func (s *sampler) run(ctx context.Context) {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.sample(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sample reads every queue once. A queue that cannot be read keeps its last values; the failure
// is counted in queue_samples_total{result="error"}.
func (s *sampler) sample(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, sampleTimeout)
	defer cancel()
	for _, q := range s.queues {
		st, err := s.inspect.QueueStats(ctx, q)
		if parent.Err() != nil {
			return // stopping: not a failure of the backend
		}
		if err != nil {
			s.m.sampled("error")
			continue
		}
		s.m.setDepth(q, st.Ready, st.Delayed, st.Reserved, st.Buried, st.OldestReady, s.now())
		s.m.sampled("ok") // after the gauges, so a count means they are set
	}
}
