package beanstalkqueue

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

func TestQueueStatsCountsEachState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := openShared(t, Options{})
	tube := tubeName(t, "stats")

	if st, err := q.QueueStats(ctx, tube); err != nil || st != (connectors.QueueStats{}) {
		t.Fatalf("QueueStats of an unknown tube = %+v, %v; want zeros", st, err)
	}
	before := time.Now().Truncate(time.Second)
	for _, delay := range []time.Duration{0, 0, 0, time.Hour, time.Hour} {
		mustPush(t, q, tube, "job", delay, 1024)
	}
	r := mustPop(t, q, tube)
	buried := mustPop(t, q, tube)
	if err := q.Bury(ctx, buried); err != nil {
		t.Fatal(err)
	}

	st, err := q.QueueStats(ctx, tube)
	if err != nil {
		t.Fatal(err)
	}
	if got := (connectors.QueueStats{Ready: st.Ready, Delayed: st.Delayed, Reserved: st.Reserved, Buried: st.Buried}); got != (connectors.QueueStats{Ready: 1, Delayed: 2, Reserved: 1, Buried: 1}) {
		t.Fatalf("QueueStats = %+v; want 1 ready, 2 delayed, 1 reserved, 1 buried", st)
	}
	// beanstalkd reports a job's age in whole seconds since its put.
	if st.OldestReady.Before(before.Add(-time.Second)) || st.OldestReady.After(time.Now()) {
		t.Fatalf("OldestReady = %s, want between %s and now", st.OldestReady, before)
	}
	if err := q.Delete(ctx, r); err != nil {
		t.Fatal(err)
	}

	names, err := q.Queues(ctx)
	if err != nil || !slices.Contains(names, tube) || !slices.IsSorted(names) {
		t.Fatalf("Queues = %q, %v; want a sorted list with %s", names, err, tube)
	}
	if _, err := q.Clear(ctx, tube); err != nil {
		t.Fatal(err)
	}
}
