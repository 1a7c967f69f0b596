package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/worker"
)

// scrape GETs url and returns its status and body.
func scrape(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// sample is one series of a scrape and its value.
type sample struct {
	name   string
	labels map[string]string // values unescaped
	value  float64
}

// exposition is a /metrics body, parsed.
type exposition struct {
	samples     []sample
	types, help map[string]string // by family
}

// parse reads body as the Prometheus text format, strictly: every line is a # HELP or # TYPE
// comment or a sample, label values may escape only backslash, double quote and newline, and a
// sample's labels end with '}' on its own line (so a raw newline in a value fails the parse).
func parse(body string) (exposition, error) {
	e := exposition{types: map[string]string{}, help: map[string]string{}}
	for _, line := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, text, _ := strings.Cut(rest, " ")
			e.help[name] = text
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, typ, _ := strings.Cut(rest, " ")
			e.types[name] = typ
			continue
		}
		s, err := parseSample(line)
		if err != nil {
			return e, fmt.Errorf("line %q: %w", line, err)
		}
		e.samples = append(e.samples, s)
	}
	return e, nil
}

// parseSample reads one sample line: name, optional {labels}, a space and a value.
func parseSample(line string) (sample, error) {
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i <= 0 {
		return s, errors.New("no name")
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, " ")
			if rest, ok := strings.CutPrefix(line, "}"); ok {
				line = rest
				break
			}
			key, rest, ok := strings.Cut(line, `="`)
			if !ok || key == "" {
				return s, errors.New("label without =\"")
			}
			var v strings.Builder
			for line = rest; ; {
				if line == "" {
					return s, fmt.Errorf("label %s: no closing quote", key)
				}
				c := line[0]
				line = line[1:]
				if c == '"' {
					break
				}
				if c == '\\' {
					if line == "" {
						return s, errors.New("backslash at end of line")
					}
					switch line[0] {
					case '\\', '"':
						c = line[0]
					case 'n':
						c = '\n'
					default:
						return s, fmt.Errorf("label %s: bad escape \\%c", key, line[0])
					}
					line = line[1:]
				}
				v.WriteByte(c)
			}
			s.labels[key] = v.String()
			line = strings.TrimPrefix(line, ",")
		}
	}
	v, ok := strings.CutPrefix(line, " ")
	if !ok {
		return s, errors.New("no space before the value")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return s, err
	}
	s.value = f
	return s, nil
}

// scrapeMetrics GETs base/metrics and parses it, failing the test on a malformed line.
func scrapeMetrics(t *testing.T, base string) exposition {
	t.Helper()
	code, body := scrape(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", code)
	}
	e, err := parse(body)
	if err != nil {
		t.Fatalf("/metrics is not valid text format: %v\n%s", err, body)
	}
	return e
}

// value returns the sample of the series named name whose labels include every name and value
// of kv (alternating), or -1 when there is none.
func (e exposition) value(name string, kv ...string) float64 {
next:
	for _, s := range e.samples {
		if s.name != name {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if v, ok := s.labels[kv[i]]; !ok || v != kv[i+1] {
				continue next
			}
		}
		return s.value
	}
	return -1
}

// sumBy adds up the samples named name by the value of their label.
func (e exposition) sumBy(name, label string) map[string]float64 {
	got := map[string]float64{}
	for _, s := range e.samples {
		if s.name == name {
			got[s.labels[label]] += s.value
		}
	}
	return got
}

