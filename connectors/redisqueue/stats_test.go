package redisqueue

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
)

func TestQueueStatsCountsEachState(t *testing.T) {
	for _, format := range []string{FormatLaravel, FormatThink} {
		t.Run(format, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			client := sharedClient(t)
			clock := connectortest.NewClock()
			q, err := Open(ctx, Options{Addr: sharedAddr, Prefix: testPrefix(t, client), Format: format,
				RetryAfter: time.Minute, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { q.Close() })
			pushedAt := clock.Now()

			if st, err := q.QueueStats(ctx, "mail"); err != nil || st != (connectors.QueueStats{}) {
				t.Fatalf("QueueStats of an empty queue = %+v, %v; want zeros", st, err)
			}
			createdAt := `{"job":"A","data":null,"createdAt":` + strconv.FormatInt(pushedAt.Add(-5*time.Second).Unix(), 10) + `}`
			for i, delay := range []time.Duration{0, 0, 0, 30 * time.Second, time.Hour} {
				payload := `{"job":"A","data":null}`
				if i == 1 {
					payload = createdAt // the head after one pop: its createdAt is its push time
				}
				if _, err := q.Push(ctx, "mail", []byte(payload), delay); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := q.Push(ctx, "other", []byte(`{"job":"B"}`), 0); err != nil {
				t.Fatal(err)
			}
			if r, err := q.Pop(ctx, "mail"); err != nil || r == nil {
				t.Fatalf("Pop = %v, %v", r, err)
			}

			st, err := q.QueueStats(ctx, "mail")
			want := connectors.QueueStats{Ready: 2, Delayed: 2, Reserved: 1, OldestReady: pushedAt.Add(-5 * time.Second)}
			if err != nil || st != want {
				t.Fatalf("QueueStats = %+v, %v; want %+v", st, err, want)
			}

			// 40 s on, the first delayed job is due: ready, though no pop has moved it yet.
			clock.Advance(40 * time.Second)
			st, err = q.QueueStats(ctx, "mail")
			want = connectors.QueueStats{Ready: 3, Delayed: 1, Reserved: 1, OldestReady: pushedAt.Add(-5 * time.Second)}
			if err != nil || st != want {
				t.Fatalf("QueueStats with a due delayed job = %+v, %v; want %+v", st, err, want)
			}
			// Past the reservation's lease, that job counts as ready again, since the lease ended.
			for range 3 { // empty the ready list, leaving the three reserved
				if _, err := q.Pop(ctx, "mail"); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(2 * time.Minute)
			st, err = q.QueueStats(ctx, "mail")
			want = connectors.QueueStats{Ready: 4, Delayed: 1, OldestReady: pushedAt.Add(time.Minute)}
			if err != nil || st != want {
				t.Fatalf("QueueStats with lapsed reservations = %+v, %v; want %+v", st, err, want)
			}

			names, err := q.Queues(ctx)
			if err != nil || !slices.Equal(names, []string{"mail", "other"}) {
				t.Fatalf("Queues = %q, %v; want [mail other]", names, err)
			}
		})
	}
}

func TestQueueOfKeyUndoesEveryLayout(t *testing.T) {
	laravel := &Queue{prefix: "app_"}
	cluster := &Queue{prefix: "app_", cluster: true}
	think := &Queue{prefix: "", think: true}
	for _, c := range []struct {
		q    *Queue
		key  string
		want string // "" = not a queue key
	}{
		{laravel, "app_queues:default", "default"},
		{laravel, "app_queues:mail:delayed", "mail"},
		{laravel, "app_queues:mail:reserved", "mail"},
		{laravel, "app_queues:mail:notify", "mail"},
		{laravel, "app_queues:emails:high", "emails:high"},
		{laravel, "other_queues:default", ""},
		{laravel, "app_queues:", ""},
		{cluster, "app_queues:{default}:delayed", "default"},
		{laravel, "app_queues:{default}", "{default}"}, // braces are part of the name off a cluster
		{think, "{queues:default}", "default"},
		{think, "{queues:mail}:reserved", "mail"},
		{think, "queues:default", ""},
	} {
		got, ok := c.q.queueOfKey(c.key)
		if got != c.want || ok != (c.want != "") {
			t.Errorf("queueOfKey(%q) = %q, %v; want %q", c.key, got, ok, c.want)
		}
	}
}

// TestUnreadableJobs: a payload pushed by hand that is not a job gets an id when popped, and a
// push time no queue could have written ("createdAt": 1) is not shown as a 56-year-old job.
func TestUnreadableJobs(t *testing.T) {
	ctx := context.Background()
	client := sharedClient(t)
	q, err := Open(ctx, Options{Addr: sharedAddr, Prefix: testPrefix(t, client)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	if _, err := q.Push(ctx, "mail", []byte(`{"job":"A","createdAt":1}`), 0); err != nil {
		t.Fatal(err)
	}
	if st, err := q.QueueStats(ctx, "mail"); err != nil || !st.OldestReady.IsZero() {
		t.Fatalf("QueueStats = %+v, %v; want no oldest-ready time", st, err)
	}
	if _, err := q.Push(ctx, "junk", []byte(`garbage{`), 0); err != nil {
		t.Fatal(err)
	}
	r, err := q.Pop(ctx, "junk")
	if err != nil || r == nil {
		t.Fatalf("Pop = %v, %v", r, err)
	}
	if !strings.HasPrefix(r.ID, "payload-") || len(r.ID) != len("payload-")+12 {
		t.Fatalf("an unreadable job's id is %q, want payload-<12 hex>", r.ID)
	}
}
