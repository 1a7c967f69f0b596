package worker

import (
	"encoding/json"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

// TestWaitBucketBounds: every wait lands in the bucket whose bounds hold it, buckets rise with
// the wait, and the ends are clamped.
func TestWaitBucketBounds(t *testing.T) {
	prev := 0
	for us := int64(0); us < 1<<22; us = us*9/8 + 1 {
		d := time.Duration(us) * time.Microsecond
		i := WaitBucket(d)
		if i < prev {
			t.Fatalf("WaitBucket(%s) = %d, below the bucket of a shorter wait (%d)", d, i, prev)
		}
		prev = i
		if lo, hi := bucketLow(i), bucketLow(i+1); float64(us) < lo || float64(us) >= hi {
			t.Fatalf("WaitBucket(%s) = %d, whose bounds are [%g, %g) µs", d, i, lo, hi)
		}
	}
	if i := WaitBucket(-time.Second); i != 0 {
		t.Errorf("a negative wait is in bucket %d, want 0", i)
	}
	if i := WaitBucket(100 * 24 * time.Hour); i != WaitBuckets-1 {
		t.Errorf("a 100-day wait is in bucket %d, want the last (%d)", i, WaitBuckets-1)
	}
}

// TestHistogramMergeIsExact: histograms of parts of a sample, merged, equal the histogram of
// the whole sample, and its quantiles are within a bucket's half-width of the exact ones.
func TestHistogramMergeIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var all []time.Duration
	whole := Histogram{}
	parts := make([]Histogram, 7)
	for i := range parts {
		parts[i] = Histogram{}
	}
	for n := 0; n < 10000; n++ {
		d := time.Duration(r.ExpFloat64() * float64(200*time.Millisecond))
		all = append(all, d)
		whole[WaitBucket(d)]++
		parts[n%len(parts)][WaitBucket(d)]++
	}
	merged := Histogram{}
	for _, p := range parts {
		merged.Merge(p)
	}
	if len(merged) != len(whole) {
		t.Fatalf("merged has %d buckets, whole %d", len(merged), len(whole))
	}
	for i, n := range whole {
		if merged[i] != n {
			t.Fatalf("bucket %d: merged %d, whole %d", i, merged[i], n)
		}
	}
	slices.Sort(all)
	for _, q := range []float64{.5, .9, .99} {
		exact := all[int(q*float64(len(all)))-1]
		got := merged.Quantile(q)
		if ratio := float64(got) / float64(exact); ratio < 0.875 || ratio > 1.125 {
			t.Errorf("p%g = %s, exact %s: off by more than 12.5%%", q*100, got, exact)
		}
	}
	if (Histogram{}).Quantile(.5) != 0 {
		t.Error("an empty histogram's median is not 0")
	}
}

// TestHistoryMinutes: counts land in the minute of their event, a completed minute is published
// for the two minutes after it, and a slot is cleared before it is reused.
func TestHistoryMinutes(t *testing.T) {
	hs := newHistory([]string{"a", "b"}, time.Minute)
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	hs.prepare(t0)
	for i := 0; i < 3; i++ {
		hs.record(&Event{Type: EventProcessed, Queue: "a", Time: t0.Add(10 * time.Second), Duration: time.Millisecond, Wait: time.Second})
	}
	hs.record(&Event{Type: EventFailed, Queue: "a", Time: t0.Add(20 * time.Second), Duration: 3 * time.Millisecond, Wait: -1})
	hs.record(&Event{Type: EventProcessed, Queue: "other", Time: t0}) // not popped: ignored
	hs.prepare(t0.Add(time.Minute))
	hs.record(&Event{Type: EventReleased, Queue: "b", Time: t0.Add(70 * time.Second), Duration: time.Millisecond, Wait: 0})

	got := hs.completed(t0.Add(2*time.Minute+time.Second), []string{"a", "b"})
	if len(got) != 2 || got[0].Queue != "a" || got[1].Queue != "b" {
		t.Fatalf("completed = %+v, want a's first minute then b's second", got)
	}
	a := got[0]
	if !a.At.Equal(t0) || a.Processed != 3 || a.Failed != 1 || a.Runs != 4 || a.RunNs != int64(6*time.Millisecond) ||
		a.Wait.Count() != 3 || a.Wait[WaitBucket(time.Second)] != 3 {
		t.Errorf("minute one of a = %+v", a)
	}
	if b := got[1]; !b.At.Equal(t0.Add(time.Minute)) || b.Processed != 0 || b.Runs != 1 || b.Wait[0] != 1 {
		t.Errorf("minute two of b = %+v", b)
	}
	// Four minutes on, minute one's slot is reused: prepare clears it first.
	hs.prepare(t0.Add(3 * time.Minute))
	hs.prepare(t0.Add(4 * time.Minute))
	hs.record(&Event{Type: EventProcessed, Queue: "a", Time: t0.Add(4*time.Minute + time.Second), Wait: -1})
	got = hs.completed(t0.Add(5*time.Minute+time.Second), []string{"a", "b"})
	if len(got) != 1 || got[0].Processed != 1 || got[0].Failed != 0 || got[0].Wait != nil {
		t.Errorf("after reuse, completed = %+v, want minute five of a alone with 1 processed", got)
	}
}

