//go:build linux

package commands_test

import (
	"bufio"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/internal/sqldb"
)

// TestRetryInterrupted: Ctrl-C during `retry all` prints one line saying how many jobs were moved
// and that the rest are still listed (no "context canceled" per job), exits 130, and the count it
// gives is what left failed_jobs.
func TestRetryInterrupted(t *testing.T) {
	const n = 3000
	e := newEnv(t, sqliteConfig)
	e.ok("failed") // creates the table
	path := filepath.Join(e.dir, "qctl.db")
	insertFailed(t, path, n)

	cmd := e.command("retry", "all")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var last string
	signalled := false
	for sc.Scan() {
		last = sc.Text()
		if !signalled && strings.Contains(last, "has been pushed back") {
			signalled = true
			cmd.Process.Signal(syscall.SIGINT)
		}
	}
	cmd.Wait()
	if strings.HasPrefix(last, fmt.Sprintf("%d retried", n)) {
		t.Skip("the retry finished before the interrupt reached it")
	}
	var moved, rest int
	if _, err := fmt.Sscanf(last, "Interrupted: %d failed jobs moved back onto their queues; the other %d are still listed.", &moved, &rest); err != nil {
		t.Fatalf("last line %q: %v\nstderr:\n%s", last, err, stderr.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("exit status %d, want 130", code)
	}
	if strings.Contains(stderr.String(), "context canceled") || strings.Count(stderr.String(), "\n") > 1 {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	db, err := sqldb.Open(context.Background(), "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	var left int
	db.Raw("SELECT COUNT(*) FROM failed_jobs").Scan(&left)
	if moved+rest != n || left != rest || moved == 0 {
		t.Fatalf("said %d moved and %d listed of %d; %d are listed", moved, rest, n, left)
	}
}

// TestRetryOnATerminal: many jobs on a terminal give a progress bar and one summary line, not a
// line per job; -v brings the lines back.
func TestRetryOnATerminal(t *testing.T) {
	const n = 300
	e := newEnv(t, sqliteConfig)
	e.ok("failed")
	insertFailed(t, filepath.Join(e.dir, "qctl.db"), n)
	code, out := onTerminal(t, e, []string{"COLUMNS=100"}, "retry", "--range", "1-200")
	if code != 0 || strings.Contains(out, "has been pushed back") || !strings.Contains(out, "200 retried, 0 not retried.") || !strings.Contains(out, "retrying") {
		t.Fatalf("exit %d:\n%q", code, out)
	}
	start := time.Now()
	code, out = onTerminal(t, e, nil, "retry", "all", "-v")
	if code != 0 || strings.Count(out, "has been pushed back") != n-200 {
		t.Fatalf("retry all -v: exit %d, %d job lines (%v)", code, strings.Count(out, "has been pushed back"), time.Since(start))
	}
}
