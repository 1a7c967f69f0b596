package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/jobs"
)

func TestPushAndWorkWithAnExecHandler(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	id := strings.TrimSpace(e.ok("push", "Shell", `{"to":"ann@example.com"}`).stdout)
	if id == "" {
		t.Fatal("push printed no id")
	}
	r := e.ok("work", "--stop-when-empty")
	expect(t, r, 0, "Shell", "DONE")
	if got := e.records(); len(got) != 1 || got[0] != "Shell 1" {
		t.Fatalf("exec handler recorded %q, want [\"Shell 1\"]", got)
	}
	stdin, _ := os.ReadFile(e.record + ".stdin")
	var payload jobs.Payload
	if p, err := jobs.Decode(stdin); err != nil || string(p.Data) != `{"to":"ann@example.com"}` {
		t.Fatalf("exec handler's stdin was not the payload: %s (%v, %+v)", stdin, err, payload)
	}
}

// TestTenThousandJobsTwoProcessesExactlyOnce is issue 2's acceptance check: two worker processes
// on one SQLite file run each of 10,000 jobs exactly once.
func TestTenThousandJobsTwoProcessesExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	e := newEnv(t, sqliteConfig)
	const n = 10000
	q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(e.dir, "qctl.db"), Table: "jobs", RetryAfter: time.Minute, AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	payloads := make([][]byte, n)
	for i := range payloads {
		payloads[i], _ = jobs.NewPayload("Record", json.RawMessage(fmt.Sprint(i))).Encode()
	}
	if _, err := q.PushBulk(context.Background(), "default", payloads, 0); err != nil {
		t.Fatal(err)
	}
	q.Close()

	var wg sync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.qctl("work", "--stop-when-empty", "--concurrency", "4", "--json")
		}()
	}
	wg.Wait()
	for _, r := range results {
		expect(t, r, 0)
	}
	e.expectEachRanOnce(n)
	// Both processes took part: the file was really shared.
	for i, r := range results {
		if strings.Count(r.stdout, `"event":"processed"`) == 0 {
			t.Errorf("worker %d processed nothing", i)
		}
	}
}

func TestFailingJobTriesThreeTimesThenOneFailedRecord(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Fail", `{"n":1}`)
	r := e.ok("work", "--tries=3", "--backoff=0", "--stop-when-empty")
	if c := strings.Count(r.stdout, "RELEASED"); c != 2 {
		t.Errorf("%d RELEASED lines, want 2\n%s", c, r.stdout)
	}
	if c := strings.Count(r.stdout, "FAIL"); c != 1 {
		t.Errorf("%d FAIL lines, want 1\n%s", c, r.stdout)
	}
	listed := e.ok("failed", "--json")
	lines := strings.Split(strings.TrimSpace(listed.stdout), "\n")
	if len(lines) != 1 {
		t.Fatalf("failed --json printed %d lines, want 1:\n%s", len(lines), listed.stdout)
	}
	var rec struct{ ID, Connection, Queue, Job, Exception string }
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("failed --json is not JSON: %v: %s", err, lines[0])
	}
	if rec.Job != "Fail" || rec.Queue != "default" || rec.Connection != "database" || !strings.Contains(rec.Exception, "the mail server refused") {
		t.Fatalf("failed record = %+v", rec)
	}
	expect(t, e.ok("failed"), 0, rec.ID, "Fail", "default")
}

func TestNonJSONPayloadInsertedByHandIsFailedAndWorkGoesOn(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Record", "1") // creates the database
	q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(e.dir, "qctl.db"), Table: "jobs", RetryAfter: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Push(context.Background(), "default", []byte("<?php garbage"), 0); err != nil {
		t.Fatal(err)
	}
	q.Close()
	e.ok("push", "Record", "2")
	r := e.ok("work", "--stop-when-empty")
	if len(e.records()) != 2 {
		t.Fatalf("the good jobs around the bad one did not both run: %q\n%s", e.records(), r.stdout)
	}
	expect(t, e.ok("failed", "--json"), 0, "unreadable payload", "<?php garbage")
}

