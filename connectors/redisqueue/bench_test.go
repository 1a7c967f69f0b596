package redisqueue

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

// Benchmarks run against the shared Redis under a unique prefix:
//
//	go test -bench . -run '^$' ./connectors/redisqueue/
//
// Each reports jobs/s (or pickup latency) as a custom metric; ns/op is per job where it says so.

func benchQueue(b *testing.B) *Queue {
	b.Helper()
	raw := sharedClient(b)
	q, err := Open(context.Background(), Options{Addr: sharedAddr, Prefix: testPrefix(b, raw), RetryAfter: 90 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Close() })
	return q
}

// BenchmarkPush enqueues one job per round trip from one client; ns/op is per job.
func BenchmarkPush(b *testing.B) {
	q, ctx := benchQueue(b), context.Background()
	payload := []byte(laravelJob)
	b.ResetTimer()
	for b.Loop() {
		if _, err := q.Push(ctx, "push", payload, 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkPushBulk enqueues 1,000 jobs per call; ns/op is per job.
func BenchmarkPushBulk(b *testing.B) {
	q, ctx := benchQueue(b), context.Background()
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = []byte(laravelJob)
	}
	b.ResetTimer()
	for done := 0; done < b.N; done += len(batch) {
		n := min(len(batch), b.N-done)
		if _, err := q.PushBulk(ctx, "bulk", batch[:n], 0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkDrain drains 100,000 no-op jobs with C goroutines, each popping (one job, or a batch)
// and deleting what it popped. One op is one whole drain.
func BenchmarkDrain(b *testing.B) {
	const jobs = 100_000
	for _, batch := range []int{1, 16} {
		for _, c := range []int{1, 10, 50} {
			name := fmt.Sprintf("Pop+Delete/C=%d", c)
			if batch > 1 {
				name = fmt.Sprintf("PopN%d+DeleteN/C=%d", batch, c)
			}
			b.Run(name, func(b *testing.B) {
				q, ctx := benchQueue(b), context.Background()
				payloads := make([][]byte, jobs)
				for i := range payloads {
					payloads[i] = []byte(laravelJob)
				}
				var total time.Duration
				for b.Loop() {
					b.StopTimer()
					if _, err := q.PushBulk(ctx, "drain", payloads, 0); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					start := time.Now()
					if n := drain(b, q, "drain", c, batch); n != jobs {
						b.Fatalf("drained %d jobs, want %d", n, jobs)
					}
					total += time.Since(start)
				}
				b.ReportMetric(float64(jobs*b.N)/total.Seconds(), "jobs/s")
			})
		}
	}
}

// drain empties queue with c goroutines and returns how many jobs they processed.
func drain(b *testing.B, q *Queue, queue string, c, batch int) int64 {
	ctx := context.Background()
	var done atomic.Int64
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				if batch == 1 {
					r, err := q.Pop(ctx, queue)
					if err != nil || r == nil {
						if err != nil {
							b.Error(err)
						}
						return
					}
					if err := q.Delete(ctx, r); err != nil {
						b.Error(err)
						return
					}
					done.Add(1)
					continue
				}
				rs, err := q.PopN(ctx, queue, batch)
				if err != nil || len(rs) == 0 {
					if err != nil {
						b.Error(err)
					}
					return
				}
				if err := q.DeleteN(ctx, rs); err != nil {
					b.Error(err)
					return
				}
				done.Add(int64(len(rs)))
			}
		}()
	}
	wg.Wait()
	return done.Load()
}

// BenchmarkIdlePickup measures enqueue-to-pop latency for an idle worker blocking in Wait, with a
// producer pushing 2,000 jobs at about 500/s. One op is the whole run.
func BenchmarkIdlePickup(b *testing.B) {
	const jobs, rate = 2000, 500
	q, ctx := benchQueue(b), context.Background()
	var all []time.Duration
	for b.Loop() {
		lat := make([]time.Duration, 0, jobs)
		got := make(chan struct{})
		go func() {
			defer close(got)
			for len(lat) < jobs {
				r, err := q.Pop(ctx, "idle")
				if err != nil {
					b.Error(err)
					return
				}
				if r == nil {
					if _, err := q.Wait(ctx, "idle", 5*time.Second); err != nil {
						b.Error(err)
						return
					}
					continue
				}
				var env struct {
					Data struct{ T int64 } `json:"data"`
				}
				_ = json.Unmarshal(r.Payload, &env)
				lat = append(lat, time.Since(time.Unix(0, env.Data.T)))
				_ = q.Delete(ctx, r)
			}
		}()
		tick := time.NewTicker(time.Second / rate)
		for range jobs {
			<-tick.C
			p := `{"job":"Bench","data":{"t":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `}}`
			if _, err := q.Push(ctx, "idle", []byte(p), 0); err != nil {
				b.Fatal(err)
			}
		}
		tick.Stop()
		<-got
		all = append(all, lat...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

var _ connectors.Waiter = (*Queue)(nil)
