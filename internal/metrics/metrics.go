// Package metrics exposes a worker's Prometheus metrics: job counters and durations fed by a
// worker.Reporter wrapper (the worker itself knows nothing of Prometheus), queue depth and
// oldest-job age sampled from a connectors.Inspector, the worker's state, and a /healthz that
// answers 200 while the worker runs.
//
// Lifecycle: New builds the collectors; Reporter wraps the worker's reporter; Server.Start binds
// the address (so a taken port fails before the worker starts) and serves in the background;
// Server.Stop shuts the server and the sampler down and waits for them. Stop is safe twice and
// before Start.
package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/qctl/qctl/worker"
)

// Namespace prefixes every metric name.
const Namespace = "qctl"

// States are the values of the worker state gauge's "state" label; exactly one is 1 at a time.
var States = []string{"starting", "running", "paused", "stopping", "stopped"}

// durationBuckets span a no-op Go handler (a millisecond) to a five-minute exec job, in seconds.
var durationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// Metrics holds one worker's collectors in a registry of its own, so tests and several workers in
// one process never collide in Prometheus's global registry.
type Metrics struct {
	registry *prometheus.Registry

	processed, failed, released *prometheus.CounterVec   // labels queue, job
	duration                    *prometheus.HistogramVec // labels queue, job, outcome
	errors                      prometheus.Counter
	depth                       *prometheus.GaugeVec // labels queue, state
	oldest                      *prometheus.GaugeVec // label queue
	samples                     *prometheus.CounterVec
	state                       *prometheus.GaugeVec // label state

	mu      sync.Mutex // guards current
	current string     // the state gauge that is 1

	known func(job string) bool // set by LimitJobs; nil keeps every name
}

// OtherJob is the job label of every job whose name has no handler, once LimitJobs is set.
const OtherJob = "(other)"

// LimitJobs makes m label jobs by name only when known says the name has a handler, and count the
// rest under OtherJob. Job names come from payloads, which anyone who can push may choose: without
// the limit, each new name is a new series for as long as the worker runs (30,000 names took a
// worker from 39 MB past its memory limit). Call it before the worker starts.
func (m *Metrics) LimitJobs(known func(job string) bool) { m.known = known }

// New returns the metrics of a worker on connection, named worker (both become constant labels),
// with Go runtime and process metrics registered beside them.
func New(connection, workerName string) *Metrics {
	labels := prometheus.Labels{"connection": connection, "worker": workerName}
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: name, Help: help, ConstLabels: labels,
		}, []string{"queue", "job"})
	}
	m := &Metrics{
		registry:  prometheus.NewRegistry(),
		processed: counter("jobs_processed_total", "Jobs whose handler succeeded (then deleted)."),
		failed:    counter("jobs_failed_total", "Jobs moved to the failed store."),
		released:  counter("jobs_released_total", "Jobs released back onto their queue to run again."),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "job_duration_seconds", ConstLabels: labels, Buckets: durationBuckets,
			Help: "How long jobs ran, from pop to their outcome (processed, failed or released).",
		}, []string{"queue", "job", "outcome"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace, Name: "worker_errors_total", ConstLabels: labels,
			Help: "Errors the worker survived (backend unreachable, a delete or release that failed).",
		}),
		depth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "queue_jobs", ConstLabels: labels,
			Help: "Jobs on the queue by state (ready, delayed, reserved, buried), as last sampled.",
		}, []string{"queue", "state"}),
		oldest: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "queue_oldest_ready_age_seconds", ConstLabels: labels,
			Help: "How long the oldest ready job has been waiting (0 when none is), as last sampled.",
		}, []string{"queue"}),
		samples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "queue_samples_total", ConstLabels: labels,
			Help: "Queue depth samples taken, by result (ok or error).",
		}, []string{"result"}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "worker_state", ConstLabels: labels,
			Help: "1 for the state the worker is in (starting, running, paused, stopping, stopped), else 0.",
		}, []string{"state"}),
	}
	m.registry.MustRegister(m.processed, m.failed, m.released, m.duration, m.errors, m.depth, m.oldest,
		m.samples, m.state, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.setState("starting")
	return m
}

// Registry is where the collectors live, for serving them or reading them in tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Reporter returns a reporter that counts every event into m and then passes it to next (nil
// discards it). It is safe for the several goroutines a worker reports from.
func (m *Metrics) Reporter(next worker.Reporter) worker.Reporter {
	return func(e worker.Event) {
		m.observe(e)
		if next != nil {
			next(e)
		}
	}
}

// observe counts one event.
func (m *Metrics) observe(e worker.Event) {
	job := e.Job
	if job == "" {
		job = "(unreadable)"
	} else if m.known != nil && !m.known(job) {
		job = OtherJob
	}
	switch e.Type {
	case worker.EventProcessed:
		m.processed.WithLabelValues(e.Queue, job).Inc()
		m.duration.WithLabelValues(e.Queue, job, "processed").Observe(e.Duration.Seconds())
	case worker.EventFailed:
		m.failed.WithLabelValues(e.Queue, job).Inc()
		m.duration.WithLabelValues(e.Queue, job, "failed").Observe(e.Duration.Seconds())
	case worker.EventReleased:
		m.released.WithLabelValues(e.Queue, job).Inc()
		m.duration.WithLabelValues(e.Queue, job, "released").Observe(e.Duration.Seconds())
	case worker.EventError:
		m.errors.Inc()
	case worker.EventStarting, worker.EventResumed:
		m.setState("running")
	case worker.EventPaused:
		m.setState("paused")
	case worker.EventStopping:
		m.setState("stopping")
	case worker.EventStopped:
		m.setState("stopped")
	}
}

// setState makes state the one worker_state series at 1.
func (m *Metrics) setState(state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current == "stopped" || m.current == "stopping" && state != "stopped" {
		return // a late pause or resume does not bring a stopping worker back
	}
	m.current = state
	for _, s := range States {
		v := 0.0
		if s == state {
			v = 1
		}
		m.state.WithLabelValues(s).Set(v)
	}
}

// State returns the worker's state as the events told it.
func (m *Metrics) State() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current
}

// Running reports whether the worker has started and not yet stopped: what /healthz answers.
func (m *Metrics) Running() bool {
	switch m.State() {
	case "running", "paused", "stopping":
		return true
	}
	return false
}

// setDepth records one queue's sampled counts; now is the sampler's clock.
func (m *Metrics) setDepth(queue string, ready, delayed, reserved, buried int64, oldest, now time.Time) {
	for state, n := range map[string]int64{"ready": ready, "delayed": delayed, "reserved": reserved, "buried": buried} {
		m.depth.WithLabelValues(queue, state).Set(float64(n))
	}
	age := 0.0
	if !oldest.IsZero() && ready > 0 {
		age = max(now.Sub(oldest).Seconds(), 0)
	}
	m.oldest.WithLabelValues(queue).Set(age)
}
