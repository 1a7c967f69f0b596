package commands_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qctl/qctl/connectors/connectortest"
)

func writeJobsFile(t *testing.T, dir string, n int, bad int) string {
	t.Helper()
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i == bad {
			b.WriteString("{oops\n")
			continue
		}
		fmt.Fprintf(&b, "{\"n\":%d}\n", i)
		if i%500 == 0 {
			b.WriteString("\n") // blank lines are skipped
		}
	}
	path := filepath.Join(dir, "jobs.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestPushFilePushesEveryLineOnceInBulk(t *testing.T) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	prefix := "qctl-pushfile-" + hex.EncodeToString(b) + ":"
	for _, tc := range []struct{ name, config string }{
		{"sqlite", sqliteConfig},
		{"redis", "[connections.redis]\ndriver = \"redis\"\naddr = \"127.0.0.1:6379\"\nprefix = \"" + prefix + "\"\nblock_for = 1\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "redis" {
				connectortest.RequireService(t, "Redis", "127.0.0.1:6379", "redis-server --daemonize yes")
				t.Cleanup(func() { deleteRedisKeys(t, prefix+"*") })
			}
			e := newEnv(t, tc.config)
			const n = 2500
			r := e.ok("push", "Record", "--file", writeJobsFile(t, e.dir, n, 0))
			ids := strings.Fields(r.stdout)
			if len(ids) != n || !strings.Contains(r.stderr, fmt.Sprintf("Pushed %d Record jobs", n)) {
				t.Fatalf("push --file printed %d ids (want %d); stderr: %s", len(ids), n, r.stderr)
			}
			e.ok("work", "--stop-when-empty", "--concurrency", "4")
			if seen := e.runsPerJob(); len(seen) != n {
				t.Fatalf("%d distinct jobs ran, want %d", len(seen), n)
			}
		})
	}
}

func TestPushFileWithABadLinePushesNothing(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	expect(t, e.qctl("push", "Record", "--file", writeJobsFile(t, e.dir, 10, 7)), 2, "line 7", "nothing was pushed")
	e.ok("work", "--stop-when-empty")
	if got := e.records(); len(got) != 0 {
		t.Fatalf("%d jobs ran from a file that was refused", len(got))
	}
}

// --resume-from LINE skips the lines a push that stopped part way already stored; its error names
// the line to continue from.
func TestPushFileResumeFromSkipsTheLinesBefore(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	path := writeJobsFile(t, e.dir, 1200, 0) // a blank line follows lines 500 and 1000
	r := e.ok("push", "Record", "--file", path, "--resume-from", "1004")
	if ids := strings.Fields(r.stdout); len(ids) != 199 {
		t.Fatalf("--resume-from 1004 of a 1,200-job file (job 1,001 on line 1,003) pushed %d jobs, want 199", len(ids))
	}
	expect(t, e.qctl("push", "Record", "--file", path, "--resume-from", "5000"), 2, "no jobs from line 5000 on")
	expect(t, e.qctl("push", "Record", "{}", "--resume-from", "3"), 2, "--resume-from goes with --file")
}
