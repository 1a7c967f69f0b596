package redisqueue

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
)

// conformance runs the suite with every Open sharing one prefix, like workers sharing a Redis.
func conformance(t *testing.T, inspect redis.UniversalClient, base Options) {
	prefix := testPrefix(t, inspect)
	connectortest.Run(t, connectortest.Options{
		Open: func(t *testing.T, clock *connectortest.Clock, retryAfter time.Duration) connectors.Queue {
			o := base
			o.Prefix, o.RetryAfter, o.Now = prefix, retryAfter, clock.Now
			q, err := Open(context.Background(), o)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { q.Close() })
			return q
		},
	})
}

func TestConformanceLaravel(t *testing.T) {
	conformance(t, sharedClient(t), Options{Addr: sharedAddr})
}

func TestConformanceThink(t *testing.T) {
	conformance(t, sharedClient(t), Options{Addr: sharedAddr, Format: FormatThink})
}