// BenchmarkHistoryRecord is the per-job cost of the history: the hook the heartbeat adds to the
// worker's reports, on one goroutine and on 50 at once (a worker at --concurrency 50, every job
// on one queue, the worst case for the counters' cache lines). Run with
//
//	go test -run '^$' -bench HistoryRecord -benchtime 2000000x ./worker/
func BenchmarkHistoryRecord(b *testing.B) {
	hs := newHistory([]string{"default", "emails"}, time.Minute)
	now := time.Now()
	hs.prepare(now)
	e := Event{Type: EventProcessed, Queue: "emails", Time: now, Duration: 3 * time.Millisecond, Wait: 40 * time.Millisecond}
	b.Run("serial", func(b *testing.B) {
		for range b.N {
			hs.record(&e)
		}
	})
	b.Run("parallel50", func(b *testing.B) {
		b.SetParallelism(max(50/max(1, testingProcs()), 1))
		b.RunParallel(func(pb *testing.PB) {
			e := e
			for pb.Next() {
				hs.record(&e)
			}
		})
	})
}

func testingProcs() int { return runtime.GOMAXPROCS(0) }

// BenchmarkJobWait is the other per-job cost: reading a decoded payload's due time (qctl's
// pushedAt string) and the wait from it, in execute.
func BenchmarkJobWait(b *testing.B) {
	p := jobs.NewPayload("SendEmail", json.RawMessage(`{}`))
	p.SetPushedAt(time.Now(), 0)
	raw, _ := p.Encode()
	p, err := jobs.Decode(raw)
	if err != nil {
		b.Fatal(err)
	}
	r := &connectors.Reserved{Attempts: 1}
	start := time.Now()
	for range b.N {
		if waited(r, p, start) < 0 {
			b.Fatal("no wait")
		}
	}
}

// TestWaited takes the latest due time known, from the payload or the backend, for a first run
// only.
func TestWaited(t *testing.T) {
	start := time.Date(2026, 12, 4, 10, 0, 10, 500_000_000, time.UTC)
	laravel8, _ := jobs.Decode([]byte(`{"uuid":"u","displayName":"A","job":"A","data":null}`))
	pushed, _ := jobs.Decode([]byte(`{"job":"A","pushedAt":"` + strconv.FormatInt(start.Unix()-4, 10) + `.25"}`))
	for _, c := range []struct {
		name     string
		p        *jobs.Payload
		attempts int
		ready    time.Time
		want     time.Duration
	}{
		{"no time anywhere", laravel8, 1, time.Time{}, -1},
		{"available_at alone", laravel8, 1, start.Add(-3 * time.Second).Truncate(time.Second), 3500 * time.Millisecond},
		{"pushedAt is tighter than available_at", pushed, 1, start.Add(-5 * time.Second).Truncate(time.Second), 4250 * time.Millisecond},
		{"a later available_at (a delay) wins", pushed, 1, start.Add(-time.Second).Truncate(time.Second), 1500 * time.Millisecond},
		{"a second run is not counted", pushed, 2, time.Time{}, -1},
		{"attempts not counted yet (beanstalkd)", pushed, 0, time.Time{}, 4250 * time.Millisecond},
		{"due after start counts 0", pushed, 1, start.Add(time.Second), 0},
	} {
		if got := waited(&connectors.Reserved{Attempts: c.attempts, ReadyAt: c.ready}, c.p, start); got != c.want {
			t.Errorf("%s: waited = %s, want %s", c.name, got, c.want)
		}
	}
}
