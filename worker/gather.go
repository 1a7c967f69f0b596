package worker

import "time"

// Gathering free slots into batches.
//
// Jobs finish one at a time, so without this the loop would pop for each slot as it frees: on a
// worker whose jobs take less than a pop's round trip (Redis with short handlers, concurrency 10)
// most fetches then asked for one or two jobs, and the round trip (a script call, a write and a
// read syscall, two goroutine hand-offs) was paid per job rather than per batch: ~35 µs of worker
// CPU per job against ~17 µs at concurrency 50, where slots free in bunches.
//
// So while jobs run, fewer than half the slots free and jobs usually finish faster than a fetch
// takes, the loop waits for more slots to free before it pops, but never longer than one fetch's
// round trip from the moment it began to wait. Nothing is reserved early: no job is popped before
// a slot is free for it, so leases, Stop and Kill are exactly as without gathering, and a job that
// waits does so in the queue, where any other worker may take it. What gathering costs is bounded:
// a free slot stays idle at most one round trip longer than it would have (it idles one round trip
// anyway while its fetch is out), and only when jobs are shorter than that round trip.
//
// It does not apply, so latency is unchanged:
//   - when no job runs (the loop pops at once, as before): an idle worker starts a pushed job
//     after one round trip;
//   - when a backend wait just ended (popDue): a push was heard and its job should start now;
//   - when half the slots or more are free, which covers concurrency 1 and 2 entirely;
//   - when jobs take as long as a fetch or longer, where batching would save little and cost a
//     slot's idle time.

// gathering is the loop's state for gather.
type gathering struct {
	minBatch    int        // free slots worth a fetch while jobs run: half of Concurrency
	jobTime     movingMean // a job's run, from the slot goroutines
	popTime     movingMean // a fetch's round trips, when it got jobs
	gatherSince time.Time  // when the loop began holding free slots back; zero when it is not
	gatherTimer *time.Timer
}

// movingMean is an exponentially weighted mean of recent durations (weight 1/8 for the newest),
// zero until the first sample.
type movingMean time.Duration

func (m *movingMean) add(d time.Duration) {
	if *m == 0 {
		*m = movingMean(max(d, 1))
		return
	}
	*m += (movingMean(d) - *m) / 8
}

// gather reports whether the loop should hold its free slots back for now; if so it has waited
// for a job or fetch to finish, a backend wait to end, a stop, a pause or the end of the gathering
// window, whichever came first.
func (l *loop) gather(free int) bool {
	if free >= l.minBatch || l.inflight == 0 || l.popDue || l.jobTime == 0 || l.jobTime >= l.popTime ||
		l.fetchCtx.Err() != nil {
		return false
	}
	now := time.Now()
	if l.gatherSince.IsZero() {
		l.gatherSince = now
	}
	left := time.Duration(l.popTime) - now.Sub(l.gatherSince)
	if left <= 0 {
		return false
	}
	if l.gatherTimer == nil {
		l.gatherTimer = time.NewTimer(left)
	} else {
		l.gatherTimer.Reset(left)
	}
	defer l.gatherTimer.Stop()
	l.await(l.gatherTimer.C)
	return true
}
