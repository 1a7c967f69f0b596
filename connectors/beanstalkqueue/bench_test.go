package beanstalkqueue

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"
)

// The throughput figure: drain 50,000 no-op jobs with 10 goroutines, each popping and
// deleting until the tube is empty. Each benchmark runs its own beanstalkd, so other packages'
// tests on the shared server do not skew it. Run with
//
//	go test -bench . -run '^$' ./connectors/beanstalkqueue/
const (
	benchJobs        = 50000
	benchConcurrency = 10
)

// fillTube puts benchJobs small jobs on tube over a few raw connections (not timed).
func fillTube(b *testing.B, addr, tube string) {
	b.Helper()
	var wg sync.WaitGroup
	const fillers = 4
	for f := 0; f < fillers; f++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := beanstalk.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			t := beanstalk.NewTube(c, tube)
			for i := 0; i < benchJobs/fillers; i++ {
				if _, err := t.Put([]byte(`{"job":"Noop","data":{}}`), 1024, 0, time.Minute); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// benchDrain times benchConcurrency worker goroutines that each run drain until the tube is empty,
// and reports jobs per second over all iterations.
func benchDrain(b *testing.B, addr string, drain func(tube string) (int64, error)) {
	benchDrainWith(b, addr, benchConcurrency, drain)
}

func benchDrainWith(b *testing.B, addr string, concurrency int, drain func(tube string) (int64, error)) {
	var jobs int64
	var elapsed time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tube := tubeName(b, "bench")
		fillTube(b, addr, tube)
		b.StartTimer()
		start := time.Now()
		var wg sync.WaitGroup
		var done atomic.Int64
		for g := 0; g < concurrency; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := drain(tube)
				if err != nil {
					b.Error(err)
				}
				done.Add(n)
			}()
		}
		wg.Wait()
		elapsed += time.Since(start)
		jobs += done.Load()
		if done.Load() != benchJobs {
			b.Fatalf("drained %d jobs, want %d", done.Load(), benchJobs)
		}
	}
	b.ReportMetric(float64(jobs)/elapsed.Seconds(), "jobs/s")
}

// BenchmarkDrain is qctl's connector: Pop (reserve + stats-job for attempts) then Delete, with a
// cancellable context as the worker's, so the cost of making I/O interruptible is counted.
func BenchmarkDrain(b *testing.B) { benchConnector(b, benchConcurrency) }

// BenchmarkDrainConcurrency50 shows that Pop from many goroutines at once scales: each holds its
// own connection, and the pool's lock is held only to hand one out.
func BenchmarkDrainConcurrency50(b *testing.B) { benchConnector(b, 50) }

func benchConnector(b *testing.B, concurrency int) {
	srv := startServer(b, freeAddr(b))
	q := openShared(b, Options{Addr: srv.addr})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchDrainWith(b, srv.addr, concurrency, func(tube string) (int64, error) {
		var n int64
		for {
			r, err := q.Pop(ctx, tube)
			if err != nil || r == nil {
				return n, err
			}
			if err := q.Delete(ctx, r); err != nil {
				return n, err
			}
			n++
		}
	})
}

// BenchmarkDrainRawClient is go-beanstalk alone, one connection per goroutine: reserve then
// delete, without attempts.
func BenchmarkDrainRawClient(b *testing.B) { benchRaw(b, false) }

// BenchmarkDrainRawClientWithStatsJob adds the stats-job round trip that attempts need, to show
// what part of the difference is the protocol and what part is the connector.
func BenchmarkDrainRawClientWithStatsJob(b *testing.B) { benchRaw(b, true) }

func benchRaw(b *testing.B, statsJob bool) {
	srv := startServer(b, freeAddr(b))
	benchDrain(b, srv.addr, func(tube string) (int64, error) {
		c, err := beanstalk.Dial("tcp", srv.addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		ts := beanstalk.NewTubeSet(c, tube)
		var n int64
		for {
			id, _, err := ts.Reserve(0)
			if err != nil {
				return n, nil // TIMED_OUT: drained
			}
			if statsJob {
				if _, err := c.StatsJob(id); err != nil {
					return n, err
				}
			}
			if err := c.Delete(id); err != nil {
				return n, err
			}
			n++
		}
	})
}
