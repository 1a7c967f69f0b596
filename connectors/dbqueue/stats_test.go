package dbqueue

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
)

func TestQueueStatsCountsEachState(t *testing.T) {
	for _, dialect := range dialects {
		for _, format := range []string{FormatLaravel, FormatThink} {
			t.Run(dialect+"/"+format, func(t *testing.T) {
				t.Parallel()
				queueStatsCountsEachState(t, setupFormat(t, dialect, format))
			})
		}
	}
}

func queueStatsCountsEachState(t *testing.T, d testDB) {
	ctx := context.Background()
	clock := connectortest.NewClock()
	q := d.open(t, clock, time.Minute)
	pushedAt := clock.Now()

	if st, err := q.QueueStats(ctx, "mail"); err != nil || st != (connectors.QueueStats{}) {
		t.Fatalf("QueueStats of an empty queue = %+v, %v; want zeros", st, err)
	}
	for _, delay := range []time.Duration{0, 0, 0, time.Hour, 2 * time.Hour} {
		if _, err := q.Push(ctx, "mail", []byte(`{"job":"A"}`), delay); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := q.Push(ctx, "other", []byte(`{"job":"B"}`), 0); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	if _, err := q.Pop(ctx, "mail"); err != nil {
		t.Fatal(err)
	}

	st, err := q.QueueStats(ctx, "mail")
	want := connectors.QueueStats{Ready: 2, Delayed: 2, Reserved: 1, OldestReady: pushedAt}
	if err != nil || st != want {
		t.Fatalf("QueueStats = %+v, %v; want %+v", st, err, want)
	}

	// Once the lease lapses, the reserved job is ready again, since the end of its lease.
	clock.Advance(time.Minute + time.Second)
	st, err = q.QueueStats(ctx, "mail")
	want = connectors.QueueStats{Ready: 3, Delayed: 2, OldestReady: pushedAt}
	if err != nil || st != want {
		t.Fatalf("QueueStats after the lease lapsed = %+v, %v; want %+v", st, err, want)
	}
	// With the never-reserved ready jobs gone, the oldest ready one is the lapsed one.
	for range 3 {
		if _, err := q.Pop(ctx, "mail"); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Minute)
	st, err = q.QueueStats(ctx, "mail")
	if err != nil || st.Ready != 3 || st.Reserved != 0 || !st.OldestReady.Equal(pushedAt.Add(71*time.Second+time.Minute)) {
		t.Fatalf("QueueStats with only lapsed jobs = %+v, %v; want 3 ready since %s", st, err, pushedAt.Add(131*time.Second))
	}

	names, err := q.Queues(ctx)
	if err != nil || !slices.Equal(names, []string{"mail", "other"}) {
		t.Fatalf("Queues = %q, %v; want [mail other]", names, err)
	}
}
