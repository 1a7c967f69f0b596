package manager_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/worker"
)

// historyMinute is the tests' history sample: a second stands for a minute.
const historyMinute = time.Second

// TestWorkersRecordHistory: two workers (as if on two hosts) run jobs pushed a while before
// they start, some failing; with one-second minutes, the connection's history records, summed
// over every minute, count every job once, and each minute's wait percentiles are at least the
// time the jobs sat in the queue.
func TestWorkersRecordHistory(t *testing.T) {
	eachFleetBackendWith(t, manager.Options{HistoryMinute: historyMinute}, "", func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string) {
		ctx := context.Background()
		const ok, failing = 20, 5
		start := time.Now()
		pushCount(t, conn, queue, ok)
		datas := make([]json.RawMessage, failing)
		for i := range datas {
			datas[i] = json.RawMessage(`{}`)
		}
		if _, err := conn.Push(ctx, "Fail", datas, manager.PushOptions{Queue: queue}); err != nil {
			t.Fatal(err)
		}
		const queued = 400 * time.Millisecond // the jobs' least wait
		time.Sleep(queued)
		a := startFleetWorker(t, m, conn, "a", "host-a", queue)
		b := startFleetWorker(t, m, conn, "b", "host-b", queue)
		waitFor(t, 20*time.Second, "the ok jobs ran", func() bool { return a.ran.Load()+b.ran.Load() == ok })

		var (
			sum     manager.QueueMinute
			minutes []manager.HistoryMinute
		)
		waitFor(t, 20*time.Second, "history records every job", func() bool {
			var err error
			minutes, err = conn.History(ctx, start.Add(-historyMinute), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			sum = manager.QueueMinute{}
			for _, mi := range minutes {
				q := mi.Queues[queue]
				sum.Processed += q.Processed
				sum.Failed += q.Failed
				sum.Waits += q.Waits
			}
			return sum.Processed+sum.Failed >= ok+failing
		})
		if sum.Processed != ok || sum.Failed != failing || sum.Waits != ok+failing {
			t.Fatalf("history sums %+v, want processed %d, failed %d, %d waits; minutes %+v", sum, ok, failing, ok+failing, minutes)
		}
		workers := 0
		for _, mi := range minutes {
			workers = max(workers, mi.Workers)
			q, found := mi.Queues[queue]
			if !found || q.Waits == 0 {
				continue
			}
			// A bucket's middle is within 12.5% of any wait in it.
			if min := float64(queued/time.Millisecond) * 0.875; q.WaitP50Ms < min || q.WaitP99Ms < q.WaitP50Ms || q.WaitP99Ms > 15000 {
				t.Errorf("minute %s: wait p50 %.1fms p99 %.1fms, want %.0fms <= p50 <= p99 < 15s", mi.At.Format(time.TimeOnly), q.WaitP50Ms, q.WaitP99Ms, min)
			}
			if q.Runs != q.Processed+q.Failed || q.RuntimeAvgMs <= 0 {
				t.Errorf("minute %s: %d runs averaging %.3fms, want %d runs of some time", mi.At.Format(time.TimeOnly), q.Runs, q.RuntimeAvgMs, q.Processed+q.Failed)
			}
		}
		if workers != 2 {
			t.Errorf("records name at most %d workers, want 2", workers)
		}
	})
}

// TestHistoryRetentionOff: history_retention = 0 records nothing, and History still answers
// with blank minutes.
func TestHistoryRetentionOff(t *testing.T) {
	eachFleetBackendWith(t, manager.Options{HistoryMinute: historyMinute}, "history_retention = 0\n", func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string) {
		ctx := context.Background()
		at := time.Now().Truncate(historyMinute).Add(-historyMinute)
		wrote, err := conn.RecordHistory(ctx, at, "")
		if err != nil || wrote {
			t.Fatalf("RecordHistory = %v, %v; want nothing written", wrote, err)
		}
		minutes, err := conn.History(ctx, at, time.Now())
		if err != nil || len(minutes) == 0 || minutes[0].Recorded {
			t.Fatalf("History = %+v, %v; want blank minutes", minutes, err)
		}
	})
}

