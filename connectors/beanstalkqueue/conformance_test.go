package beanstalkqueue

import (
	"context"
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
	})
}
