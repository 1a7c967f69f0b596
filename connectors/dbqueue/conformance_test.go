package dbqueue

import (
	"context"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
)

func TestConformance(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			// One table per dialect for the whole suite: every Open of every subtest must reach
			// the same table, as worker processes sharing a database do.
			d := setup(t, dialect)
			connectortest.Run(t, connectortest.Options{
				Open: func(t *testing.T, clock *connectortest.Clock, retryAfter time.Duration) connectors.Queue {
					q, err := Open(context.Background(), d.options(clock, retryAfter))
					if err != nil {
						t.Fatalf("Open: %v", err)
					}
					t.Cleanup(func() {
						if err := q.Close(); err != nil {
							t.Errorf("Close: %v", err)
						}
					})
					return q
				},
			})
		})
	}
}