func TestReporterCountsEventsAndPassesThemOn(t *testing.T) {
	m := New("database", "w1")
	var passed []worker.EventType
	report := m.Reporter(func(e worker.Event) { passed = append(passed, e.Type) })
	s := NewServer(m, ServerOptions{Addr: "127.0.0.1:0"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	base := "http://" + s.Addr()

	if code, body := scrape(t, base+"/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "starting") {
		t.Fatalf("/healthz before the worker starts = %d %q, want 503 starting", code, body)
	}
	report(worker.Event{Type: worker.EventStarting, Queue: "mail"})
	if code, _ := scrape(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz of a running worker = %d, want 200", code)
	}
	for range 3 {
		report(worker.Event{Type: worker.EventProcessed, Queue: "mail", Job: "SendEmail", Duration: 20 * time.Millisecond})
	}
	report(worker.Event{Type: worker.EventReleased, Queue: "mail", Job: "SendEmail", Duration: time.Second})
	report(worker.Event{Type: worker.EventFailed, Queue: "mail", Job: "Resize"})
	report(worker.Event{Type: worker.EventError, Error: "backend down"})
	report(worker.Event{Type: worker.EventPaused})

	e := scrapeMetrics(t, base)
	for _, c := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"qctl_jobs_processed_total", []string{"job", "SendEmail", "queue", "mail", "connection", "database", "worker", "w1"}, 3},
		{"qctl_jobs_released_total", []string{"job", "SendEmail"}, 1},
		{"qctl_jobs_failed_total", []string{"job", "Resize"}, 1},
		{"qctl_job_duration_seconds_count", []string{"job", "SendEmail", "outcome", "processed"}, 3},
		{"qctl_job_duration_seconds_sum", []string{"job", "SendEmail", "outcome", "released"}, 1},
		{"qctl_job_duration_seconds_bucket", []string{"outcome", "processed", "le", "0.01"}, 0},
		{"qctl_job_duration_seconds_bucket", []string{"outcome", "processed", "le", "0.025"}, 3},
		{"qctl_job_duration_seconds_bucket", []string{"outcome", "processed", "le", "+Inf"}, 3},
		{"qctl_job_duration_seconds_bucket", []string{"outcome", "released", "le", "0.5"}, 0},
		{"qctl_job_duration_seconds_bucket", []string{"outcome", "released", "le", "1"}, 1},
		{"qctl_job_duration_seconds_bucket", []string{"outcome", "failed", "le", "0.001"}, 1},
		{"qctl_worker_errors_total", []string{"connection", "database", "worker", "w1"}, 1},
		{"qctl_worker_state", []string{"state", "paused"}, 1},
		{"qctl_worker_state", []string{"state", "running"}, 0},
	} {
		if got := e.value(c.name, c.kv...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.kv, got, c.want)
		}
	}
	// Every bucket of durationBuckets, then +Inf, on each histogram series.
	var les []string
	for _, s := range e.samples {
		if s.name == "qctl_job_duration_seconds_bucket" && s.labels["outcome"] == "released" {
			les = append(les, s.labels["le"])
		}
	}
	var want []string
	for _, b := range durationBuckets {
		want = append(want, strconv.FormatFloat(b, 'g', -1, 64))
	}
	if want = append(want, "+Inf"); strings.Join(les, " ") != strings.Join(want, " ") {
		t.Errorf("le of the released histogram = %v, want %v", les, want)
	}
	if states := e.sumBy("qctl_worker_state", "state"); len(states) != len(States) || states["paused"] != 1 {
		t.Errorf("qctl_worker_state = %v, want each of %v with paused the one at 1", states, States)
	}
	for family, typ := range map[string]string{
		"qctl_jobs_processed_total": "counter", "qctl_jobs_failed_total": "counter", "qctl_jobs_released_total": "counter",
		"qctl_job_duration_seconds": "histogram", "qctl_worker_errors_total": "counter", "qctl_worker_state": "gauge",
		"go_goroutines": "gauge", "process_resident_memory_bytes": "gauge",
	} {
		if e.types[family] != typ {
			t.Errorf("# TYPE %s = %q, want %s", family, e.types[family], typ)
		}
		if strings.HasPrefix(family, "qctl_") && e.help[family] != help[family] {
			t.Errorf("# HELP %s = %q, want %q", family, e.help[family], help[family])
		}
	}
	for _, s := range e.samples {
		if strings.HasPrefix(s.name, "qctl_") && (s.labels["connection"] != "database" || s.labels["worker"] != "w1") {
			t.Errorf("%s%v lacks the constant labels connection and worker", s.name, s.labels)
		}
	}

	report(worker.Event{Type: worker.EventStopping})
	report(worker.Event{Type: worker.EventResumed}) // a late resume does not undo stopping
	if m.State() != "stopping" {
		t.Fatalf("state after stopping and a resume = %s, want stopping", m.State())
	}
	if code, _ := scrape(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz of a stopping worker (still finishing jobs) = %d, want 200", code)
	}
	report(worker.Event{Type: worker.EventStopped})
	if code, body := scrape(t, base+"/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "stopped") {
		t.Fatalf("/healthz after the worker stopped = %d %q, want 503 stopped", code, body)
	}
	if len(passed) != 11 {
		t.Fatalf("the wrapped reporter got %d events, want all 11", len(passed))
	}
}

