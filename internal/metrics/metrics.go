// Package metrics exposes a worker's Prometheus metrics: job counters and durations fed by a
// worker.Reporter wrapper (the worker itself knows nothing of Prometheus), queue depth and
// oldest-job age sampled from a connectors.Inspector, the worker's state, and a /healthz that
// answers 200 while the worker runs. The series are kept by github.com/VictoriaMetrics/metrics,
// not prometheus/client_golang, whose protobuf and procfs dependencies cost every qctl process
// about 1.7 MB of resident memory at start.
//
// Lifecycle: New builds the metrics; Reporter wraps the worker's reporter; Server.Start binds
// the address (so a taken port fails before the worker starts) and serves in the background;
// Server.Stop shuts the server and the sampler down and waits for them. Stop is safe twice and
// before Start.
package metrics

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/qctl/qctl/worker"
)

// Namespace prefixes every metric name.
const Namespace = "qctl"

// States are the values of the worker state gauge's "state" label; exactly one is 1 at a time.
var States = []string{"starting", "running", "paused", "stopping", "stopped"}

// durationBuckets span a no-op Go handler (a millisecond) to a five-minute exec job, in seconds.
var durationBuckets = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}

// help is the # HELP text of each qctl family. The library writes "# HELP name" with no text, so
// WritePrometheus adds it.
var help = map[string]string{
	Namespace + "_jobs_processed_total":           "Jobs whose handler succeeded (then deleted).",
	Namespace + "_jobs_failed_total":              "Jobs moved to the failed store.",
	Namespace + "_jobs_released_total":            "Jobs released back onto their queue to run again.",
	Namespace + "_job_duration_seconds":           "How long jobs ran, from pop to their outcome (processed, failed or released).",
	Namespace + "_worker_errors_total":            "Errors the worker survived (backend unreachable, a delete or release that failed).",
	Namespace + "_queue_jobs":                     "Jobs on the queue by state (ready, delayed, reserved, buried), as last sampled.",
	Namespace + "_queue_oldest_ready_age_seconds": "How long the oldest ready job has been waiting (0 when none is), as last sampled.",
	Namespace + "_queue_samples_total":            "Queue depth samples taken, by result (ok or error).",
	Namespace + "_worker_state":                   "1 for the state the worker is in (starting, running, paused, stopping, stopped), else 0.",
}

// Metrics holds one worker's series in a set of its own (never the library's default set), so
// tests and several workers in one process never collide. A series is named with its labels, as
// the library wants: see series.
type Metrics struct {
	set                *vm.Set
	connection, worker string // the constant labels

	errors *vm.Counter
	state  map[string]*vm.Gauge // by state; written only under mu

	mu      sync.Mutex // guards current
	current string     // the state gauge that is 1

	known func(job string) bool // set by LimitJobs; nil keeps every name

	ended sync.Map // outcomeKey -> *outcomeSeries: a job's series are named once, not per job
}

// OtherJob is the job label of every job whose name has no handler, once LimitJobs is set.
const OtherJob = "(other)"

// LimitJobs makes m label jobs by name only when known says the name has a handler, and count the
// rest under OtherJob. Job names come from payloads, which anyone who can push may choose: without
// the limit, each new name is a new series for as long as the worker runs (30,000 names took a
// worker from 39 MB past its memory limit). Call it before the worker starts.
func (m *Metrics) LimitJobs(known func(job string) bool) { m.known = known }

// New returns the metrics of a worker on connection, named worker (both become constant labels).
// WritePrometheus adds Go runtime and process metrics beside them.
func New(connection, workerName string) *Metrics {
	// # TYPE lines are a switch of the whole library; every set in the process gets them.
	vm.ExposeMetadata(true)
	m := &Metrics{set: vm.NewSet(), connection: connection, worker: workerName, state: map[string]*vm.Gauge{}}
	m.errors = m.set.NewCounter(m.series("worker_errors_total"))
	for _, s := range States {
		m.state[s] = m.set.NewGauge(m.series("worker_state", "state", s), nil)
	}
	m.setState("starting")
	return m
}

