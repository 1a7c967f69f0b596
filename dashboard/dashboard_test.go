package dashboard_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/dashboard"
	"github.com/qctl/qctl/failed"
)

// secretsConfig adds connections whose DSN and password must never reach a page, even in the
// error their unreachable servers produce.
var secretsConfig = `
[connections.pg]
driver = "database"
dialect = "postgres"
dsn = "postgres://qctl:` + secretPassword + `@127.0.0.1:1/db?sslmode=disable&connect_timeout=1"

[connections.broken]
driver = "database"
dialect = "sqlite"
dsn = "/nonexistent/` + secretPassword + `/q.db"

[connections.cache]
driver = "redis"
addr = "127.0.0.1:1"
password = "` + secretPassword + `"
`

func TestEveryPageRendersWithoutSecrets(t *testing.T) {
	b := setup(t, setupOptions{extra: secretsConfig})
	b.push("emails", 3, 0)
	b.push("emails", 1, time.Hour)
	id := b.fail("emails", "App\\Jobs\\SendEmail", "RuntimeException: SMTP refused\n#0 /app/Mailer.php(12): send()\n#1 {main}")
	pages := map[string][]string{
		"/":                                {"Overview", "emails", "SendEmail" /* none */},
		"/queues":                          {"Queues", "emails", "type emails to clear"},
		"/failed":                          {"Failed jobs", "SMTP refused", id[:8]},
		"/failed/" + id:                    {"#0 /app/Mailer.php(12): send()", "Exception"},
		"/jobs?queue=emails":               {"user0@example.com", "SendEmail"},
		"/jobs?queue=emails&state=delayed": {"Run now"},
		"/jobs?connection=sync":            {"cannot list its jobs"},
		"/workers":                         {"Live workers", "No live worker."},
	}
	pages["/"] = []string{"Overview", "emails", "pg", "cache"}
	dsnSecrets := []string{secretPassword, secretEnv, "postgres://qctl", b.dsn}
	for path, wants := range pages {
		status, body := b.get(path)
		if status != http.StatusOK {
			t.Errorf("GET %s: status %d", path, status)
		}
		mustContain(t, path, body, wants...)
		for _, s := range dsnSecrets {
			if strings.Contains(body, s) {
				t.Errorf("GET %s shows the secret %q", path, s)
			}
		}
	}
	// The unreachable connections show why, with the secrets masked.
	_, body := b.get("/queues")
	mustContain(t, "/queues", body, "connection &#34;pg&#34;", "connection &#34;broken&#34;", "******")
}

func TestActionWithoutCSRFTokenIsRefused(t *testing.T) {
	b := setup(t, setupOptions{})
	id := b.fail("emails", "Job", "boom")
	b.get("/failed") // gets the session cookie
	for _, form := range []url.Values{{"one": {id}}, {"one": {id}, "csrf": {"0123abcd"}}} {
		if status, _ := b.postRaw("/failed/forget", form); status != http.StatusForbidden {
			t.Errorf("POST without a valid token: status %d, want 403", status)
		}
	}
	if n := b.failedCount(failed.Filter{}); n != 1 {
		t.Errorf("%d failed jobs after refused forgets, want 1", n)
	}
	// A token is bound to its session: another browser's token is refused.
	other := setup(t, setupOptions{})
	other.get("/failed")
	form := url.Values{"one": {id}, "csrf": {other.token()}}
	if status, _ := b.postRaw("/failed/forget", form); status != http.StatusForbidden {
		t.Errorf("POST with another session's token: status %d, want 403", status)
	}
}

func TestReadOnlyRefusesActionsAndShowsNoButtons(t *testing.T) {
	b := setup(t, setupOptions{Options: dashboard.Options{ReadOnly: true}})
	id := b.fail("emails", "Job", "boom")
	b.push("emails", 1, 0)
	for _, path := range []string{"/", "/queues", "/failed", "/failed/" + id, "/jobs?queue=emails"} {
		_, body := b.get(path)
		if strings.Contains(body, `method="post"`) {
			t.Errorf("read-only %s has a form that posts", path)
		}
	}
	if status, _ := b.postRaw("/failed/forget", url.Values{"one": {id}}); status != http.StatusForbidden {
		t.Errorf("read-only POST: status %d, want 403", status)
	}
}

