package syncqueue

import (
	"context"

	"github.com/qctl/qctl/connectors"
)

var _ connectors.Inspector = (*Queue)(nil)

// QueueStats counts nothing: this driver never stores a job.
func (q *Queue) QueueStats(context.Context, string) (connectors.QueueStats, error) {
	return connectors.QueueStats{}, nil
}

// Queues lists none: this driver never stores a job.
func (q *Queue) Queues(context.Context) ([]string, error) { return nil, nil }
