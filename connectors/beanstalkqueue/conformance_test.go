package beanstalkqueue

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
)

// sharedAddr is the beanstalkd the development and CI machines run; tests isolate by tube name.
const sharedAddr = "127.0.0.1:11300"

func requireShared(t testing.TB) {
	t.Helper()
	connectortest.RequireService(t, "beanstalkd", sharedAddr,
		"apt-get install -y beanstalkd && beanstalkd -l 127.0.0.1 -p 11300 &")
}

// openShared opens a Queue on the shared server (unless o names others) and closes it when t ends.
func openShared(t testing.TB, o Options) *Queue {
	t.Helper()
	if o.Addr == "" && len(o.Addrs) == 0 {
		requireShared(t)
		o.Addr = sharedAddr
	}
	q, err := Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func TestConformance(t *testing.T) {
	requireShared(t)
	connectortest.Run(t, connectortest.Options{
		RealTime: true, // beanstalkd keeps delays and TTRs on its own clock
		Open: func(t *testing.T, _ *connectortest.Clock, retryAfter time.Duration) connectors.Queue {
			return openShared(t, Options{RetryAfter: retryAfter})
		},
		Private: private(func(q *Queue) connectors.Queue { return q }),
	})
}

// private returns the suite's Private: a beanstalkd of the test's own, since the restart signal
// is one tube per server and a broadcast on the shared one would stop other tests' workers.
// wrap makes each Queue opened on it the connector under test.
func private(wrap func(*Queue) connectors.Queue) func(t *testing.T) connectortest.Opener {
	return func(t *testing.T) connectortest.Opener {
		srv := startServer(t, freeAddr(t))
		return func(t *testing.T, _ *connectortest.Clock, retryAfter time.Duration) connectors.Queue {
			return wrap(openShared(t, Options{Addr: srv.addr, RetryAfter: retryAfter}))
		}
	}
}

// countingQueue is a Queue that does not count at pop but counts right after each pop,
// through CountAttempts: the conformance suite, which checks Attempts, then runs every path of a
// lazily counted reservation (release and bury restating the priority, touch, TTR expiry).
type countingQueue struct {
	*Queue
}

func (q countingQueue) Pop(ctx context.Context, tube string) (*connectors.Reserved, error) {
	jobs, err := q.PopN(ctx, tube, 1)
	if len(jobs) == 0 {
		return nil, err
	}
	return jobs[0], err
}

func (q countingQueue) PopN(ctx context.Context, tube string, n int) ([]*connectors.Reserved, error) {
	jobs, err := q.Queue.PopN(ctx, tube, n)
	for _, r := range jobs {
		if r.Attempts != 0 {
			return nil, fmt.Errorf("a pop told not to count counted attempts (%d)", r.Attempts)
		}
		if r.Attempts, err = q.CountAttempts(ctx, r); err != nil {
			return nil, err
		}
	}
	return jobs, err
}

func TestConformanceWithLazyAttempts(t *testing.T) {
	requireShared(t)
	connectortest.Run(t, connectortest.Options{
		RealTime: true,
		Open: func(t *testing.T, _ *connectortest.Clock, retryAfter time.Duration) connectors.Queue {
			q := openShared(t, Options{RetryAfter: retryAfter})
			q.CountAttemptsAtPop(false)
			return countingQueue{q}
		},
		Private: private(func(q *Queue) connectors.Queue {
			q.CountAttemptsAtPop(false)
			return countingQueue{q}
		}),
	})
}
