package commands_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/dbqueue"
)

// statusJSON is `qctl status --json`'s output, as a script reads it.
type statusJSON struct {
	Connection string `json:"connection"`
	Queues     []struct {
		Queue    string   `json:"queue"`
		Ready    int64    `json:"ready"`
		Delayed  int64    `json:"delayed"`
		Reserved int64    `json:"reserved"`
		Buried   int64    `json:"buried"`
		OldestS  *float64 `json:"oldest_ready_age_s"`
		Failed   *int64   `json:"failed"`
	} `json:"queues"`
	FailedNote string `json:"failed_note"`
}

func parseStatus(t *testing.T, out string) statusJSON {
	t.Helper()
	var s statusJSON
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("status --json printed %q: %v", out, err)
	}
	return s
}

// counts renders one queue's row as "ready/delayed/reserved failed=N", or "absent".
func (s statusJSON) counts(queue string) string {
	for _, q := range s.Queues {
		if q.Queue == queue {
			failed := "-"
			if q.Failed != nil {
				failed = itoa(*q.Failed)
			}
			return itoa(q.Ready) + "/" + itoa(q.Delayed) + "/" + itoa(q.Reserved) + " failed=" + failed
		}
	}
	return "absent"
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestStatusCountsReadyDelayedReservedAndFailed(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Fail", "{}", "--queue", "mail")
	e.ok("work", "--queue", "mail", "--stop-when-empty")
	for range 3 {
		e.ok("push", "Record", "{}")
	}
	e.ok("push", "Record", "{}", "--delay", "3600")

	// This test process reserves one job, as a worker busy with it would.
	q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(e.dir, "qctl.db"), RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if r, err := q.Pop(context.Background(), "default"); err != nil || r == nil {
		t.Fatalf("Pop = %v, %v", r, err)
	}

	// mail holds no job any more, so only --queue shows it (and its failed job).
	s := parseStatus(t, e.ok("status", "--json", "--queue", "default,mail").stdout)
	if got := s.counts("default"); got != "2/1/1 failed=0" {
		t.Errorf("default: %s, want 2 ready, 1 delayed, 1 reserved, 0 failed", got)
	}
	if got := s.counts("mail"); got != "0/0/0 failed=1" {
		t.Errorf("mail: %s, want no job and 1 failed", got)
	}
	for _, row := range s.Queues {
		if row.Queue == "default" && (row.OldestS == nil || *row.OldestS < 0 || *row.OldestS > 60) {
			t.Errorf("default's oldest ready age = %v, want a few seconds", row.OldestS)
		}
	}

	table := e.ok("status").stdout
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "QUEUE") || strings.Index(lines[0], "READY") != strings.Index(lines[1], strings.Fields(lines[1])[1]) {
		t.Errorf("status table is not aligned:\n%s", table)
	}
	if !strings.Contains(table, "default") {
		t.Errorf("status table has no default row:\n%s", table)
	}

	all := parseStatus(t, e.ok("status", "--json").stdout)
	if len(all.Queues) != 1 || all.counts("default") != "2/1/1 failed=0" {
		t.Errorf("status without --queue = %+v, want default alone (mail holds no job)", all.Queues)
	}
}

func TestStatusListsEveryQueueThatHoldsJobs(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Record", "{}", "--queue", "high")
	e.ok("push", "Record", "{}", "--queue", "low", "--delay", "60")
	s := parseStatus(t, e.ok("status", "--json").stdout)
	var names []string
	for _, q := range s.Queues {
		names = append(names, q.Queue)
	}
	if strings.Join(names, ",") != "default,high,low" {
		t.Fatalf("status lists %v, want the connection's queue and every queue with jobs: default, high, low", names)
	}
	if s.counts("high") != "1/0/0 failed=0" || s.counts("low") != "0/1/0 failed=0" {
		t.Fatalf("high %s, low %s", s.counts("high"), s.counts("low"))
	}
}

func TestStatusWithoutAFailedStoreShowsADash(t *testing.T) {
	e := newEnv(t, sqliteConfig+"\n[failed]\ndriver = \"null\"\n")
	e.ok("push", "Record", "{}")
	s := parseStatus(t, e.ok("status", "--json").stdout)
	if s.counts("default") != "1/0/0 failed=-" || !strings.Contains(s.FailedNote, "disabled") {
		t.Fatalf("status with [failed] driver = null: %s, note %q; want failed=- and a note", s.counts("default"), s.FailedNote)
	}
	r := e.ok("status")
	if !strings.Contains(r.stdout, "Note: failed counts unavailable") {
		t.Fatalf("status table has no note about the failed store:\n%s", r.stdout)
	}
}

func TestStatusWatchRepeatsUntilInterrupted(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Record", "{}")
	p := e.start("status", "--watch=0.1")
	waitFor(t, 20*time.Second, "three snapshots", func() bool { return strings.Count(p.stdout.String(), "QUEUE") >= 3 })
	if strings.Contains(p.stdout.String(), "\x1b[") {
		t.Errorf("--watch into a pipe wrote terminal escapes:\n%q", p.stdout.String())
	}
	p.signal(syscall.SIGTERM)
	if code := p.exitWithin(10 * time.Second); code != 0 {
		t.Fatalf("status --watch exited %d after TERM, want 0\n%s", code, p.stderr)
	}
	expect(t, e.qctl("status", "--watch=1ms"), 2, "shorter than 100ms")

	// The interval may follow --watch as its own argument, before or after the connection.
	for _, args := range [][]string{{"status", "--watch", "0.1"}, {"status", "database", "--watch", "100ms"}} {
		p := e.start(args...)
		waitFor(t, 20*time.Second, "two snapshots of "+strings.Join(args, " "), func() bool { return strings.Count(p.stdout.String(), "QUEUE") >= 2 })
		p.signal(syscall.SIGTERM)
		if code := p.exitWithin(10 * time.Second); code != 0 {
			t.Fatalf("%v exited %d\n%s", args, code, p.stderr)
		}
	}
}
