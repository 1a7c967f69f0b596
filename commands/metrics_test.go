package commands_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// get GETs url; code is 0 when nothing answered.
func get(t *testing.T, url string) (code int, body string) {
	t.Helper()
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// metricValue returns the sample of the first series called name whose labels contain every
// fragment, or -1 when there is none (a counter nobody has touched yet).
func metricValue(body, name string, fragments ...string) float64 {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
next:
	for sc.Scan() {
		series, v, ok := strings.Cut(sc.Text(), " ")
		if !ok || (series != name && !strings.HasPrefix(series, name+"{")) {
			continue
		}
		for _, f := range fragments {
			if !strings.Contains(series, f) {
				continue next
			}
		}
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return -1
}

var servingRE = regexp.MustCompile(`Serving metrics on (http://\S+)/metrics`)

func TestWorkServesMetricsThatMoveWithJobs(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	w := e.start("work", "--metrics-addr", "127.0.0.1:0", "--sleep", "0.05")
	var base string
	waitFor(t, 20*time.Second, "the metrics address", func() bool {
		m := servingRE.FindStringSubmatch(w.stdout.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	waitFor(t, 20*time.Second, "/healthz to answer 200", func() bool { code, _ := get(t, base+"/healthz"); return code == 200 })

	processed := func() float64 {
		code, body := get(t, base+"/metrics")
		if code != 200 {
			t.Fatalf("GET /metrics = %d %s", code, body)
		}
		return max(metricValue(body, "qctl_jobs_processed_total", `job="Record"`, `queue="default"`), 0)
	}
	before := processed()
	for range 3 {
		e.ok("push", "Record", "{}")
	}
	waitFor(t, 20*time.Second, "the processed counter to count 3 jobs", func() bool { return processed() == before+3 })

	e.ok("push", "Fail", "{}")
	waitFor(t, 20*time.Second, "the failed counter", func() bool {
		_, body := get(t, base+"/metrics")
		return metricValue(body, "qctl_jobs_failed_total", `job="Fail"`) == 1
	})
	_, body := get(t, base+"/metrics")
	for _, series := range []struct {
		name      string
		fragments []string
	}{
		{"qctl_job_duration_seconds_count", []string{`job="Record"`, `outcome="processed"`}},
		{"qctl_worker_state", []string{`state="running"`, `connection="database"`, `worker="default"`}},
		{"qctl_queue_jobs", []string{`queue="default"`, `state="ready"`}},
		{"qctl_queue_oldest_ready_age_seconds", []string{`queue="default"`}},
	} {
		if metricValue(body, series.name, series.fragments...) < 0 {
			t.Errorf("/metrics has no %s%v:\n%s", series.name, series.fragments, body)
		}
	}
	if v := metricValue(body, "qctl_worker_state", `state="running"`); v != 1 {
		t.Errorf("worker_state{running} = %v, want 1", v)
	}

	w.signal(syscall.SIGTERM)
	if code := w.exitWithin(20 * time.Second); code != 0 {
		t.Fatalf("work exited %d, want 0\n%s%s", code, w.stdout, w.stderr)
	}
	if code, _ := get(t, base+"/healthz"); code != 0 {
		t.Fatalf("/healthz still answers %d after the worker exited", code)
	}
}

func TestMetricsAddressProblemsStopWorkBeforeAnyJob(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Record", "{}")
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	expect(t, e.qctl("work", "--stop-when-empty", "--metrics-addr", taken.Addr().String()), 1, "address already in use")
	expect(t, e.qctl("work", "--stop-when-empty", "--metrics-addr", "9090"), 2, "--metrics-addr")
	if n := e.queueSize("default"); n != 1 || len(e.records()) != 0 {
		t.Fatalf("a job ran although the metrics address was unusable (queue holds %d)", n)
	}
}

// TestListenServesMetricsOfItsChildren checks that jobs run by `listen` children, which report
// their events to the listener over their report pipe, move the listener's counters.
func TestListenServesMetricsOfItsChildren(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	l := e.start("listen", "--metrics-addr", "127.0.0.1:0", "--sleep", "0.05")
	var base string
	waitFor(t, 20*time.Second, "the metrics address", func() bool {
		m := servingRE.FindStringSubmatch(l.stdout.String())
		if m != nil {
			base = m[1]
		}
		return m != nil
	})
	for range 3 {
		e.ok("push", "Record", "{}")
	}
	e.ok("push", "Fail", "{}")
	waitFor(t, 30*time.Second, "the listener's counters to count its children's jobs", func() bool {
		_, body := get(t, base+"/metrics")
		return metricValue(body, "qctl_jobs_processed_total", `job="Record"`) == 3 &&
			metricValue(body, "qctl_jobs_failed_total", `job="Fail"`) == 1
	})
	if strings.Count(l.stdout.String(), "Record") != 3 {
		t.Errorf("each child's job line should be printed once:\n%s", l.stdout)
	}
	l.signal(syscall.SIGTERM)
	if code := l.exitWithin(20 * time.Second); code != 0 {
		t.Fatalf("listen exited %d, want 0\n%s%s", code, l.stdout, l.stderr)
	}
}

// Metrics have no authentication: an address that listens beyond loopback (":PORT", every
// interface) is served, with a warning at start; a loopback one is not warned about.
func TestMetricsAddressBeyondLoopbackIsWarnedAbout(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	r := e.ok("work", "--stop-when-empty", "--metrics-addr", ":0")
	if n := strings.Count(r.stderr, "warning: --metrics-addr"); n != 1 {
		t.Fatalf("%d warnings about --metrics-addr :0, want 1\nstdout:\n%s\nstderr:\n%s", n, r.stdout, r.stderr)
	}
	r = e.ok("work", "--stop-when-empty", "--metrics-addr", "127.0.0.1:0")
	if strings.Contains(r.stderr, "warning") {
		t.Fatalf("warned about a loopback address:\n%s", r.stderr)
	}
}
