package connectortest

import (
	"slices"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

// This file holds the suite's tests of the Inspector ability.

// inspector returns the connector's Inspector, skipping t when it has none.
func (h *harness) inspector(t *testing.T) connectors.Inspector {
	in, ok := h.q.(connectors.Inspector)
	if !ok {
		t.Skip("connector has no stats")
	}
	return in
}

// now is the suite's time: the injected clock's, or the wall clock's on a real-time backend.
func (h *harness) now() time.Time {
	if h.o.RealTime {
		return time.Now()
	}
	return h.clock.Now()
}

// stats returns queue's counts, failing the test on an error.
func (h *harness) stats(in connectors.Inspector, queue string) connectors.QueueStats {
	h.t.Helper()
	st, err := in.QueueStats(h.ctx, queue)
	if err != nil {
		h.t.Fatalf("QueueStats(%s): %v", queue, err)
	}
	return st
}

// wantCounts checks queue's ready, delayed and reserved counts (and that nothing is buried).
func (h *harness) wantCounts(in connectors.Inspector, queue, after string, ready, delayed, reserved int64) connectors.QueueStats {
	h.t.Helper()
	st := h.stats(in, queue)
	if st.Ready != ready || st.Delayed != delayed || st.Reserved != reserved || st.Buried != 0 {
		h.t.Fatalf("after %s: ready %d, delayed %d, reserved %d, buried %d; want %d, %d, %d, 0",
			after, st.Ready, st.Delayed, st.Reserved, st.Buried, ready, delayed, reserved)
	}
	return st
}

// countsAfter waits until d has passed (as popAfter does) and then until queue shows the counts:
// a real-time backend moves jobs between states on its own clock.
func (h *harness) countsAfter(in connectors.Inspector, queue, after string, d time.Duration, ready, delayed, reserved int64) connectors.QueueStats {
	h.t.Helper()
	if !h.o.RealTime {
		h.clock.Advance(d)
		return h.wantCounts(in, queue, after, ready, delayed, reserved)
	}
	deadline := time.Now().Add(d + h.maxDelay)
	for {
		st := h.stats(in, queue)
		if st.Ready == ready && st.Delayed == delayed && st.Reserved == reserved || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return h.wantCounts(in, queue, after, ready, delayed, reserved)
}

// wantOldest checks that OldestReady lies between from and to, to the second the backends keep.
func (h *harness) wantOldest(st connectors.QueueStats, after string, from, to time.Time) {
	h.t.Helper()
	if st.OldestReady.Before(from.Add(-time.Second)) || st.OldestReady.After(to.Add(time.Second)) {
		h.t.Fatalf("after %s: OldestReady %s, want between %s and %s", after,
			st.OldestReady.Format(time.RFC3339), from.Format(time.RFC3339), to.Format(time.RFC3339))
	}
}

// testStatsCounts follows one queue's counts through push, delayed push, pop, release and delete.
// Delays and the lease are an hour, so nothing changes state on its own meanwhile.
func testStatsCounts(t *testing.T, h *harness) {
	in := h.inspector(t)
	q := h.queue("stats")
	long := h.o.Open(t, h.clock, time.Hour)
	if st := h.wantCounts(in, q, "nothing", 0, 0, 0); !st.OldestReady.IsZero() {
		t.Fatalf("empty queue: OldestReady %s, want zero", st.OldestReady)
	}
	start := h.now()
	for n, delay := range []time.Duration{0, 0, time.Hour} {
		if _, err := long.Push(h.ctx, q, payload(n), delay); err != nil {
			t.Fatal(err)
		}
	}
	st := h.wantCounts(in, q, "two pushes and a delayed one", 2, 1, 0)
	if !st.OldestReady.IsZero() { // a backend that records no push time cannot tell
		h.wantOldest(st, "two pushes", start, h.now())
	}
	first, err := long.Pop(h.ctx, q)
	if err != nil || first == nil {
		t.Fatalf("Pop = %v, %v", first, err)
	}
	h.wantCounts(in, q, "a pop", 1, 1, 1)
	if err := long.Release(h.ctx, first, time.Hour); err != nil {
		t.Fatal(err)
	}
	h.wantCounts(in, q, "a delayed release", 1, 2, 0)
	second, err := long.Pop(h.ctx, q)
	if err != nil || second == nil {
		t.Fatalf("Pop = %v, %v", second, err)
	}
	if st := h.wantCounts(in, q, "popping the last ready job", 0, 2, 1); !st.OldestReady.IsZero() {
		t.Fatalf("nothing ready: OldestReady %s, want zero", st.OldestReady)
	}
	if err := long.Delete(h.ctx, second); err != nil {
		t.Fatal(err)
	}
	h.wantCounts(in, q, "a delete", 0, 2, 0)
	if st := h.wantCounts(in, h.queue("stats-never-used"), "nothing", 0, 0, 0); !st.OldestReady.IsZero() {
		t.Fatalf("unknown queue: OldestReady %s, want zero", st.OldestReady)
	}
}

// testStatsBecomeReady checks that a delayed job counts as ready once due, and a reservation
// whose lease ended as ready again, each with an OldestReady no later than when it became ready.
func testStatsBecomeReady(t *testing.T, h *harness) {
	in := h.inspector(t)
	q := h.queue("stats-due")
	start := h.now()
	h.push(q, 1, h.delay)
	h.wantCounts(in, q, "a delayed push", 0, 1, 0)
	st := h.countsAfter(in, q, "the delay passed", h.delay+time.Second, 1, 0, 0)
	if st.OldestReady.IsZero() {
		t.Fatal("a due delayed job is ready, but OldestReady is zero")
	}
	h.wantOldest(st, "the delay passed", start, start.Add(h.delay))
	h.mustPop(q)
	h.wantCounts(in, q, "a pop", 0, 0, 1)
	if h.o.RealTime {
		// beanstalkd (1.12) moves a reservation whose TTR ran out back to ready only when it
		// gets round to it, which can be never while the holder's connection stays open and
		// idle (stats-job shows a negative time-left); a crashed worker's closed connection
		// hands its jobs back at once, and the next reserve takes a lapsed one.
		return
	}
	st = h.countsAfter(in, q, "the lease ended", h.lease+time.Second, 1, 0, 0)
	if st.OldestReady.IsZero() {
		t.Fatal("a job whose lease ended is ready, but OldestReady is zero")
	}
	h.wantOldest(st, "the lease ended", start, h.now())
}

// testStatsQueues checks that Queues lists the queues holding jobs, sorted.
func testStatsQueues(t *testing.T, h *harness) {
	in := h.inspector(t)
	a, b := h.queue("list-b"), h.queue("list-a")
	h.push(a, 1, 0)
	h.push(b, 2, h.delay)
	names, err := in.Queues(h.ctx)
	if err != nil {
		t.Fatalf("Queues: %v", err)
	}
	if !slices.Contains(names, a) || !slices.Contains(names, b) {
		t.Fatalf("Queues = %v, want %s and %s among them", names, a, b)
	}
	if !slices.IsSorted(names) {
		t.Fatalf("Queues = %v, not sorted", names)
	}
}
