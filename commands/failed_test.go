package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/width"

	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
)

// twoConnections has a second SQLite connection, "other", so retry can be seen to push a job
// back onto the connection it failed on rather than the default one.
const twoConnections = sqliteConfig + `
[connections.other]
driver = "database"
dialect = "sqlite"
dsn = "other.db"
retry_after = 60

[connections.inline]
driver = "sync"
`

// seed is one failed job to put in a test's failed_jobs.
type seed struct {
	connection, queue string
	payload           []byte
	exception         string
	at                time.Time
}

// seedFailed logs jobs in the env's failed store (SQLite qctl.db) at the times they give, and
// returns their ids in order.
func seedFailed(t *testing.T, e *env, layout failed.Layout, seeds ...seed) []string {
	t.Helper()
	var now time.Time
	s, err := failed.Open(context.Background(), failed.Options{
		Dialect: "sqlite", DSN: filepath.Join(e.dir, "qctl.db"), Table: "failed_jobs", Layout: layout, AutoMigrate: true,
		Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ids []string
	for _, sd := range seeds {
		now = sd.at
		id, err := s.Log(context.Background(), sd.connection, sd.queue, sd.payload, sd.exception)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// recordPayload is a Record job's payload with its uuid.
func recordPayload(t *testing.T, name, data string) ([]byte, string) {
	t.Helper()
	p := jobs.NewPayload(name, json.RawMessage(data))
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b, p.UUID
}

// run runs qctl with extra environment variables and returns what it did.
func run(t *testing.T, e *env, environ []string, args ...string) result {
	t.Helper()
	cmd := e.command(args...)
	cmd.Env = append(cmd.Env, environ...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	if exit, ok := err.(*exec.ExitError); ok {
		r.code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// columns is how many terminal columns s takes (East Asian wide runes take two).
func columns(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

type failedLine struct {
	ID, Connection, Queue, Job, Exception string
	RowID                                 int64 `json:"row_id"`
	FailedAt                              time.Time
	Payload                               json.RawMessage
}

// listJSON runs `failed --json` with args and decodes every line.
func listJSON(t *testing.T, e *env, args ...string) []failedLine {
	t.Helper()
	r := e.ok(append([]string{"failed", "--json"}, args...)...)
	var out []failedLine
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if line == "" {
			continue
		}
		var l failedLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("failed --json line is not JSON: %v: %s", err, line)
		}
		out = append(out, l)
	}
	return out
}

func lineIDs(lines []failedLine) []string {
	var ids []string
	for _, l := range lines {
		ids = append(ids, l.ID)
	}
	return ids
}

func TestFailedListsFitEightyColumnsAndFilter(t *testing.T) {
	e := newEnv(t, twoConnections)
	expect(t, e.ok("failed"), 0, "No failed jobs.")

	day := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	short, _ := recordPayload(t, "Record", `{"to":"<a@b.c>"}`)
	class, _ := recordPayload(t, `App\Jobs\Reports\GenerateQuarterlyRevenueReportForAllRegions`, `null`)
	think := []byte(`{"job":"app\\job\\SendSms@fire","maxTries":null,"timeout":null,"data":{"n":1},"id":"x","attempts":2}`)
	ids := seedFailed(t, e, failed.LayoutLaravel,
		seed{"database", "default", short, "the mail server refused\n#0 stack frame one\n#1 stack frame two", day},
		seed{"other", "reports-with-a-long-queue-name", class, "Illuminate\\Database\\QueryException: SQLSTATE[HY000]: General error: 2006 MySQL server has gone away (SQL: select * from `orders` where `region` = ?)", day.Add(time.Hour)},
		seed{"database-connection-with-a-long-name", "sms", think, "短信网关返回错误：余额不足，请联系管理员充值后重试。这是一条很长的中文异常信息", day.Add(2 * time.Hour)},
		seed{"database", "default", []byte("<?php not json"), "\tbad\x1b[31m payload", day.Add(3 * time.Hour)},
	)

	out := run(t, e, []string{"COLUMNS=80"}, "failed").stdout
	t.Logf("qctl failed at 80 columns:\n%s", out)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	for _, l := range lines {
		if columns(l) > 80 {
			t.Errorf("line of %d columns (> 80):\n%s", columns(l), l)
		}
		if strings.ContainsAny(l, "\t\x1b") {
			t.Errorf("control character in output line %q", l)
		}
	}
	if !strings.HasPrefix(lines[0], "ID ") || !strings.Contains(lines[0], "Failed At") {
		t.Errorf("first line is not the header: %q", lines[0])
	}
	// Newest first, every id whole, the exceptions' first lines only.
	var at []int
	for _, id := range ids {
		at = append(at, strings.Index(out, id))
	}
	if !slices.IsSorted([]int{at[3], at[2], at[1], at[0]}) || slices.Contains(at, -1) {
		t.Errorf("ids not all listed newest first (positions %v):\n%s", at, out)
	}
	for _, want := range []string{"the mail server refused", "2026-11-21 13:00", "…Regions", "短信网关", "database", "default", "other", "Record"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "stack frame") {
		t.Errorf("output shows more than the exception's first line:\n%s", out)
	}

	// Piped without $COLUMNS, nothing is cut.
	piped := e.ok("failed").stdout
	for _, want := range []string{`App\Jobs\Reports\GenerateQuarterlyRevenueReportForAllRegions`, "database-connection-with-a-long-name", "SQLSTATE[HY000]"} {
		if !strings.Contains(piped, want) {
			t.Errorf("piped output cuts %q:\n%s", want, piped)
		}
	}

	// A wide terminal's worth of columns ($COLUMNS, as for ls, when stdout is not a terminal)
	// shows every value whole and the exception in a column.
	wide := run(t, e, []string{"COLUMNS=250"}, "failed")
	for _, l := range strings.Split(strings.TrimRight(wide.stdout, "\n"), "\n") {
		if columns(l) > 250 {
			t.Errorf("line of %d columns (> 250):\n%s", columns(l), l)
		}
	}
	if len(strings.Split(strings.TrimRight(wide.stdout, "\n"), "\n")) != 5 || !strings.Contains(wide.stdout, "Exception") {
		t.Errorf("at 250 columns the exception is not a column:\n%s", wide.stdout)
	}
	for _, want := range []string{`App\Jobs\Reports\GenerateQuarterlyRevenueReportForAllRegions`, `app\job\SendSms@fire`, "database-connection-with-a-long-name", "2026-11-21 13:00:00", "SQLSTATE[HY000]"} {
		if !strings.Contains(wide.stdout, want) {
			t.Errorf("at 250 columns the output lacks %q:\n%s", want, wide.stdout)
		}
	}

	// --limit counts the rest.
	limited := e.ok("failed", "--limit", "2").stdout
	if !strings.Contains(limited, "... and 2 more") || strings.Contains(limited, ids[0]) || !strings.Contains(limited, ids[3]) {
		t.Errorf("failed --limit 2:\n%s", limited)
	}

	// --json: valid lines, HTML left alone, row ids, the unreadable payload kept as text.
	all := listJSON(t, e)
	if !slices.Equal(lineIDs(all), []string{ids[3], ids[2], ids[1], ids[0]}) {
		t.Fatalf("failed --json ids = %v", lineIDs(all))
	}
	if all[3].Job != "Record" || all[3].Exception != "the mail server refused" || !strings.Contains(string(all[3].Payload), `"to":"<a@b.c>"`) || all[3].RowID == 0 {
		t.Errorf("failed --json record = %+v", all[3])
	}
	jsonOut := e.ok("failed", "--json").stdout
	if strings.Contains(jsonOut, `\u003c`) || !strings.Contains(jsonOut, `<?php not json`) {
		t.Errorf("failed --json escapes HTML or drops the raw payload:\n%s", jsonOut)
	}
	r := e.ok("failed", "--json", "--limit", "1")
	if len(strings.Split(strings.TrimSpace(r.stdout), "\n")) != 1 || !strings.Contains(r.stderr, "3 more") {
		t.Errorf("failed --json --limit 1: stdout\n%s\nstderr\n%s", r.stdout, r.stderr)
	}

	// Filters.
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--queue", "default"}, []string{ids[3], ids[0]}},
		{[]string{"--job", "Record"}, []string{ids[0]}},
		{[]string{"--job", `app\job\SendSms`}, []string{ids[2]}},
		{[]string{"--job", `App\Jobs\Reports\GenerateQuarterlyRevenueReportForAllRegions`}, []string{ids[1]}},
		{[]string{"--since", "2026-11-21 11:00:00"}, []string{ids[3], ids[2], ids[1]}},
		{[]string{"--since", "2026-11-21T11:30:00+00:00", "--before", "2026-11-21 13:00"}, []string{ids[2]}},
		{[]string{"--before", "2026-11-21"}, nil},
		{[]string{"--since", "2026-11-22"}, nil},
	} {
		if got := lineIDs(listJSON(t, e, tc.args...)); !slices.Equal(got, tc.want) {
			t.Errorf("failed %v = %v, want %v", tc.args, got, tc.want)
		}
	}
	// Durations mean "that long ago".
	recent, _ := recordPayload(t, "Record", `5`)
	fresh := seedFailed(t, e, failed.LayoutLaravel, seed{"database", "recent", recent, "boom", time.Now().Add(-30 * time.Minute)})
	if got := lineIDs(listJSON(t, e, "--queue", "recent", "--since", "1h")); !slices.Equal(got, fresh) {
		t.Errorf("failed --since 1h = %v, want %v", got, fresh)
	}
	if got := lineIDs(listJSON(t, e, "--queue", "recent", "--before", "1d")); got != nil {
		t.Errorf("failed --before 1d = %v, want none", got)
	}
	e.ok("forget", fresh[0])
	expect(t, e.qctl("failed", "--since", "yesterday"), 2, "--since", "not a time")
	expect(t, e.ok("failed", "--queue", "nope"), 0, "No failed jobs.")

	// show: whole payload, indented, and the whole exception.
	shown := e.ok("failed", "show", ids[0]).stdout
	for _, want := range []string{"ID:         " + ids[0], "Connection: database", "\"data\": {\n    \"to\": \"<a@b.c>\"", "#1 stack frame two"} {
		if !strings.Contains(shown, want) {
			t.Errorf("failed show lacks %q:\n%s", want, shown)
		}
	}
	expect(t, e.ok("failed", "show", ids[3]), 0, "<?php not json")
	expect(t, e.qctl("failed", "show", "00000000-0000-4000-8000-000000000000"), 1, "No failed job matches the given ID.")
	expect(t, e.qctl("failed", "extra"), 2)
}

func TestRetryByUUIDRunsOnItsConnectionAndQueueWithAttemptsReset(t *testing.T) {
	e := newEnv(t, twoConnections)
	// A Redis-style payload that used up its attempts and its retry deadline.
	p := jobs.NewPayload("Record", json.RawMessage(`{"n":1}`))
	one, past := 1, time.Now().Add(-time.Hour).Unix()
	p.MaxTries, p.RetryUntil = &one, &past
	attempts := 3
	p.Attempts = &attempts
	payload, _ := p.Encode()
	other, _ := recordPayload(t, "Record", `2`)
	ids := seedFailed(t, e, failed.LayoutLaravel,
		seed{"other", "mail", payload, "boom", time.Now()},
		seed{"database", "default", other, "boom", time.Now()},
	)
	if ids[0] != p.UUID {
		t.Fatalf("failed id %q is not the payload's uuid %q", ids[0], p.UUID)
	}
	r := e.ok("retry", ids[0])
	expect(t, r, 0, "The failed job ["+ids[0]+"] has been pushed back onto the queue!", "1 retried, 0 not retried.")
	if got := lineIDs(listJSON(t, e)); !slices.Equal(got, []string{ids[1]}) {
		t.Fatalf("after retry, failed lists %v; want only the other job", got)
	}

	// It is on connection "other", queue "mail", with attempts 0 and no passed deadline.
	q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(e.dir, "other.db"), Table: "jobs", RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Size(context.Background(), "mail"); n != 1 {
		t.Fatalf("other/mail holds %d jobs, want 1", n)
	}
	q.Close()
	e.ok("work", "database", "--queue", "mail", "--stop-when-empty")
	if len(e.records()) != 0 {
		t.Fatalf("the job ran from the default connection: %q", e.records())
	}
	w := e.ok("work", "other", "--queue", "mail", "--stop-when-empty")
	if got := e.records(); len(got) != 1 || got[0] != p.UUID+" 1 mail" {
		t.Fatalf("after retry the job recorded %q, want [%q]\n%s", got, p.UUID+" 1 mail", w.stdout)
	}
	expect(t, e.qctl("retry", "00000000-0000-4000-8000-000000000000"), 1, "Unable to find failed job with ID [00000000-0000-4000-8000-000000000000].", "0 retried")
	expect(t, e.qctl("retry"), 2, "retry takes")
}

func TestRetryRefusesAMissingConnectionAndRetriesTheRest(t *testing.T) {
	e := newEnv(t, twoConnections)
	a, _ := recordPayload(t, "Record", `1`)
	b, _ := recordPayload(t, "Record", `2`)
	c, _ := recordPayload(t, "Record", `3`)
	d, _ := recordPayload(t, "Record", `4`)
	ids := seedFailed(t, e, failed.LayoutLaravel,
		seed{"gone", "default", a, "boom", time.Now()},
		seed{"database", "default", b, "boom", time.Now()},
		seed{"inline", "default", c, "boom", time.Now()},
		seed{"database", "default", d, "boom", time.Now()},
	)
	r := e.qctl("retry", "all")
	expect(t, r, 1, `Failed job [`+ids[0]+`] not retried: its connection "gone" is not in the config (known: database, inline, other)`,
		`Failed job [`+ids[2]+`] not retried: its connection "inline" uses the sync driver`, "2 retried, 2 not retried.")
	if got := lineIDs(listJSON(t, e)); !slices.Equal(got, []string{ids[2], ids[0]}) {
		t.Fatalf("after retry all, failed lists %v; want the two refused jobs", got)
	}
	e.ok("work", "--stop-when-empty")
	if got := e.records(); len(got) != 2 {
		t.Fatalf("%d retried jobs ran, want 2: %q", len(got), got)
	}
}

func TestRetrySelections(t *testing.T) {
	e := newEnv(t, twoConnections)
	var seeds []seed
	base := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
	for i := range 8 {
		name := "Record"
		if i%2 == 1 {
			name = "Record@handle"
		}
		queue := "default"
		if i >= 4 {
			queue = "mail"
		}
		pl, _ := recordPayload(t, name, fmt.Sprint(i))
		seeds = append(seeds, seed{"database", queue, pl, "boom", base.Add(time.Duration(i) * time.Hour)})
	}
	seeds[7].payload, _ = recordPayload(t, "Other", `7`)
	ids := seedFailed(t, e, failed.LayoutLaravel, seeds...)
	rows := map[string]int64{}
	for _, l := range listJSON(t, e, "--limit", "0") {
		rows[l.ID] = l.RowID
	}
	left := func() []string { return lineIDs(listJSON(t, e, "--limit", "0")) }

	expect(t, e.ok("retry", "--range", fmt.Sprintf("%d-%d", rows[ids[0]], rows[ids[1]])), 0, "2 retried")
	expect(t, e.ok("retry", "--queue", "mail", "--job", "Record"), 0, "3 retried") // 4, 5, 6; not 7 (Other)
	expect(t, e.ok("retry", ids[2], "--since", "2026-11-21 07:00:00"), 0, "2 retried")
	if got := left(); !slices.Equal(got, []string{ids[3]}) {
		t.Fatalf("left after selections: %v, want [%s]", got, ids[3])
	}
	expect(t, e.qctl("retry", "--range", "5-1"), 2, "--range")
	e.ok("work", "--queue", "default,mail", "--stop-when-empty")
	if got := e.records(); len(got) != 6 {
		t.Fatalf("%d jobs ran, want the 6 retried Record jobs (Other has no handler): %q", len(got), got)
	}
}

func TestForgetFlushAndPrune(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	now := time.Now().UTC()
	pl := func() []byte { b, _ := recordPayload(t, "Record", `1`); return b }
	ids := seedFailed(t, e, failed.LayoutLaravel,
		seed{"database", "default", pl(), "boom", now.Add(-48 * time.Hour)},
		seed{"database", "default", pl(), "boom", now.Add(-5 * time.Hour)},
		seed{"database", "default", pl(), "boom", now.Add(-time.Hour)},
		seed{"database", "default", pl(), "boom", now},
	)
	expect(t, e.qctl("forget", "00000000-0000-4000-8000-000000000000"), 1, "No failed job matches the given ID.")
	expect(t, e.ok("forget", ids[3]), 0, "Failed job deleted successfully.")
	expect(t, e.qctl("forget", ids[3]), 1, "No failed job matches the given ID.")

	// Without a terminal on stdin, flush does not ask (cron, scripts).
	expect(t, e.ok("prune-failed"), 0, "1 failed jobs older than 24 hours deleted")
	expect(t, e.ok("flush", "--hours", "2"), 0, "1 failed jobs older than 2 hours deleted")
	if got := lineIDs(listJSON(t, e)); !slices.Equal(got, []string{ids[2]}) {
		t.Fatalf("left after prune and flush --hours: %v, want [%s]", got, ids[2])
	}
	expect(t, e.ok("flush"), 0, "1 failed jobs deleted successfully.")
	expect(t, e.ok("failed"), 0, "No failed jobs.")
	expect(t, e.qctl("prune-failed", "--hours", "0"), 2, "--hours")
}

func TestThinkQueueFailedTable(t *testing.T) {
	e := newEnv(t, sqliteConfig+"\n[failed]\nuuids = false\n")
	think := []byte(`{"job":"Record","maxTries":null,"timeout":null,"data":5,"id":"abc","attempts":3}`)
	ids := seedFailed(t, e, failed.LayoutThink,
		seed{"database", "default", think, "boom", time.Now()},
		seed{"database", "default", think, "again", time.Now()},
	)
	if !slices.Equal(ids, []string{"1", "2"}) {
		t.Fatalf("think-queue ids = %v, want [1 2]", ids)
	}
	out := e.ok("failed").stdout
	if !strings.Contains(out, "\n2 ") || !strings.Contains(out, "\n1 ") {
		t.Errorf("failed does not list the integer ids:\n%s", out)
	}
	expect(t, e.ok("failed", "show", "2"), 0, "ID:         2", "again")
	expect(t, e.ok("forget", "2"), 0, "deleted")
	expect(t, e.ok("retry", "1"), 0, "The failed job [1] has been pushed back onto the queue!")
	expect(t, e.ok("failed"), 0, "No failed jobs.")
	e.ok("work", "--stop-when-empty")
	if got := e.records(); len(got) != 1 || got[0] != "1 default" {
		t.Fatalf("retried think-queue job recorded %q, want one run at attempt 1", got)
	}
	// A Laravel table is not read as think-queue's.
	e2 := newEnv(t, sqliteConfig+"\n[failed]\nuuids = false\n")
	seedFailed(t, e2, failed.LayoutLaravel, seed{"database", "default", think, "boom", time.Now()})
	expect(t, e2.qctl("failed"), 1, "uuids")
}