func TestRetryPutsTheJobBackAndForgetsIt(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Fail", "null", "--queue", "mail") // flags after positionals, as PHP users type them
	e.ok("work", "--queue=mail", "--stop-when-empty")
	var rec struct{ ID string }
	if err := json.Unmarshal([]byte(strings.TrimSpace(e.ok("failed", "--json").stdout)), &rec); err != nil || rec.ID == "" {
		t.Fatalf("no failed record to retry: %v", err)
	}
	expect(t, e.ok("retry", rec.ID), 0, rec.ID, "1 retried")
	if r := e.ok("work", "--queue", "default", "--stop-when-empty"); strings.Contains(r.stdout, "Fail") {
		t.Fatalf("the retried job went to the wrong queue:\n%s", r.stdout)
	}
	if out := e.ok("failed").stdout; !strings.Contains(out, "No failed jobs.") {
		t.Fatalf("the retried job is still listed:\n%s", out)
	}
	r := e.ok("work", "database", "--queue=mail", "--stop-when-empty")
	expect(t, r, 0, "Fail", "FAIL") // it ran again, attempts reset (else it would fail without running)
	if strings.Contains(r.stdout+r.stderr, "attempted too many times") {
		t.Fatalf("retried job kept its old attempts:\n%s", r.stdout)
	}
	expect(t, e.qctl("forget", "00000000-0000-4000-8000-000000000000"), 1, "No failed job matches the given ID.")
}

func TestConfigErrorsExitTwoAndNameTheProblem(t *testing.T) {
	cases := []struct {
		name, config string
		args         []string
		want         []string
	}{
		{"syntax", "default = \n[connections", []string{"work"}, []string{"line"}},
		{"unknown key", sqliteConfig + "\n[connections.database2]\ndriver = \"database\"\nadr = 1\n", []string{"work"}, []string{"connections.database2.adr", "unknown key"}},
		{"unknown driver", "[connections.q]\ndriver = \"rabbit\"\n", []string{"work"}, []string{`unknown driver "rabbit"`}},
		{"unknown connection", sqliteConfig, []string{"work", "nope"}, []string{`unknown connection "nope"`, "known: database"}},
		{"bad json data", sqliteConfig, []string{"push", "Record", "{oops"}, []string{"not valid JSON"}},
		{"bad flag", sqliteConfig, []string{"work", "--tries=lots"}, []string{"tries"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.config)
			expect(t, e.qctl(tc.args...), 2, tc.want...)
		})
	}
}

func TestMissingConfigUsesSQLiteDefaultButAnExplicitOneMustExist(t *testing.T) {
	e := newEnv(t, "")
	e.ok("push", "Record", "1")
	expect(t, e.ok("work", "--stop-when-empty"), 0, "Record", "DONE")
	if _, err := os.Stat(filepath.Join(e.dir, "qctl.db")); err != nil {
		t.Fatalf("the default SQLite file was not created: %v", err)
	}
	expect(t, e.qctl("--config", "missing.toml", "work"), 2, "missing.toml")
}

func TestHelpListsEveryCommand(t *testing.T) {
	r := newEnv(t, "").ok("--help")
	for _, c := range []string{"work", "push", "migrate", "restart", "failed", "retry", "forget", "flush"} {
		if !strings.Contains(r.stdout, "   "+c) {
			t.Errorf("--help does not list %s:\n%s", c, r.stdout)
		}
	}
}

// TestReadmeFirstCommand builds the real binary from main.go and runs the README's first command
// the way a newcomer would, with the shipped queue.toml, in a fresh folder.
func TestReadmeFirstCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "qctl")
	build := exec.Command("go", "build", "-o", bin, "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	shipped, err := os.ReadFile("../queue.toml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "queue.toml"), shipped, 0o644); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	first := firstShellBlock(string(readme))
	if !strings.Contains(first, "go run . ") {
		t.Fatalf("the README's first command does not use `go run .`: %q", first)
	}
	script := strings.ReplaceAll(first, "go run . ", bin+" ")
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "QCTL_CONFIG=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("README first command failed: %v\n%s", err, out)
	}
	if c := strings.Count(string(out), "DONE"); c != 3 {
		t.Fatalf("README first command processed %d jobs, want 3:\n%s", c, out)
	}
}

func firstShellBlock(md string) string {
	_, rest, _ := strings.Cut(md, "```sh\n")
	block, _, _ := strings.Cut(rest, "```")
	return strings.TrimSpace(block)
}
