package dbqueue

import (
	"context"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
)

// TestConformance runs the suite on every dialect, with Laravel's jobs table and think-queue 3's.
func TestConformance(t *testing.T) {
	for _, dialect := range dialects {
		for _, format := range []string{FormatLaravel, FormatThink} {
			t.Run(dialect+"/"+format, func(t *testing.T) {
				t.Parallel()
				conformance(t, setupFormat(t, dialect, format))
			})
		}
	}
}

// conformance runs the suite on d. One table for the whole suite: every Open of every subtest
// must reach the same table, as worker processes sharing a database do.
func conformance(t *testing.T, d testDB) {
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
}
