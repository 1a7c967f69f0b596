package worker

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// This file is the worker's side of the history the dashboard charts: per queue and per minute,
// how many jobs were processed and failed, how long they ran, and a histogram of how long they
// waited from due to start. The heartbeat publishes the last two completed minutes in the
// worker's entry; one writer per connection sums every worker's entries into one record per
// minute (manager/history.go).
//
// The per-job cost is a handful of atomic adds into counters allocated at start: no lock, no
// allocation, no map insert. The heartbeat's goroutine owns the slots' lifecycle: it clears the
// slot of the next minute ahead of time, so a job only ever adds.

// WaitBuckets is how many buckets a wait histogram has. Bucket 0 holds waits under a
// microsecond; bucket 1+4e+s holds waits in [2^e·(1+s/4), 2^e·(1+(s+1)/4)) microseconds, four
// buckets per doubling (each within 19% of its neighbours) up to 2^40 µs (12.7 days), the last
// bucket taking everything longer. The bounds are fixed, so histograms from any number of
// workers merge exactly by adding counts.
const WaitBuckets = 1 + 4*40

// WaitBucket returns the bucket of a wait of d.
func WaitBucket(d time.Duration) int {
	us := uint64(max(d, 0) / time.Microsecond)
	if us == 0 {
		return 0
	}
	e := bits.Len64(us) - 1 // us is in [2^e, 2^(e+1))
	var sub uint64
	if e >= 2 {
		sub = us >> (e - 2) & 3
	} else {
		sub = us << (2 - e) & 3
	}
	return min(1+4*e+int(sub), WaitBuckets-1)
}

// bucketLow is the lower bound of bucket i in microseconds.
func bucketLow(i int) float64 {
	if i <= 0 {
		return 0
	}
	e, sub := (i-1)/4, (i-1)%4
	return math.Ldexp(1+float64(sub)/4, e)
}

// Histogram is a wait histogram as entries carry it: bucket index (see WaitBucket) to count,
// only the buckets that counted something.
type Histogram map[int]int64

// Merge adds o's counts to h.
func (h Histogram) Merge(o Histogram) {
	for i, n := range o {
		h[i] += n
	}
}

// Count is how many waits h holds.
func (h Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile returns the wait below which a fraction q of h's waits fall, as the middle of the
// bucket holding it (within 12.5% of the true value), or 0 for an empty histogram.
func (h Histogram) Quantile(q float64) time.Duration {
	total := h.Count()
	if total == 0 {
		return 0
	}
	rank := max(int64(math.Ceil(q*float64(total))), 1)
	var seen int64
	for i := 0; i < WaitBuckets; i++ {
		if seen += h[i]; seen >= rank {
			lo := bucketLow(i)
			if i == WaitBuckets-1 {
				return time.Duration(lo * float64(time.Microsecond))
			}
			return time.Duration((lo + bucketLow(i+1)) / 2 * float64(time.Microsecond))
		}
	}
	return 0
}

// MinuteStats is what one worker did on one queue in one completed minute.
type MinuteStats struct {
	// At is the minute's start.
	At    time.Time `json:"at"`
	Queue string    `json:"queue"`
	// Processed and Failed count jobs that ended so; Runs counts every run, released ones too,
	// and RunNs sums their run times.
	Processed int64 `json:"processed"`
	Failed    int64 `json:"failed"`
	Runs      int64 `json:"runs"`
	RunNs     int64 `json:"run_ns"`
	// Wait holds the waits of the runs whose due time the payload told (see jobs.Payload.DueAt).
	Wait Histogram `json:"wait,omitempty"`
}

// historySlots is how many minutes of counters each queue keeps: the one running, the next
// (cleared ahead of time) and the two completed ones an entry publishes.
const historySlots = 4

// minuteCounters counts one queue's jobs of one minute. Jobs only add; the heartbeat clears a
// slot and sets its minute while no job can be counting into it (two minutes ahead).
type minuteCounters struct {
	minute    atomic.Int64 // the minute counted (see history.index); -1 before the first use
	processed atomic.Int64
	failed    atomic.Int64
	runs      atomic.Int64
	runNs     atomic.Int64
	wait      [WaitBuckets]atomic.Int64
}

// history is a worker's per-minute counters, for the queues it pops.
type history struct {
	length time.Duration                            // a minute's length (shorter in tests)
	queues map[string]*[historySlots]minuteCounters // built at start; only read afterwards
}

func newHistory(queues []string, length time.Duration) *history {
	if length <= 0 {
		length = time.Minute
	}
	hs := &history{length: length, queues: make(map[string]*[historySlots]minuteCounters, len(queues))}
	for _, q := range queues {
		slots := new([historySlots]minuteCounters)
		for i := range slots {
			slots[i].minute.Store(-1)
		}
		hs.queues[q] = slots
	}
	return hs
}

// index is the number of the minute t falls in.
func (hs *history) index(t time.Time) int64 { return t.UnixNano() / int64(hs.length) }

// start is when minute m began.
func (hs *history) start(m int64) time.Time { return time.Unix(0, m*int64(hs.length)) }

// record counts one job's end: the per-job hook, lock-free.
func (hs *history) record(e *Event) {
	slots := hs.queues[e.Queue]
	if slots == nil {
		return
	}
	c := &slots[hs.index(e.Time)%historySlots]
	switch e.Type {
	case EventProcessed:
		c.processed.Add(1)
	case EventFailed:
		c.failed.Add(1)
	case EventReleased:
	default:
		return
	}
	c.runs.Add(1)
	c.runNs.Add(int64(e.Duration))
	if e.Wait >= 0 {
		c.wait[WaitBucket(e.Wait)].Add(1)
	}
}

// prepare readies the slots of the minute of now and the next one; the heartbeat calls it on
// every beat, so a job never finds its slot still counting an old minute (unless the heartbeat
// stalled for minutes, when a few counts may land in a slot about to be cleared).
func (hs *history) prepare(now time.Time) {
	m := hs.index(now)
	for _, slots := range hs.queues {
		for _, want := range []int64{m, m + 1} {
			c := &slots[want%historySlots]
			if c.minute.Load() == want {
				continue
			}
			c.processed.Store(0)
			c.failed.Store(0)
			c.runs.Store(0)
			c.runNs.Store(0)
			for i := range c.wait {
				c.wait[i].Store(0)
			}
			c.minute.Store(want)
		}
	}
}

// completed returns the two minutes before now's, per queue, leaving out queues that did nothing.
func (hs *history) completed(now time.Time, queues []string) []MinuteStats {
	m := hs.index(now)
	var out []MinuteStats
	for _, back := range []int64{m - 2, m - 1} {
		for _, q := range queues {
			c := &hs.queues[q][back%historySlots]
			if c.minute.Load() != back || c.runs.Load() == 0 {
				continue
			}
			st := MinuteStats{At: hs.start(back).UTC(), Queue: q, Processed: c.processed.Load(), Failed: c.failed.Load(),
				Runs: c.runs.Load(), RunNs: c.runNs.Load()}
			for i := range c.wait {
				if n := c.wait[i].Load(); n > 0 {
					if st.Wait == nil {
						st.Wait = Histogram{}
					}
					st.Wait[i] = n
				}
			}
			out = append(out, st)
		}
	}
	return out
}