func TestServerSamplesQueueDepth(t *testing.T) {
	ctx := context.Background()
	q, err := dbqueue.Open(ctx, dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(t.TempDir(), "q.db"), AutoMigrate: true, RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	for _, delay := range []time.Duration{0, 0, time.Hour} {
		if _, err := q.Push(ctx, "mail", []byte(`{"job":"A"}`), delay); err != nil {
			t.Fatal(err)
		}
	}
	m := New("database", "w1")
	s := NewServer(m, ServerOptions{Addr: "127.0.0.1:0", Inspector: q, Queues: []string{"mail", "empty"}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()

	// The first sample is taken as the server starts; wait for it to land.
	base := "http://" + s.Addr()
	var e exposition
	for deadline := time.Now().Add(10 * time.Second); e.value("qctl_queue_samples_total", "result", "ok") < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no queue sample within 10s:\n%v", e.samples)
		}
		e = scrapeMetrics(t, base)
	}
	// A scrape writes the gauges before the count (families go by name), so the one that saw the
	// count may have read the gauges a moment earlier: read them again, now that they are set.
	e = scrapeMetrics(t, base)
	for _, c := range []struct {
		queue, state string
		want         float64
	}{
		{"mail", "ready", 2},
		{"mail", "delayed", 1},
		{"mail", "reserved", 0},
		{"empty", "ready", 0},
	} {
		if got := e.value("qctl_queue_jobs", "queue", c.queue, "state", c.state); got != c.want {
			t.Errorf("qctl_queue_jobs{queue=%s,state=%s} = %v, want %v", c.queue, c.state, got, c.want)
		}
	}
	if e.types["qctl_queue_jobs"] != "gauge" || e.types["qctl_queue_samples_total"] != "counter" {
		t.Errorf("# TYPE of qctl_queue_jobs and qctl_queue_samples_total = %q, %q", e.types["qctl_queue_jobs"], e.types["qctl_queue_samples_total"])
	}
	if age := e.value("qctl_queue_oldest_ready_age_seconds", "queue", "mail"); age < 0 || age > 60 {
		t.Errorf("oldest ready age of mail = %v, want a few seconds at most", age)
	}
}

func TestStartReportsATakenPortAndStopIsSafeTwice(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := NewServer(New("c", "w"), ServerOptions{Addr: ln.Addr().String()})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("Start on a taken port = %v, want address already in use", err)
	}
	s.Stop()
	s.Stop()

	before := NewServer(New("c", "w"), ServerOptions{Addr: "127.0.0.1:0"})
	before.Stop() // before Start: nothing to stop, and Start is refused afterwards
	if err := before.Start(); err == nil {
		t.Fatal("Start after Stop succeeded")
	}

	running := NewServer(New("c", "w"), ServerOptions{Addr: "127.0.0.1:0"})
	if err := running.Start(); err != nil {
		t.Fatal(err)
	}
	addr := running.Addr()
	running.Stop()
	running.Stop()
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", addr)
	}
}

// Job names come from payloads: names without a handler share one label value, so pushing jobs
// under endless new names cannot grow the worker's series (and memory) without bound.
func TestJobLabelsAreBoundedToHandledNames(t *testing.T) {
	m := New("database", "w1")
	m.LimitJobs(func(job string) bool { return job == "SendEmail" })
	report := m.Reporter(nil)
	for i := range 1000 {
		report(worker.Event{Type: worker.EventProcessed, Queue: "mail", Job: fmt.Sprintf("Forged%d", i)})
		report(worker.Event{Type: worker.EventFailed, Queue: "mail", Job: fmt.Sprintf("Forged%d", i)})
	}
	report(worker.Event{Type: worker.EventProcessed, Queue: "mail", Job: "SendEmail"})
	s := NewServer(m, ServerOptions{Addr: "127.0.0.1:0"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	e := scrapeMetrics(t, "http://"+s.Addr())
	for _, name := range []string{"qctl_jobs_processed_total", "qctl_job_duration_seconds_count"} {
		got := e.sumBy(name, "job")
		want := map[string]float64{"SendEmail": 1, OtherJob: 1000}
		if name == "qctl_job_duration_seconds_count" {
			want[OtherJob] = 2000 // processed and failed
		}
		if len(got) != len(want) || got["SendEmail"] != want["SendEmail"] || got[OtherJob] != want[OtherJob] {
			t.Errorf("%s by job = %v, want %v", name, got, want)
		}
	}
}

// Queue and job names are anyone's choice: a quote, a backslash or a newline in one must still
// make a valid exposition, with the name read back as it was.
func TestLabelValuesAreEscaped(t *testing.T) {
	const queue, job = "a\"b\\c\nd", "Job \"x\"\\\ny"
	m := New("con\"n", "w\\1")
	m.LimitJobs(func(string) bool { return true })
	m.Reporter(nil)(worker.Event{Type: worker.EventProcessed, Queue: queue, Job: job, Duration: time.Millisecond})
	s := NewServer(m, ServerOptions{Addr: "127.0.0.1:0"})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	e := scrapeMetrics(t, "http://"+s.Addr())
	kv := []string{"queue", queue, "job", job, "connection", "con\"n", "worker", "w\\1"}
	if got := e.value("qctl_jobs_processed_total", kv...); got != 1 {
		t.Errorf("qctl_jobs_processed_total%q = %v, want 1", kv, got)
	}
	if got := e.value("qctl_job_duration_seconds_bucket", append(kv, "le", "0.001")...); got != 1 {
		t.Errorf("qctl_job_duration_seconds_bucket%q = %v, want 1", kv, got)
	}
}
