package worker

import (
	"context"
	"fmt"
	"time"

	"github.com/qctl/qctl/connectors"
)

// This file is how the loop gets jobs: it claims free slots and hands them to a fetcher, which
// pops in strict queue priority and starts the jobs it got on the slot goroutines.

// maxFetches is how many fetches may be outstanding at once. While one waits on the network, the
// slots that finished jobs free are filled by the next, so a busy worker is not held to one round
// trip at a time; two already hide most of that wait, and more would only split the free slots
// into smaller batches.
// A backend whose pops exclude one another (connectors.SerialPopper) gets one.
const maxFetches = 2

// fetchesFor is how many fetches may be outstanding on q.
func fetchesFor(q connectors.Queue) int {
	if sp, ok := q.(connectors.SerialPopper); ok && sp.PopsAreSerial() {
		return 1
	}
	return maxFetches
}

// fetchRequest asks a fetcher for up to n jobs; taken is how many jobs the loop had taken back
// (loop.processed) when it was made.
type fetchRequest struct{ n, taken int }

// fetchResult is what a fetch hands back: how many slots it had claimed and how many jobs it
// started in them.
type fetchResult struct {
	claimed, started int
	taken            int // the request's

	took    time.Duration // the fetch's round trips, on the monotonic clock
	paused  bool          // the worker was paused before the fetch could pop
	drained bool          // every queue ran out before the claimed slots were filled
	err     error
}

// startFetch claims n free slots for a fetcher to fill. The fetcher pops under the read side of
// the pause lock, so once Pause has returned (and said so) no job starts until Resume, and starts
// the jobs there too, each announced to Watch first. Jobs reserved before an error still run,
// since leaving them reserved would delay them a lease.
func (l *loop) startFetch(n int) {
	l.gatherSince = time.Time{}
	l.claimed += n
	l.fetches++
	l.fetched = true
	l.popDue = false
	l.fetchReq <- fetchRequest{n: n, taken: l.processed}
}

// fetcher serves startFetch's requests for the whole Run (maxFetches of them run), so a fetch
// costs a channel send rather than a new goroutine growing its stack through the connector.
func (l *loop) fetcher() {
	w := l.w
	for req := range l.fetchReq {
		n := req.n
		w.mu.RLock()
		if w.paused {
			w.mu.RUnlock()
			l.fetchDone <- fetchResult{claimed: n, taken: req.taken, paused: true}
			continue
		}
		start := time.Now()
		got, err := l.fetch(n)
		took := time.Since(start)
		for _, r := range got {
			w.watch(r, false)
			l.starts <- r
		}
		w.mu.RUnlock()
		l.fetchDone <- fetchResult{claimed: n, started: len(got), drained: len(got) < n, err: err, took: took, taken: req.taken}
	}
}

// takeFetch books a finished fetch: its jobs become in flight and its unused slots free again.
// One of its jobs may have been taken back already (results and fetchDone are read in either
// order); inflight then briefly undercounts, but claimed covered the job until now, so no more
// than Concurrency jobs ever run.
func (l *loop) takeFetch(f fetchResult) {
	l.fetches--
	l.claimed -= f.claimed
	l.inflight += f.started
	if f.started > 0 && f.err == nil {
		l.popTime.add(f.took) // a fetch that found nothing may include a queue's every pop
	}
	if f.err != nil {
		if !l.backingOff {
			l.fetchErr = f.err
		}
		return
	}
	if !f.paused {
		l.outage.succeeded()
	}
	// A short batch from a backend that notifies pushes means every queue is empty now, so the
	// loop waits rather than pop again (see fetch).
	if !f.paused && (f.started == 0 || f.drained && l.shortBatchEmpties) {
		l.empty = true
		l.emptyAfter = max(l.emptyAfter, f.taken)
	}
}

