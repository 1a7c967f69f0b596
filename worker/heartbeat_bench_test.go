package worker

import (
	"context"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

// BenchmarkHeartbeatPerJob is what the heartbeat adds to every job: the running-jobs entry at its
// start and end, the processed counter and the history's minute counters, measured on 50
// goroutines at once (a worker at --concurrency 50) with and without a heartbeat. The beats
// themselves (two round trips every 2 s) are not per job. Run with
//
//	go test -run '^$' -bench HeartbeatPerJob -benchtime 2000000x ./worker/
//
// and set the difference beside the worker's CPU per job (BenchmarkDrain's cpu-µs/job).
func BenchmarkHeartbeatPerJob(b *testing.B) {
	for _, hb := range []bool{false, true} {
		name := "without"
		if hb {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
			d := Deps{}
			if hb {
				d.Heartbeat = &Heartbeat{Store: unusedFleet{}, ID: "bench"}
			}
			w := New(d, Options{Queues: []string{"default"}, Concurrency: 50})
			if hb != (w.beat != nil) {
				b.Fatal("the heartbeat was not hooked in as asked")
			}
			if w.beat != nil {
				w.beat.hist.prepare(time.Now())
			}
			b.SetParallelism(max(50/max(1, testingProcs()), 1))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					r := &connectors.Reserved{Queue: "default", ID: "1", Attempts: 1}
					w.watch(r, false)
					w.report(Event{Type: EventProcessed, Queue: "default", Duration: time.Millisecond, Wait: time.Millisecond})
					w.watch(r, true)
				}
			})
		})
	}
}

// unusedFleet stands in for the fleet store of a heartbeat that never beats: the per-job path
// does not call it, and a call fails the benchmark's purpose loudly.
type unusedFleet struct{}

func (unusedFleet) PutWorker(context.Context, string, []byte, time.Duration) error {
	panic("unusedFleet: the per-job path wrote an entry")
}
func (unusedFleet) RemoveWorker(context.Context, string) error { panic("unusedFleet") }
func (unusedFleet) Workers(context.Context) (map[string][]byte, error) {
	panic("unusedFleet")
}
func (unusedFleet) SetFlag(context.Context, string, string, time.Duration) error {
	panic("unusedFleet")
}
func (unusedFleet) Flags(context.Context, []string) ([]string, error) { panic("unusedFleet") }
func (unusedFleet) DeleteFlag(context.Context, string) error          { panic("unusedFleet") }
