// Package bench measures a queue backend the way `qctl work` uses it: how fast jobs are pushed
// (one at a time, and in bulk where the backend can), how fast the real worker drains them, and
// how long a job waits between its push and its handler's start while pushes arrive at a steady
// rate. It is the engine of `qctl bench`.
//
// Every phase runs on one queue of its own (Options.Queue) that Run clears when it ends, however
// it ends, so a benchmark leaves nothing behind.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

// Modes name the phases Run can measure.
const (
	ModeEnqueue = "enqueue"
	ModeDrain   = "drain"
	ModeLatency = "latency"
	ModeAll     = "all"
)

// jobName is the name benchmark jobs are pushed under; Run registers its own handler for it.
const jobName = "QctlBench"

// Options configure Run.
type Options struct {
	// Mode is ModeEnqueue, ModeDrain, ModeLatency or ModeAll.
	Mode string
	// Jobs is how many jobs each phase pushes.
	Jobs int
	// Concurrency is both the number of pushing goroutines and the worker's --concurrency.
	Concurrency int
	// Tries is the worker's --tries (0 = unlimited).
	Tries int
	// PayloadBytes is the padding put in each job's data, on top of the envelope.
	PayloadBytes int
	// Rate is the latency phase's steady push rate, in jobs per second.
	Rate float64
	// Queue is the queue every phase uses; it should be one nothing else uses.
	Queue string
	// Connection is recorded in the worker's events.
	Connection string
	// Lease and BlockFor are the connection's retry_after and block_for; Sleep is the worker's
	// --sleep for backends that poll.
	Lease, BlockFor, Sleep time.Duration
	// Progress receives a line about the running phase every ProgressEvery; nil for none.
	Progress      io.Writer
	ProgressEvery time.Duration
	// Phase, when set, is called as each phase starts with its name and job count; the
	// returned update is called with the jobs done so far about ten times a second, and end
	// once the phase is over. On a terminal it draws a progress bar with the time left.
	Phase func(name string, total int) (update func(done int64), end func())
	// StallAfter aborts a phase that makes no progress for this long; 0 means a minute.
	StallAfter time.Duration
	// Encode builds a job's payload the way the connection's pushes do (the manager's
	// Conn.Payload); nil means a Laravel payload.
	Encode func(job string, data json.RawMessage) ([]byte, error)
}

// Throughput is the result of a phase that moves Jobs jobs as fast as it can.
type Throughput struct {
	Jobs      int     `json:"jobs"`
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"jobs_per_s"`
}

func throughput(n int, d time.Duration) *Throughput {
	t := &Throughput{Jobs: n, Seconds: d.Seconds()}
	if d > 0 {
		t.PerSecond = float64(n) / d.Seconds()
	}
	return t
}

// Latency is the latency phase's result: how long jobs waited from the call to push them until
// their handler started, at Rate pushes per second (AchievedRate is the rate the pushes kept).
type Latency struct {
	Jobs         int     `json:"jobs"`
	Rate         float64 `json:"rate"`
	AchievedRate float64 `json:"achieved_rate"`
	P50          float64 `json:"p50_ms"`
	P90          float64 `json:"p90_ms"`
	P99          float64 `json:"p99_ms"`
	Max          float64 `json:"max_ms"`
}

// Result is what Run measured; a phase that did not run is nil.
type Result struct {
	Enqueue     *Throughput `json:"enqueue,omitempty"`      // one Push per job
	EnqueueBulk *Throughput `json:"enqueue_bulk,omitempty"` // PushBulk, when the backend has it
	Drain       *Throughput `json:"drain,omitempty"`
	Latency     *Latency    `json:"latency,omitempty"`
}

// Run measures the phases opts.Mode names on q and clears opts.Queue before it returns. ctx
// cancelled (an interrupt) ends the running phase with ctx's error.
func Run(ctx context.Context, q connectors.Queue, opts Options) (res Result, err error) {
	if err := opts.check(); err != nil {
		return res, err
	}
	if opts.StallAfter <= 0 {
		opts.StallAfter = time.Minute
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, cerr := q.Clear(cctx, opts.Queue); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleaning up queue %q: %w", opts.Queue, cerr))
		}
	}()
	b := &bench{q: q, opts: opts}
	mode := opts.Mode
	if mode == ModeEnqueue || mode == ModeAll {
		if res.Enqueue, err = b.enqueue(ctx, false); err != nil {
			return res, err
		}
		if _, bulk := q.(connectors.BulkPusher); bulk {
			if err := b.clear(ctx); err != nil {
				return res, err
			}
			if res.EnqueueBulk, err = b.enqueue(ctx, true); err != nil {
				return res, err
			}
		}
	}
	if mode == ModeDrain || mode == ModeAll {
		if mode == ModeDrain { // ModeAll drains what the enqueue phase left
			_, bulk := q.(connectors.BulkPusher)
			if _, err := b.enqueue(ctx, bulk); err != nil {
				return res, err
			}
		}
		if res.Drain, err = b.drain(ctx); err != nil {
			return res, err
		}
	}
	if mode == ModeLatency || mode == ModeAll {
		if err := b.clear(ctx); err != nil {
			return res, err
		}
		if res.Latency, err = b.latency(ctx); err != nil {
			return res, err
		}
	}
	return res, nil
}

func (o Options) check() error {
	switch {
	case o.Mode != ModeEnqueue && o.Mode != ModeDrain && o.Mode != ModeLatency && o.Mode != ModeAll:
		return fmt.Errorf("unknown mode %q (want enqueue, drain, latency or all)", o.Mode)
	case o.Jobs < 1:
		return fmt.Errorf("the number of jobs must be at least 1 (got %d)", o.Jobs)
	case o.Concurrency < 1:
		return fmt.Errorf("the concurrency must be at least 1 (got %d)", o.Concurrency)
	case o.PayloadBytes < 0:
		return fmt.Errorf("the payload size must not be negative (got %d)", o.PayloadBytes)
	case o.Rate <= 0 && (o.Mode == ModeLatency || o.Mode == ModeAll):
		return fmt.Errorf("the latency rate must be positive (got %g)", o.Rate)
	case o.Queue == "":
		return errors.New("no queue name")
	}
	return nil
}

// bench is one Run's state.
type bench struct {
	q    connectors.Queue
	opts Options
}

// clear empties the queue between phases.
func (b *bench) clear(ctx context.Context) error {
	if _, err := b.q.Clear(ctx, b.opts.Queue); err != nil {
		return fmt.Errorf("clearing queue %q: %w", b.opts.Queue, err)
	}
	return nil
}

// payload encodes one benchmark job whose data carries pushedAt (unix nanoseconds), for the
// latency handler, and PayloadBytes of padding.
func (b *bench) payload(pushedAt time.Time) ([]byte, error) {
	data, err := json.Marshal(benchData{T: pushedAt.UnixNano(), Pad: strings.Repeat("x", b.opts.PayloadBytes)})
	if err != nil {
		return nil, err
	}
	if b.opts.Encode != nil {
		return b.opts.Encode(jobName, data)
	}
	return jobs.NewPayload(jobName, data).Encode()
}

// benchData is a benchmark job's data.
type benchData struct {
	T   int64  `json:"t"`             // push time, unix nanoseconds
	Pad string `json:"pad,omitempty"` // PayloadBytes of filler
}