func TestBasicAuth(t *testing.T) {
	b := setup(t, setupOptions{Options: dashboard.Options{Auth: "ops:hunter2"}})
	if status, _ := b.get("/"); status != http.StatusUnauthorized {
		t.Errorf("no credentials: status %d, want 401", status)
	}
	req, _ := http.NewRequest("GET", b.srv.URL+"/", nil)
	req.SetBasicAuth("ops", "wrong")
	if resp, err := b.client.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: %v %v, want 401", resp.StatusCode, err)
	}
	req.SetBasicAuth("ops", "hunter2")
	if resp, err := b.client.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("right password: %v %v, want 200", resp.StatusCode, err)
	}
}

func TestCheckListen(t *testing.T) {
	for _, c := range []struct {
		addr    string
		o       dashboard.Options
		exposed bool
	}{
		{"127.0.0.1:8080", dashboard.Options{}, false},
		{"[::1]:8080", dashboard.Options{}, false},
		{"localhost:8080", dashboard.Options{}, false},
		{"0.0.0.0:8080", dashboard.Options{}, true},
		{":8080", dashboard.Options{}, true},
		{"10.1.2.3:8080", dashboard.Options{}, true},
		{"0.0.0.0:8080", dashboard.Options{Auth: "a:b"}, false},
		{"0.0.0.0:8080", dashboard.Options{ReadOnly: true}, false},
	} {
		err := dashboard.CheckListen(c.addr, c.o)
		if errors.Is(err, dashboard.ErrExposed) != c.exposed {
			t.Errorf("CheckListen(%q, auth=%q read-only=%v) = %v, want exposed=%v", c.addr, c.o.Auth, c.o.ReadOnly, err, c.exposed)
		}
	}
}

func TestRetryOneFailedJob(t *testing.T) {
	b := setup(t, setupOptions{})
	id := b.fail("emails", "App\\Jobs\\SendEmail", "boom")
	keep := b.fail("emails", "App\\Jobs\\SendEmail", "boom again")
	status, loc := b.post("/failed/retry", url.Values{"one": {id}})
	if status != http.StatusSeeOther || loc != "/failed" {
		t.Fatalf("retry: %d to %q, want 303 to /failed", status, loc)
	}
	if n := b.failedCount(failed.Filter{}); n != 1 {
		t.Errorf("%d failed jobs after retrying one of two, want 1", n)
	}
	if st := b.stats("emails"); st.Ready != 1 {
		t.Errorf("%d ready jobs after the retry, want 1", st.Ready)
	}
	_, body := b.get("/failed")
	if strings.Contains(body, `value="`+id+`"`) || !strings.Contains(body, `value="`+keep+`"`) {
		t.Errorf("the failed list still shows the retried job, or lost the other one")
	}
	if !strings.Contains(body, "retry failed job "+id+": 1 job.") {
		t.Errorf("the page after the retry does not say what was done")
	}
	mustContain(t, "the action log", b.log.String(), "retry failed job "+id+": 1 jobs", "127.0.0.1")
}

func TestRetryAndForgetSelectedAndAllMatching(t *testing.T) {
	b := setup(t, setupOptions{})
	a1 := b.fail("a", "JobA", "timeout talking to api")
	a2 := b.fail("a", "JobA", "timeout talking to api")
	b.fail("a", "JobB", "division by zero")
	b.fail("b", "JobA", "timeout talking to api")

	// Selected: two ids.
	if status, _ := b.post("/failed/retry", url.Values{"ids": {a1, a2}}); status != http.StatusSeeOther {
		t.Fatalf("retry selected: status %d", status)
	}
	if n := b.failedCount(failed.Filter{}); n != 2 {
		t.Errorf("%d failed jobs after retrying two of four, want 2", n)
	}
	// All matching the filter: queue b with "timeout" in the exception.
	form := url.Values{"all": {"1"}, "queue": {"b"}, "exception": {"timeout"}}
	if status, loc := b.post("/failed/forget", form); status != http.StatusSeeOther || loc != "/failed" {
		t.Fatalf("forget matching: %d %q", status, loc)
	}
	if n := b.failedCount(failed.Filter{Queue: "b"}); n != 0 {
		t.Errorf("%d failed jobs of queue b after forgetting all that match, want 0", n)
	}
	if n := b.failedCount(failed.Filter{}); n != 1 {
		t.Errorf("%d failed jobs left, want 1 (JobB of queue a)", n)
	}
	mustContain(t, "the action log", b.log.String(), `forget all failed jobs matching queue="b" exception="timeout": 1 jobs`)
}