// fetch reserves up to n jobs, taking from each queue in priority order before the next.
func (l *loop) fetch(n int) ([]*connectors.Reserved, error) {
	var got []*connectors.Reserved
	for _, q := range l.w.opts.Queues {
		if l.w.beat.queuePaused(q) {
			continue // `qctl pause` or `queue:pause`: running jobs finish, no new one starts
		}
		for len(got) < n {
			want := n - len(got)
			rs, err := l.popMany(q, want)
			got = append(got, rs...)
			if err != nil {
				return got, err
			}
			if len(rs) == 0 || len(rs) < want && l.shortBatchEmpties {
				// q is empty: on to the next queue. A batch pop (PostgreSQL's LIMIT n … SKIP
				// LOCKED) that got fewer than it asked for found all of q there was: what is
				// pushed from now on, its wait hears of (or its timeout finds).
				break
			}
		}
		if len(got) == n {
			break
		}
	}
	return got, nil
}

// popTimeoutMax bounds one pop (or batch pop) when the lease allows more.
const popTimeoutMax = 10 * time.Second

// popTimeout bounds one pop. A server that stops answering without closing the connection (frozen
// by SIGSTOP, swapped out, cut off by a firewall that drops packets) would otherwise hold the
// fetch until the operating system gives up on the connection, many minutes later, with nothing
// logged. It is also well inside the lease: a reservation whose answer comes after its lease ran
// out may already be another worker's, and running it would run the job twice at once.
func (w *Worker) popTimeout() time.Duration {
	d := popTimeoutMax
	if w.opts.Lease > 0 {
		d = min(d, max(w.opts.Lease/2, time.Second))
	}
	return d
}

// popMany reserves up to n jobs of queue in one round trip when the backend can, else with n
// pops at once, so a backend without batch pop (beanstalkd) still fills free slots in parallel.
// Jobs reserved before an error are returned with it.
func (l *loop) popMany(queue string, n int) ([]*connectors.Reserved, error) {
	timeout := l.w.popTimeout()
	ctx, cancel := context.WithTimeout(l.fetchCtx, timeout)
	defer cancel()
	got, err := l.popManyWithin(ctx, queue, n)
	if l.fetchCtx.Err() != nil || ctx.Err() == nil {
		return got, err
	}
	// The pop outlived its deadline. Jobs it still reserved (a driver that cannot interrupt a
	// COMMIT waits for the server) were reserved at its start, more than half a lease ago, and
	// may be another worker's by now: running them could run a job twice at once. They are left
	// reserved and come back when their lease ends.
	if len(got) > 0 {
		l.w.report(Event{Type: EventError, Queue: queue, Error: fmt.Sprintf(
			"a pop answered after its %s deadline; the %d job(s) it reserved are left to come back when their lease ends, since another worker may have them by now", timeout, len(got))})
	}
	if err == nil {
		err = context.DeadlineExceeded
	}
	return nil, fmt.Errorf("popping from queue %q: no answer within %s: %w", queue, timeout, err)
}

func (l *loop) popManyWithin(ctx context.Context, queue string, n int) ([]*connectors.Reserved, error) {
	if batch, ok := l.w.queue.(connectors.BatchPopper); ok && n > 1 {
		return batch.PopN(ctx, queue, n)
	}
	if n == 1 {
		r, err := l.w.queue.Pop(ctx, queue)
		if r == nil {
			return nil, err
		}
		return []*connectors.Reserved{r}, err
	}
	type popped struct {
		r   *connectors.Reserved
		err error
	}
	out := make(chan popped, n)
	for i := 0; i < n; i++ {
		go func() {
			r, err := l.w.queue.Pop(ctx, queue)
			out <- popped{r, err}
		}()
	}
	var (
		got      []*connectors.Reserved
		firstErr error
	)
	for i := 0; i < n; i++ {
		p := <-out
		if p.r != nil {
			got = append(got, p.r)
		}
		if p.err != nil && firstErr == nil {
			firstErr = p.err
		}
	}
	return got, firstErr
}
