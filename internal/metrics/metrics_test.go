package metrics

import (
	"bufio"
	"context"
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

// value returns the sample of the series whose name is name and whose labels include every
// fragment (like `job="A"`), or -1 when there is none.
func value(body, name string, fragments ...string) float64 {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
next:
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		series, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		for _, f := range fragments {
			if !strings.Contains(series, f) {
				continue next
			}
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return -1
		}
		return f
	}
	return -1
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

	_, body := scrape(t, base+"/metrics")
	for _, c := range []struct {
		name      string
		fragments []string
		want      float64
	}{
		{"qctl_jobs_processed_total", []string{`job="SendEmail"`, `queue="mail"`, `connection="database"`, `worker="w1"`}, 3},
		{"qctl_jobs_released_total", []string{`job="SendEmail"`}, 1},
		{"qctl_jobs_failed_total", []string{`job="Resize"`}, 1},
		{"qctl_job_duration_seconds_count", []string{`job="SendEmail"`, `outcome="processed"`}, 3},
		{"qctl_job_duration_seconds_sum", []string{`job="SendEmail"`, `outcome="released"`}, 1},
		{"qctl_worker_errors_total", nil, 1},
		{"qctl_worker_state", []string{`state="paused"`}, 1},
		{"qctl_worker_state", []string{`state="running"`}, 0},
	} {
		if got := value(body, c.name, c.fragments...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.fragments, got, c.want)
		}
	}
	if !strings.Contains(body, "go_goroutines") {
		t.Error("/metrics has no Go runtime metrics")
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
	var body string
	for deadline := time.Now().Add(10 * time.Second); value(body, "qctl_queue_samples_total", `result="ok"`) < 2; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no queue sample within 10s:\n%s", body)
		}
		_, body = scrape(t, "http://"+s.Addr()+"/metrics")
	}
	// A scrape gathers collectors concurrently, so the one that saw the count may have read the
	// gauges a moment earlier: read them again, now that they are certainly set.
	_, body = scrape(t, "http://"+s.Addr()+"/metrics")
	for _, c := range []struct {
		fragments []string
		want      float64
	}{
		{[]string{`queue="mail"`, `state="ready"`}, 2},
		{[]string{`queue="mail"`, `state="delayed"`}, 1},
		{[]string{`queue="mail"`, `state="reserved"`}, 0},
		{[]string{`queue="empty"`, `state="ready"`}, 0},
	} {
		if got := value(body, "qctl_queue_jobs", c.fragments...); got != c.want {
			t.Errorf("qctl_queue_jobs%v = %v, want %v\n%s", c.fragments, got, c.want, body)
		}
	}
	if age := value(body, "qctl_queue_oldest_ready_age_seconds", `queue="mail"`); age < 0 || age > 60 {
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
	families, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "qctl_jobs_processed_total" && f.GetName() != "qctl_job_duration_seconds" {
			continue
		}
		got := map[string]float64{}
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == "job" {
					got[l.GetValue()] += metric.GetCounter().GetValue() + float64(metric.GetHistogram().GetSampleCount())
				}
			}
		}
		want := map[string]float64{"SendEmail": 1, OtherJob: 1000}
		if f.GetName() == "qctl_job_duration_seconds" {
			want[OtherJob] = 2000 // processed and failed
		}
		if len(got) != len(want) || got["SendEmail"] != want["SendEmail"] || got[OtherJob] != want[OtherJob] {
			t.Errorf("%s by job = %v, want %v", f.GetName(), got, want)
		}
	}
}