var regexpNext = regexp.MustCompile(`below=([0-9]+)">older`)

func TestFailedFilterAndPaging(t *testing.T) {
	b := setup(t, setupOptions{Options: dashboard.Options{PageSize: 2}})
	for i := 0; i < 5; i++ {
		b.fail("a", "JobA", "timeout")
	}
	b.fail("a", "JobB", "division by zero")
	_, body := b.get("/failed?exception=division")
	mustContain(t, "the filtered list", body, "1 matching on this page</span>", "division by zero")
	if strings.Contains(body, "timeout") {
		t.Errorf("the list filtered by exception shows other jobs")
	}
	_, body = b.get("/failed?job=JobA")
	mustContain(t, "page 1", body, "2 matching on this page, more older", "Retry all matching", "older »")
	next := regexpNext.FindStringSubmatch(body)
	if next == nil {
		t.Fatal("no link to the next page")
	}
	_, body = b.get("/failed?job=JobA&below=" + next[1])
	mustContain(t, "page 2", body, "« newest", "older »")
	if got := strings.Count(body, `name="ids"`); got != 2 {
		t.Errorf("page 2 lists %d jobs, want 2", got)
	}
	// The last page knows it is the last: it read one row more than a page and found none.
	next = regexpNext.FindStringSubmatch(body)
	if next == nil {
		t.Fatal("no link to page 3")
	}
	_, body = b.get("/failed?job=JobA&below=" + next[1])
	if got := strings.Count(body, `name="ids"`); got != 1 || strings.Contains(body, "older »") || !strings.Contains(body, "1 matching on this page</span>") {
		t.Errorf("page 3 lists %d jobs (want 1) and no older link:\n%s", got, body)
	}
	_, body = b.get("/failed")
	mustContain(t, "the unfiltered list", body, `<span class="count">6</span>`, "Retry all 6")
	if status, _ := b.get("/failed?from=yesterday"); status != http.StatusOK {
		t.Errorf("a bad date: status %d, want the page with its error", status)
	}
}

func TestFlushOlderThan(t *testing.T) {
	b := setup(t, setupOptions{})
	b.fail("a", "JobA", "boom")
	if _, loc := b.post("/failed/flush", url.Values{"hours": {"1"}}); loc != "/failed" {
		t.Fatalf("flush redirects to %q", loc)
	}
	if n := b.failedCount(failed.Filter{}); n != 1 {
		t.Errorf("flush older than 1 hour deleted a job that just failed")
	}
	b.post("/failed/flush", url.Values{"hours": {"0"}})
	if n := b.failedCount(failed.Filter{}); n != 0 {
		t.Errorf("%d failed jobs after flushing all", n)
	}
	mustContain(t, "the action log", b.log.String(), "flush failed jobs older than 1 hours: 0 jobs", "flush all failed jobs: 1 jobs")
}

func TestClearNeedsTheQueueNameTyped(t *testing.T) {
	b := setup(t, setupOptions{})
	b.push("emails", 4, 0)
	_, body := b.get("/")
	mustContain(t, "the overview before clearing", body, `<span class="n">4</span><span class="l">ready`)
	b.post("/queues/clear", url.Values{"connection": {"database"}, "queue": {"emails"}, "confirm": {"yes"}})
	if st := b.stats("emails"); st.Ready != 4 {
		t.Fatalf("clear without the name typed left %d of 4 jobs", st.Ready)
	}
	_, body = b.get("/queues")
	mustContain(t, "the page after a refused clear", body, "type the queue&#39;s name to confirm")
	b.post("/queues/clear", url.Values{"connection": {"database"}, "queue": {"emails"}, "confirm": {"emails"}})
	if st := b.stats("emails"); st.Ready != 0 {
		t.Errorf("clear with the name typed left %d jobs", st.Ready)
	}
	// The overview shows the cleared queue at once, not the sample taken before the clear.
	_, body = b.get("/")
	mustContain(t, "the overview after clearing", body, `<span class="n">0</span><span class="l">ready`)
	mustContain(t, "the action log", b.log.String(), "clear queue database/emails: 4 jobs")
}

