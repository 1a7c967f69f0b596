// Package beanstalkqueue is the `beanstalkd` driver: the queue name is the tube, and jobs carry
// beanstalkd's own priority, delay and time-to-run (TTR = retry_after), as Laravel's and
// think-queue's beanstalkd drivers use them, so PHP and qctl producers and workers share tubes.
//
// # Connections
//
// beanstalkd ties a reservation to the connection that made it: only that connection may delete,
// release, bury or touch the job, and closing it hands the job back. So a connection that reserved
// jobs is bound to them from Pop until Delete, Release or Bury ends the last one, and
// Reserved.Receipt names that connection. Other operations borrow an idle connection for one
// command. A worker holds a few connections per server (one per batch in flight); reservations
// that are abandoned (their holder never deletes them) give their connection back once all their
// TTRs have certainly run out.
//
// # Several servers
//
// With Options.Addrs, each tube lives on one server chosen by rendezvous hashing of the tube name
// against the server addresses (see placement.go). A server that is down fails only its own tubes.
//
// # What beanstalkd decides
//
// The server keeps time: delays and TTRs run on its clock, so there is no Now option. Delays and
// TTRs are whole seconds (rounded up). Attempts are the job's `reserves` count from stats-job, as
// Laravel counts them. Extend is `touch`, which restarts the job's full TTR whatever lease the
// caller asks for.
//
// # Waiting
//
// Pop never blocks (reserve-with-timeout 0): a worker pops its queues in strict priority order, and
// a Pop that waited on an empty `high` would hold up `low` on every round. The worker blocks only
// when every queue is empty, through Wait (see wait.go), which blocks in reserve-with-timeout and
// keeps the job it gets for the next Pop.
//
// # Batches
//
// PopN and DeleteN pipeline their commands on one connection, which may then hold several
// reservations (see batch.go and pipeline.go).
//
// # Restart signal
//
// beanstalkd has no key-value store, so the restart signal is the body of the one ready job of the
// reserved tube "qctl.restart" (see restart.go).
//
// # Bury and kick
//
// Bury sets a failed job aside on the server, keeping its priority (bury_failed). Requeue, which
// `qctl kick` uses, brings buried jobs back as new jobs with fresh attempts; Kick is beanstalkd's
// own kick, which keeps their reserves count and so their attempts (see tubes.go).
package beanstalkqueue

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qctl/qctl/connectors"
)

// Defaults for the zero Options.
const (
	DefaultAddr       = "127.0.0.1:11300"
	DefaultPriority   = 1024
	DefaultRetryAfter = 90 * time.Second
)

// dialTimeout bounds connecting to a server when the caller's context has no earlier deadline.
const dialTimeout = 5 * time.Second

// Options configures a Queue. The zero value talks to DefaultAddr.
type Options struct {
	// Addr is the one server to use; DefaultAddr when both Addr and Addrs are empty.
	Addr string
	// Addrs spreads tubes over several servers (rendezvous hashing of the tube name). Every process
	// sharing the servers must list the same addresses spelled the same way, since the spelling is
	// what is hashed. Set Addr or Addrs, not both.
	Addrs []string
	// Priority is the priority of Push (0 is most urgent); nil means DefaultPriority. A pointer,
	// so that a configured 0 stays 0.
	Priority *uint32
	// RetryAfter is the TTR of pushed jobs: whole seconds, rounded up, at least one.
	// DefaultRetryAfter when zero.
	RetryAfter time.Duration
	// BlockFor (block_for) is the longest one Wait blocks; zero leaves it to the caller. Pop
	// never waits, unlike with Laravel's block_for, where every Pop of an empty tube waits this
	// long, so that with --queue=high,low an empty high delays low on every round.
	BlockFor time.Duration
}

// Queue is a beanstalkd connector. It is safe for concurrent use.
type Queue struct {
	servers  []*server
	instance uint64 // tells this Queue's receipts from another's
	priority uint32
	ttr      time.Duration
	blockFor time.Duration
	lazy     atomic.Bool // see CountAttemptsAtPop

	gen       atomic.Uint64 // numbers reservations, so a stale receipt never matches a new one
	closeOnce sync.Once

	parkMu sync.Mutex
	parked map[string][]*connectors.Reserved // jobs Wait reserved for the next Pop, by tube
}

var (
	_ connectors.Queue           = (*Queue)(nil)
	_ connectors.LeaseExtender   = (*Queue)(nil)
	_ connectors.Waiter          = (*Queue)(nil)
	_ connectors.ReservingWaiter = (*Queue)(nil)
	_ connectors.Restarter       = (*Queue)(nil)
	_ connectors.BatchPopper     = (*Queue)(nil)
	_ connectors.BatchDeleter    = (*Queue)(nil)
	_ connectors.BulkPusher      = (*Queue)(nil)
	_ connectors.AttemptCounter  = (*Queue)(nil)
	_ connectors.PriorityPusher  = (*Queue)(nil)
	_ connectors.Burier          = (*Queue)(nil)
)

// instances numbers the Queues of this process for their receipts.
var instances atomic.Uint64

// errClosed is returned by every operation after Close.
var errClosed = errors.New("beanstalkqueue: queue is closed")

// Open checks the options and connects to every server. It fails only when no server can be
// reached (the error wraps connectors.ErrUnavailable and names each address): with several servers,
// one that is down fails just its own tubes, later, and is reconnected to when it is back.
func Open(ctx context.Context, o Options) (*Queue, error) {
	addrs := o.Addrs
	switch {
	case o.Addr != "" && len(o.Addrs) > 0:
		return nil, errors.New("beanstalkqueue: set Addr or Addrs, not both")
	case len(addrs) == 0 && o.Addr != "":
		addrs = []string{o.Addr}
	case len(addrs) == 0:
		addrs = []string{DefaultAddr}
	}
	seen := map[string]bool{}
	for _, a := range addrs {
		if a == "" || seen[a] {
			return nil, fmt.Errorf("beanstalkqueue: server address %q is empty or listed twice", a)
		}
		seen[a] = true
	}
	q := &Queue{
		instance: instances.Add(1),
		priority: DefaultPriority,
		ttr:      wholeSeconds(o.RetryAfter),
		blockFor: o.BlockFor,
	}
	if o.Priority != nil {
		q.priority = *o.Priority
	}
	if o.RetryAfter <= 0 {
		q.ttr = DefaultRetryAfter
	}
	if q.ttr < time.Second {
		q.ttr = time.Second
	}
	for i, a := range addrs {
		q.servers = append(q.servers, newServer(i, a))
	}
	var errs []error
	for _, s := range q.servers {
		c, err := s.acquire(ctx)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.release(c)
	}
	if len(errs) == len(q.servers) {
		q.Close()
		return nil, joinErrors(errs...)
	}
	return q, nil
}

// Close puts back the jobs Wait reserved and nobody popped (see Wait), then closes every
// connection; beanstalkd hands the jobs they had reserved back to their tubes. Operations still
// running fail. Close is safe to call twice.
func (q *Queue) Close() error {
	q.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q.requeueParked(ctx)
		for _, s := range q.servers {
			s.close()
		}
	})
	return nil
}

// wholeSeconds rounds d up to whole seconds, beanstalkd's unit, so a delay never ends early.
func wholeSeconds(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
