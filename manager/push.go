package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

// PushChunk is how many jobs one bulk push stores at a time on a backend without transactions,
// so a huge file neither builds one enormous request nor loses track of what was pushed when a
// chunk fails. A database connection stores every job of one Push in one transaction instead.
const PushChunk = 1000

// PushOptions are the settings of a push beyond the job and its data.
type PushOptions struct {
	// Queue is the queue to push onto; "" means the connection's.
	Queue string
	// Delay makes the jobs available only after it has passed.
	Delay time.Duration
	// Tries, Backoff ("1,5,10") and Timeout (seconds) are written into the payload as maxTries,
	// backoff and timeout; zero values leave them to the worker.
	Tries   int
	Backoff string
	Timeout int
	// Priority is the jobs' priority on a backend that orders by one (beanstalkd); nil means the
	// connection's. Other backends refuse it with ErrNotSupported.
	Priority *uint32
	// Pushed, when set, is called after each chunk is stored, with its ids in push order.
	Pushed func(ids []string)
}

// Payload builds the envelope the connection's PHP side pushes: think-queue 3's for a
// format = "think" connection, so ThinkPHP workers sharing the queue read what their own
// Queue::push writes, else Laravel's. It is the one place qctl builds a new job's payload.
func (c *Conn) Payload(job string, data json.RawMessage, o PushOptions) ([]byte, error) {
	var p *jobs.Payload
	if c.Format == config.FormatThink {
		p = jobs.NewThinkPayload(job, data)
	} else {
		p = jobs.NewPayload(job, data)
	}
	if o.Tries > 0 {
		n := o.Tries
		p.MaxTries = &n
	}
	if o.Backoff != "" {
		if _, err := jobs.ParseBackoff(o.Backoff); err != nil {
			return nil, fmt.Errorf("backoff %q: %w", o.Backoff, err)
		}
		p.Backoff = o.Backoff
	}
	if o.Timeout > 0 {
		t := o.Timeout
		p.Timeout = &t
	}
	// Horizon's pushedAt, to the microsecond, and Laravel 12's delay: the worker's wait times
	// (the dashboard's history) start from them. PHP workers ignore both keys.
	p.SetPushedAt(time.Now(), o.Delay)
	return p.Encode()
}

// CanPrioritize reports whether the connection's backend takes a priority per job.
func (c *Conn) CanPrioritize() bool {
	_, ok := c.Backend.(connectors.PriorityPusher)
	return ok
}

// Push pushes one job named job per element of datas (each its JSON data), in bulk where the
// backend can, and returns their ids in order. On a database connection the whole push is one
// transaction: every job is stored or none. Elsewhere it goes in chunks of PushChunk, each
// reported to PushOptions.Pushed once stored; on an error, the ids of the chunks already stored
// are returned with it.
func (c *Conn) Push(ctx context.Context, job string, datas []json.RawMessage, o PushOptions) ([]string, error) {
	if o.Delay < 0 {
		return nil, fmt.Errorf("delay must not be negative")
	}
	if o.Priority != nil && !c.CanPrioritize() {
		return nil, fmt.Errorf("%w: connection %s (%s) has no job priorities", ErrNotSupported, c.Name, c.Driver)
	}
	payloads := make([][]byte, len(datas))
	for i, data := range datas {
		raw, err := c.Payload(job, data, o)
		if err != nil {
			return nil, err
		}
		payloads[i] = raw
	}
	queue := o.Queue
	if queue == "" {
		queue = c.Queue
	}
	if err := c.CheckQueues(queue); err != nil {
		return nil, err
	}
	chunkSize := PushChunk
	if _, atomic := c.Backend.(connectors.TxPusher); atomic && o.Priority == nil {
		chunkSize = len(payloads) // all or nothing: one transaction
	}
	var ids []string
	for start := 0; start < len(payloads); start += chunkSize {
		chunk, err := c.PushRaw(ctx, queue, payloads[start:min(start+chunkSize, len(payloads))], o.Delay, o.Priority)
		ids = append(ids, chunk...)
		if len(chunk) > 0 && o.Pushed != nil {
			o.Pushed(chunk)
		}
		if err != nil {
			if len(payloads) > 1 {
				return ids, fmt.Errorf("pushing %s onto %q: %d of %d jobs pushed, then: %w", job, queue, len(ids), len(payloads), err)
			}
			return ids, fmt.Errorf("pushing %s onto %q: %w", job, queue, err)
		}
	}
	return ids, nil
}

// PushRaw stores ready-made payloads on queue, in one bulk push where the backend can (all or
// nothing on the database driver), and returns the ids of those stored.
func (c *Conn) PushRaw(ctx context.Context, queue string, payloads [][]byte, delay time.Duration, priority *uint32) ([]string, error) {
	if bulk, ok := c.Backend.(connectors.BulkPusher); ok && len(payloads) > 1 && priority == nil {
		ids, err := bulk.PushBulk(ctx, queue, payloads, delay)
		if err != nil {
			return nil, err
		}
		return ids, nil
	}
	ids := make([]string, 0, len(payloads))
	for _, raw := range payloads {
		var id string
		var err error
		if pp, ok := c.Backend.(connectors.PriorityPusher); ok && priority != nil {
			id, err = pp.PushPriority(ctx, queue, raw, delay, *priority)
		} else {
			id, err = c.Backend.Push(ctx, queue, raw, delay)
		}
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}