// series returns the library's name of one series: qctl_name{labels}, with the constant labels
// added, labels sorted by name (as client_golang wrote them) and every value escaped for the text
// format. kv alternates label names and values.
func (m *Metrics) series(name string, kv ...string) string {
	labels := [][2]string{{"connection", m.connection}, {"worker", m.worker}}
	for i := 0; i+1 < len(kv); i += 2 {
		labels = append(labels, [2]string{kv[i], kv[i+1]})
	}
	slices.SortFunc(labels, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	var b strings.Builder
	b.WriteString(Namespace + "_" + name + "{")
	for i, l := range labels {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l[0] + `="`)
		escape.WriteString(&b, strings.ToValidUTF8(l[1], "\uFFFD"))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// escape escapes a label value as the text format wants: backslash, double quote and newline.
var escape = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// WritePrometheus writes every series of m, then the Go runtime and process metrics, in the
// Prometheus text format with # HELP and # TYPE lines.
func (m *Metrics) WritePrometheus(w io.Writer) {
	var b bytes.Buffer
	m.set.WritePrometheus(&b)
	vm.WriteProcessMetrics(&b)
	vm.WriteFDMetrics(&b)
	out := b.Bytes()
	for len(out) > 0 {
		line, rest, _ := bytes.Cut(out, []byte("\n"))
		out = rest
		if name, ok := bytes.CutPrefix(line, []byte("# HELP ")); ok && help[string(name)] != "" {
			line = append(line[:len(line):len(line)], " "+help[string(name)]...)
		}
		w.Write(line)
		io.WriteString(w, "\n")
	}
}

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
		m.done("processed", e.Queue, job, e.Duration)
	case worker.EventFailed:
		m.done("failed", e.Queue, job, e.Duration)
	case worker.EventReleased:
		m.done("released", e.Queue, job, e.Duration)
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

// outcomeKey names the series a job's end counts into.
type outcomeKey struct{ outcome, queue, job string }

// outcomeSeries are the counter and the duration histogram of one outcomeKey.
type outcomeSeries struct {
	count    *vm.Counter
	duration *vm.PrometheusHistogram
}

// done counts one job that ended in outcome (processed, failed or released) after d.
func (m *Metrics) done(outcome, queue, job string, d time.Duration) {
	k := outcomeKey{outcome, queue, job}
	v, ok := m.ended.Load(k)
	if !ok {
		v, _ = m.ended.LoadOrStore(k, &outcomeSeries{
			count: m.set.GetOrCreateCounter(m.series("jobs_"+outcome+"_total", "queue", queue, "job", job)),
			duration: m.set.GetOrCreatePrometheusHistogramExt(m.series("job_duration_seconds", "queue", queue, "job", job, "outcome", outcome),
				durationBuckets),
		})
	}
	s := v.(*outcomeSeries)
	s.count.Inc()
	s.duration.Update(d.Seconds())
}

// setState makes state the one worker_state series at 1.
func (m *Metrics) setState(state string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current == "stopped" || m.current == "stopping" && state != "stopped" {
		return // a late pause or resume does not bring a stopping worker back
	}
	m.current = state
	for s, g := range m.state {
		v := 0.0
		if s == state {
			v = 1
		}
		g.Set(v)
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
		m.set.GetOrCreateGauge(m.series("queue_jobs", "queue", queue, "state", state), nil).Set(float64(n))
	}
	age := 0.0
	if !oldest.IsZero() && ready > 0 {
		age = max(now.Sub(oldest).Seconds(), 0)
	}
	m.set.GetOrCreateGauge(m.series("queue_oldest_ready_age_seconds", "queue", queue), nil).Set(age)
}

// sampled counts one queue depth sample that ended in result (ok or error).
func (m *Metrics) sampled(result string) {
	m.set.GetOrCreateCounter(m.series("queue_samples_total", "result", result)).Inc()
}
