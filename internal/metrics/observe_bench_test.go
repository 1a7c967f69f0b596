package metrics

import (
	"testing"
	"time"

	"github.com/qctl/qctl/worker"
)

// BenchmarkObserve is what --metrics-addr costs a worker per job: counting one processed job.
//
//	go test -run '^$' -bench Observe ./internal/metrics/
func BenchmarkObserve(b *testing.B) {
	m := New("redis", "w1")
	r := m.Reporter(nil)
	e := worker.Event{Type: worker.EventProcessed, Queue: "default", Job: "SendEmail", Duration: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		r(e)
	}
}