func TestJobsDeleteAndRunNow(t *testing.T) {
	b := setup(t, setupOptions{})
	ready := b.push("emails", 2, 0)
	delayed := b.push("emails", 1, time.Hour)
	form := url.Values{"connection": {"database"}, "queue": {"emails"}, "state": {"delayed"}, "ref": {delayed[0]}, "id": {delayed[0]}}
	if status, loc := b.post("/jobs/run-now", form); status != http.StatusSeeOther || !strings.HasPrefix(loc, "/jobs?") {
		t.Fatalf("run now: %d %q", status, loc)
	}
	if st := b.stats("emails"); st.Ready != 3 || st.Delayed != 0 {
		t.Errorf("after run now: %d ready, %d delayed; want 3, 0", st.Ready, st.Delayed)
	}
	form = url.Values{"connection": {"database"}, "queue": {"emails"}, "state": {"ready"}, "ref": {ready[0]}, "id": {ready[0]}}
	b.post("/jobs/delete", form)
	if st := b.stats("emails"); st.Ready != 2 {
		t.Errorf("after deleting one: %d ready, want 2", st.Ready)
	}
	b.post("/jobs/delete", form) // already gone
	_, body := b.get("/jobs?queue=emails")
	mustContain(t, "the page after deleting a job twice", body, "job not found")
}

// TestJobsOnBeanstalkd browses a tube of the real beanstalkd: the page shows the next ready and
// the next delayed job, says that is all beanstalkd lets it see, offers no reserved tab, and
// deletes a job and kicks a delayed one to ready.
func TestJobsOnBeanstalkd(t *testing.T) {
	connectortest.RequireService(t, "beanstalkd", "127.0.0.1:11300", "sudo service beanstalkd start")
	tube := "dash-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	b := setup(t, setupOptions{extra: "\n[connections.bean]\ndriver = \"beanstalkd\"\naddr = \"127.0.0.1:11300\"\nqueue = \"" + tube + "\"\n"})
	c, err := b.m.Open(context.Background(), "bean")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.Clear(context.Background(), tube); c.Close() })
	var ids []string
	for _, p := range []struct {
		name  string
		delay time.Duration
	}{{"App\\Jobs\\First", 0}, {"App\\Jobs\\Second", 0}, {"App\\Jobs\\Later", time.Hour}} {
		id, err := c.Backend.Push(context.Background(), tube, []byte(`{"displayName":"`+strings.ReplaceAll(p.name, `\`, `\\`)+`","job":"x","data":{}}`), p.delay)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	_, body := b.get("/jobs?connection=bean&queue=" + tube)
	mustContain(t, "the ready tab", body, `App\Jobs\First`, "beanstalkd shows only the next job of each state", "Delete")
	if strings.Contains(body, `App\Jobs\Second`) || strings.Contains(body, "state=reserved") {
		t.Errorf("the ready tab lists more than the next job, or offers reserved jobs:\n%s", body)
	}
	_, body = b.get("/jobs?connection=bean&queue=" + tube + "&state=delayed")
	mustContain(t, "the delayed tab", body, `App\Jobs\Later`, "Run now")

	form := url.Values{"connection": {"bean"}, "queue": {tube}, "state": {"ready"}, "ref": {ids[0]}, "id": {ids[0]}}
	if status, _ := b.post("/jobs/delete", form); status != http.StatusSeeOther {
		t.Fatalf("delete: status %d", status)
	}
	form = url.Values{"connection": {"bean"}, "queue": {tube}, "state": {"delayed"}, "ref": {ids[2]}, "id": {ids[2]}}
	if status, _ := b.post("/jobs/run-now", form); status != http.StatusSeeOther {
		t.Fatalf("run now: status %d", status)
	}
	st, err := c.Snapshot(context.Background(), nil, []string{tube})
	if err != nil || len(st.Queues) != 1 || st.Queues[0].Ready != 2 || st.Queues[0].Delayed != 0 {
		t.Fatalf("after delete and run now: %+v, %v; want 2 ready, 0 delayed", st.Queues, err)
	}
	_, body = b.get("/jobs?connection=bean&queue=" + tube)
	mustContain(t, "the ready tab after the delete", body, `App\Jobs\Second`)
}