// TestHistoryWriterChoice: only the live worker with the lowest id writes a minute; a dashboard
// (writer "") writes only a minute nobody wrote; both sum every worker's published counts.
func TestHistoryWriterChoice(t *testing.T) {
	eachFleetBackendWith(t, manager.Options{HistoryMinute: historyMinute}, "", func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string) {
		ctx := context.Background()
		store, err := conn.Fleet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		at := time.Now().Truncate(historyMinute).Add(-historyMinute)
		id := uniqueID(t)
		a, b := "a-"+id, "b-"+id
		for _, w := range []struct {
			id                string
			processed, failed int64
		}{{a, 3, 0}, {b, 2, 1}} {
			n := w.processed + w.failed
			entry, _ := json.Marshal(worker.Info{ID: w.id, Connection: conn.Name, Queues: []string{queue}, StartedAt: at.Add(-2 * historyMinute), History: []worker.MinuteStats{
				{At: at.Add(-historyMinute), Queue: queue, Processed: 100, Runs: 100}, // another minute: not summed
				{At: at, Queue: queue, Processed: w.processed, Failed: w.failed, Runs: n, RunNs: n * int64(time.Millisecond),
					Wait: worker.Histogram{worker.WaitBucket(100 * time.Millisecond): n}},
			}})
			if err := store.PutWorker(ctx, w.id, entry, time.Minute); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.RemoveWorker(context.Background(), w.id) })
		}
		// A master (or a listener) with a lower id publishes no minutes and never writes them: it
		// does not take the writer's turn from the workers.
		master := "0-master-" + id
		entry, _ := json.Marshal(worker.Info{ID: master, Kind: worker.KindMaster, Connection: conn.Name, StartedAt: at.Add(-2 * historyMinute)})
		if err := store.PutWorker(ctx, master, entry, time.Minute); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.RemoveWorker(context.Background(), master) })
		// Before any of them started, a minute stays blank: nobody knows what ran then.
		if wrote, err := conn.RecordHistory(ctx, at.Add(-5*historyMinute), a); err != nil || wrote {
			t.Fatalf("worker a wrote a minute from before it started: %v, %v", wrote, err)
		}
		// An idle minute while they ran is recorded: nothing ran.
		if wrote, err := conn.RecordHistory(ctx, at.Add(-2*historyMinute), a); err != nil || !wrote {
			t.Fatalf("worker a did not write an idle minute it ran in: %v, %v", wrote, err)
		}
		if wrote, err := conn.RecordHistory(ctx, at, b); err != nil || wrote {
			t.Fatalf("worker b (not the lowest id) wrote: %v, %v", wrote, err)
		}
		if wrote, err := conn.RecordHistory(ctx, at, ""); err != nil || !wrote {
			t.Fatalf("the dashboard did not write the unwritten minute: %v, %v", wrote, err)
		}
		if wrote, err := conn.RecordHistory(ctx, at, ""); err != nil || wrote {
			t.Fatalf("the dashboard wrote a minute already written: %v, %v", wrote, err)
		}
		if wrote, err := conn.RecordHistory(ctx, at, a); err != nil || !wrote {
			t.Fatalf("worker a (the lowest id) did not write: %v, %v", wrote, err)
		}
		minutes, err := conn.History(ctx, at, at.Add(historyMinute))
		if err != nil || len(minutes) != 1 {
			t.Fatalf("History = %+v, %v; want one minute", minutes, err)
		}
		q := minutes[0].Queues[queue]
		if !minutes[0].Recorded || minutes[0].Workers < 2 || q.Processed != 5 || q.Failed != 1 || q.Waits != 6 || q.Runs != 6 ||
			q.WaitP50Ms < 87.5 || q.WaitP50Ms > 112.5 || q.RuntimeAvgMs != 1 {
			t.Errorf("minute = %+v, queue %+v; want 5 processed, 1 failed, 6 waits of about 100ms, 1ms runs, 2 workers", minutes[0], q)
		}
	})
}
