package dbqueue

import (
	"context"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
)

// TestPopTellsWhenTheJobFellDue: a popped job carries its row's available_at as ReadyAt, so the
// worker knows how long even a payload without a push time (Laravel 8-11's) waited.
func TestPopTellsWhenTheJobFellDue(t *testing.T) {
	for _, dialect := range dialects {
		for _, format := range []string{FormatLaravel, FormatThink} {
			t.Run(dialect+"/"+format, func(t *testing.T) {
				t.Parallel()
				d := setupFormat(t, dialect, format)
				ctx := context.Background()
				clock := connectortest.NewClock()
				q := d.open(t, clock, time.Minute)
				pushed := clock.Now().Truncate(time.Second)
				if _, err := q.Push(ctx, "default", []byte(`{"job":"A","data":null}`), 0); err != nil {
					t.Fatal(err)
				}
				if _, err := q.Push(ctx, "default", []byte(`{"job":"B","data":null}`), 30*time.Second); err != nil {
					t.Fatal(err)
				}
				r, err := q.Pop(ctx, "default")
				if err != nil || r == nil {
					t.Fatalf("Pop = %v, %v", r, err)
				}
				if !r.ReadyAt.Equal(pushed) {
					t.Errorf("ReadyAt = %s, want the push's second %s", r.ReadyAt, pushed)
				}
				clock.Advance(45 * time.Second)
				jobs, err := q.PopN(ctx, "default", 5)
				if err != nil || len(jobs) != 1 {
					t.Fatalf("PopN = %v, %v; want the delayed job", jobs, err)
				}
				if want := pushed.Add(30 * time.Second); !jobs[0].ReadyAt.Equal(want) {
					t.Errorf("the delayed job's ReadyAt = %s, want %s", jobs[0].ReadyAt, want)
				}
			})
		}
	}
}
