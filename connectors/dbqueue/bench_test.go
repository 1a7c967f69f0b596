package dbqueue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
)

// benchPayload is a Laravel string-job envelope of a typical size (about 300 bytes).
var benchPayload = []byte(`{"uuid":"0b8a2c5e-4f2d-4b7a-9d8e-3c1f5a6b7c8d","displayName":"SendEmail","job":"SendEmail@handle","maxTries":null,"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":null,"data":{"to":"someone@example.com","subject":"Welcome aboard","template":"welcome","locale":"en"}}`)

// BenchmarkDrain measures the raw drain rate: b.N jobs are pushed with PushBulk (untimed), then
// C goroutines, each with its own pop batch, run PopN+DeleteN until the queue is empty. One op is
// one job; jobs/s is reported.
func BenchmarkDrain(b *testing.B) {
	shapes := []struct{ concurrency, batch int }{{1, 1}, {8, 32}, {50, 16}}
	for _, dialect := range dialects {
		for _, s := range shapes {
			b.Run(fmt.Sprintf("%s/c%d-batch%d", dialect, s.concurrency, s.batch), func(b *testing.B) {
				benchDrain(b, dialect, s.concurrency, s.batch)
			})
		}
	}
}

func benchDrain(b *testing.B, dialect string, concurrency, batch int) {
	ctx := context.Background()
	d := setup(b, dialect)
	q := d.open(b, connectortest.NewClock(), 90*time.Second)
	payloads := make([][]byte, b.N)
	for i := range payloads {
		payloads[i] = benchPayload
	}
	for start := 0; start < len(payloads); start += 5000 {
		if _, err := q.PushBulk(ctx, "bench", payloads[start:min(start+5000, len(payloads))], 0); err != nil {
			b.Fatal(err)
		}
	}
	if dialect == sqldb.Postgres {
		// Fresh statistics, as autovacuum would have in a long-running table.
		if _, err := q.db.ExecContext(ctx, "ANALYZE "+sqldb.Quote(dialect, d.table)); err != nil {
			b.Fatal(err)
		}
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		done int
	)
	b.ResetTimer()
	start := time.Now()
	for c := 0; c < concurrency; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for {
				jobs, err := q.PopN(ctx, "bench", batch)
				if err != nil {
					b.Error(err)
					return
				}
				if len(jobs) == 0 {
					break
				}
				if err := q.DeleteN(ctx, jobs); err != nil {
					b.Error(err)
					return
				}
				n += len(jobs)
			}
			mu.Lock()
			done += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if done != b.N {
		b.Fatalf("drained %d jobs, pushed %d", done, b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
}
