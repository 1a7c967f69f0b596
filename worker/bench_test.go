package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/beanstalkqueue"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/connectors/redisqueue"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// BenchmarkDrain measures how fast one worker process drains no-op jobs: b.N jobs are pushed (in
// bulk where the backend can), then a worker with --stop-when-empty runs them all. Run with
//
//	go test -run '^$' -bench Drain -benchtime 20000x ./worker/
//
// QCTL_BENCH_HEARTBEAT=2s (any interval) gives the worker a heartbeat into the backend's fleet
// store (beanstalkd: a SQLite one), reading a pause flag per queue and a terminate flag each beat,
// to measure what the registry costs.
func BenchmarkDrain(b *testing.B) {
	backends := []struct {
		name, dialect, addr, how string
		dsn                      func(b *testing.B) string
	}{
		{"sqlite", "sqlite", "", "", func(b *testing.B) string { return filepath.Join(b.TempDir(), "bench.db") }},
		{"postgres", "postgres", "127.0.0.1:5432", "pg_ctlcluster 15 main start",
			func(*testing.B) string { return "host=127.0.0.1 user=postgres dbname=test sslmode=disable" }},
	}
	for _, be := range backends {
		for _, conc := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("%s/concurrency=%d", be.name, conc), func(b *testing.B) {
				if be.addr != "" {
					connectortest.RequireService(b, be.name, be.addr, be.how)
				}
				suffix := make([]byte, 4)
				_, _ = rand.Read(suffix)
				table := "jobs_bench_" + hex.EncodeToString(suffix)
				dsn := be.dsn(b)
				q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: be.dialect, DSN: dsn, Table: table, RetryAfter: time.Minute, AutoMigrate: true})
				if err != nil {
					b.Fatal(err)
				}
				defer q.Close()
				defer dropTable(b, be.dialect, dsn, table)
				drain(b, q, conc, 0)
			})
		}
	}
	for _, conc := range []int{1, 10, 50} {
		b.Run(fmt.Sprintf("redis/concurrency=%d", conc), func(b *testing.B) {
			connectortest.RequireService(b, "Redis", "127.0.0.1:6379", "redis-server --daemonize yes")
			prefix := make([]byte, 4)
			_, _ = rand.Read(prefix)
			q, err := redisqueue.Open(context.Background(), redisqueue.Options{Addr: "127.0.0.1:6379", Prefix: "qctl-bench-" + hex.EncodeToString(prefix) + ":", RetryAfter: time.Minute, BlockFor: time.Second})
			if err != nil {
				b.Fatal(err)
			}
			defer q.Close()
			drain(b, q, conc, 0)
		})
		// beanstalkd counts attempts with a stats-job of their own, a third of what a job costs
		// the server; with unlimited tries the worker never asks, with --tries it asks for each.
		for _, tries := range []int{0, 1} {
			name := fmt.Sprintf("beanstalkd/concurrency=%d", conc)
			if tries > 0 {
				name = fmt.Sprintf("beanstalkd-tries=%d/concurrency=%d", tries, conc)
			}
			b.Run(name, func(b *testing.B) {
				connectortest.RequireService(b, "beanstalkd", "127.0.0.1:11300", "beanstalkd -l 127.0.0.1 -p 11300 &")
				q, err := beanstalkqueue.Open(context.Background(), beanstalkqueue.Options{Addr: "127.0.0.1:11300", RetryAfter: time.Minute})
				if err != nil {
					b.Fatal(err)
				}
				defer q.Close()
				drain(b, q, conc, tries)
			})
		}
	}
}

// drain pushes b.N no-op jobs onto a fresh queue of q, then times one worker draining them.
func drain(b *testing.B, q connectors.Queue, concurrency, tries int) {
	ctx := context.Background()
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	queue := "bench-" + hex.EncodeToString(suffix)
	defer q.Clear(ctx, queue)
	store, err := failed.Open(ctx, failed.Options{Dialect: "sqlite", DSN: filepath.Join(b.TempDir(), "failed.db"), AutoMigrate: true})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()

	payload, _ := jobs.NewPayload("Noop", []byte(`{"n":1}`)).Encode()
	bulk, canBulk := q.(connectors.BulkPusher)
	batch := make([][]byte, 0, 1000)
	for pushed := 0; pushed < b.N; pushed += len(batch) {
		batch = batch[:0]
		for i := 0; i < 1000 && pushed+i < b.N; i++ {
			batch = append(batch, payload)
		}
		if canBulk {
			if _, err := bulk.PushBulk(ctx, queue, batch, 0); err != nil {
				b.Fatal(err)
			}
			continue
		}
		for _, p := range batch {
			if _, err := q.Push(ctx, queue, p, 0); err != nil {
				b.Fatal(err)
			}
		}
	}
	reg := jobs.NewRegistry()
	reg.Register("Noop", func(context.Context, *jobs.Job) error { return nil })
	w := worker.New(worker.Deps{Queue: q, Handlers: reg, Failed: store, Heartbeat: benchHeartbeat(b, q, queue)}, worker.Options{
		Queues: []string{queue}, Concurrency: concurrency, Tries: tries, StopWhenEmpty: true, Sleep: time.Millisecond, Lease: time.Minute,
	})
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	if _, err := w.Run(ctx); err != nil {
		b.Fatal(err)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu
	b.StopTimer()
	if n, _ := q.Size(ctx, queue); n != 0 {
		b.Fatalf("%d jobs left after the drain", n)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	// The worker process's CPU per job (the servers' is not in it): what a change to the
	// worker costs, less disturbed than jobs/s by what else the machine runs.
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/job")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchHeartbeat is the heartbeat QCTL_BENCH_HEARTBEAT asks for, or nil.
func benchHeartbeat(b *testing.B, q connectors.Queue, queue string) *worker.Heartbeat {
	every := os.Getenv("QCTL_BENCH_HEARTBEAT")
	if every == "" {
		return nil
	}
	d, err := time.ParseDuration(every)
	if err != nil {
		b.Fatalf("QCTL_BENCH_HEARTBEAT=%q: %v", every, err)
	}
	store, ok := q.(connectors.Fleet)
	if !ok {
		f, err := dbqueue.OpenFleet(context.Background(), "sqlite", filepath.Join(b.TempDir(), "fleet.db"), true, dbqueue.FleetOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		store = f
	}
	return &worker.Heartbeat{Store: store, ID: "bench-" + queue, Interval: d, TerminateKey: "qctl:terminate:bench-" + queue,
		PauseKey: func(q string) string { return "illuminate:queue:paused:bench:" + q }}
}

func dropTable(b *testing.B, dialect, dsn, table string) {
	if dialect == "sqlite" {
		return // the file is in b.TempDir()
	}
	db, err := sqldb.Open(context.Background(), dialect, dsn)
	if err != nil {
		b.Logf("dropping %s: %v", table, err)
		return
	}
	if err := db.Exec("DROP TABLE IF EXISTS " + sqldb.Quote(dialect, table)).Error; err != nil {
		b.Logf("dropping %s: %v", table, err)
	}
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}
