package commands_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/commands"
	"github.com/qctl/qctl/jobs"
)

// TestMain lets the test binary stand in for qctl: run with QCTL_TEST_AS_QCTL=1 it is qctl with the
// test handlers below registered, the way a Go program that embeds qctl is. Tests start it as a
// real process to check output, exit statuses and signals.
func TestMain(m *testing.M) {
	if os.Getenv("QCTL_TEST_AS_QCTL") == "1" {
		signals := make(chan os.Signal, 8)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR2, syscall.SIGCONT)
		os.Exit(commands.Run(os.Args, commands.Program{Handlers: testHandlers(), Signals: signals}))
	}
	os.Exit(m.Run())
}

// testHandlers are the Go handlers the re-executed binary has.
func testHandlers() *jobs.Registry {
	reg := jobs.NewRegistry()
	// Record appends the job's uuid and attempt to $QCTL_TEST_RECORD, one line per run.
	reg.Register("Record", func(_ context.Context, j *jobs.Job) error {
		f, err := os.OpenFile(os.Getenv("QCTL_TEST_RECORD"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = fmt.Fprintf(f, "%s %d %s\n", j.Payload.UUID, j.Attempts(), j.Queue)
		return err
	})
	reg.Register("Fail", func(context.Context, *jobs.Job) error { return errors.New("the mail server refused") })
	// Sleep sleeps for its data in milliseconds, honouring cancellation, then records itself.
	reg.Register("Sleep", func(ctx context.Context, j *jobs.Job) error {
		var ms int
		if err := j.Bind(&ms); err != nil {
			return err
		}
		if err := os.WriteFile(os.Getenv("QCTL_TEST_RECORD")+".started", []byte(j.ID), 0o644); err != nil {
			return err
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
		return reg2Record(j)
	})
	// Stubborn ignores its context and sleeps for its data in milliseconds.
	reg.Register("Stubborn", func(_ context.Context, j *jobs.Job) error {
		var ms int
		_ = j.Bind(&ms)
		_ = os.WriteFile(os.Getenv("QCTL_TEST_RECORD")+".started", []byte(j.ID), 0o644)
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return nil
	})
	// Hog allocates its data in MB, touches every page, then waits for its context.
	reg.Register("Hog", func(ctx context.Context, j *jobs.Job) error {
		var mb int
		_ = j.Bind(&mb)
		hog := make([]byte, mb<<20)
		for i := range hog {
			if i%4096 == 0 {
				hog[i] = 1
			}
		}
		_ = os.WriteFile(os.Getenv("QCTL_TEST_RECORD")+".started", []byte(j.ID), 0o644)
		<-ctx.Done()
		return ctx.Err()
	})
	return reg
}

func reg2Record(j *jobs.Job) error {
	f, err := os.OpenFile(os.Getenv("QCTL_TEST_RECORD"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "%s %d %s\n", j.Payload.UUID, j.Attempts(), j.Queue)
	return err
}

// env is one test's sandbox: a folder with its own queue.toml and SQLite files.
type env struct {
	t      testing.TB
	dir    string
	record string
}

const sqliteConfig = `
default = "database"

[connections.database]
driver = "database"
dialect = "sqlite"
dsn = "qctl.db"
retry_after = 60

[handlers."Shell"]
command = ["sh", "-c", "cat > \"$QCTL_TEST_RECORD.stdin\"; echo \"$QCTL_JOB_NAME $QCTL_JOB_ATTEMPTS\" >> \"$QCTL_TEST_RECORD\""]
`

func newEnv(t testing.TB, config string) *env {
	t.Helper()
	dir := t.TempDir()
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, "queue.toml"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return &env{t: t, dir: dir, record: filepath.Join(dir, "record.txt")}
}

// result is a finished qctl process.
type result struct {
	code           int
	stdout, stderr string
}

func (e *env) command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = e.dir
	// GORACE: under -race the runtime sleeps a second at exit by default, which the exit-time
	// checks would otherwise measure instead of qctl.
	cmd.Env = append(os.Environ(), "QCTL_TEST_AS_QCTL=1", "QCTL_TEST_RECORD="+e.record, "QCTL_CONFIG=", "GORACE=atexit_sleep_ms=0")
	return cmd
}

// qctl runs qctl with args to completion (at most a minute) and returns what it did.
func (e *env) qctl(args ...string) result {
	e.t.Helper()
	cmd := e.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		e.t.Fatalf("qctl %v did not finish within a minute\nstdout:\n%s\nstderr:\n%s", args, stdout.String(), stderr.String())
	}
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		r.code = exit.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// ok runs qctl and fails the test unless it exits 0.
func (e *env) ok(args ...string) result {
	e.t.Helper()
	r := e.qctl(args...)
	if r.code != 0 {
		e.t.Fatalf("qctl %v exited %d\nstdout:\n%s\nstderr:\n%s", args, r.code, r.stdout, r.stderr)
	}
	return r
}

// records returns the lines handlers recorded.
func (e *env) records() []string {
	b, err := os.ReadFile(e.record)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// runsPerJob counts how many times each job (by uuid) ran, from the lines handlers recorded.
func (e *env) runsPerJob() map[string]int {
	e.t.Helper()
	seen := map[string]int{}
	for _, line := range e.records() {
		uuid, _, _ := strings.Cut(line, " ")
		seen[uuid]++
	}
	return seen
}

// expectEachRanOnce fails unless n distinct jobs ran, each exactly once.
func (e *env) expectEachRanOnce(n int) {
	e.t.Helper()
	seen := e.runsPerJob()
	if len(seen) != n {
		e.t.Fatalf("%d distinct jobs ran, want %d", len(seen), n)
	}
	for uuid, c := range seen {
		if c != 1 {
			e.t.Fatalf("job %s ran %d times", uuid, c)
		}
	}
}

func expect(t testing.TB, r result, code int, fragments ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, f := range fragments {
		if !strings.Contains(r.stdout+r.stderr, f) {
			t.Errorf("output does not contain %q\nstdout:\n%s\nstderr:\n%s", f, r.stdout, r.stderr)
		}
	}
}
