//go:build linux

package commands_test

import (
	"io"
	"strings"
	"testing"
)

// onTerminal runs qctl with stdout and stderr on a pseudo-terminal and returns what it showed
// there (with the terminal's \r\n line ends), plus extra environment variables.
func onTerminal(t *testing.T, e *env, extraEnv []string, args ...string) (int, string) {
	t.Helper()
	ptmx, pts := openPTY(t)
	cmd := e.command(args...)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout, cmd.Stderr = pts, pts
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close() // the child holds it now: once it exits, reading ptmx ends
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(ptmx) // ends with EIO when the last holder of pts closes it
		out <- string(b)
	}()
	waitMinute(t, cmd, args)
	return cmd.ProcessState.ExitCode(), <-out
}

const echoConfig = sqliteConfig + `
[handlers."Echo"]
command = ["sh", "-c", "echo hello from $QCTL_JOB_ID; echo oops >&2; printf partial"]
`

// TestWorkerOnATerminal: on a terminal, outcomes are coloured and a handler's output lines carry
// the job's name and id; piped, or with NO_COLOR or --no-ansi, there is no colour, and piped the
// handler's output is raw.
func TestWorkerOnATerminal(t *testing.T) {
	e := newEnv(t, echoConfig)
	e.ok("push", "Echo", "{}")
	code, out := onTerminal(t, e, nil, "work", "--stop-when-empty")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"[Echo 1] hello from 1\r\n", "[Echo 1] oops\r\n", "[Echo 1] partial\r\n", "Echo #1 ", "\x1b[32mDONE\x1b[0m"} {
		if !strings.Contains(out, want) {
			t.Errorf("the terminal did not show %q:\n%q", want, out)
		}
	}

	for _, env := range [][]string{{"NO_COLOR=1"}, nil} {
		e.ok("push", "Echo", "{}")
		args := []string{"work", "--stop-when-empty"}
		if env == nil {
			args = append(args, "--no-ansi")
		}
		_, out = onTerminal(t, e, env, args...)
		if strings.Contains(out, "\x1b[") || !strings.Contains(out, "DONE") {
			t.Errorf("with %v %v the terminal showed colour or no outcome:\n%q", env, args, out)
		}
	}

	e.ok("push", "Echo", "{}")
	r := e.ok("work", "--stop-when-empty")
	if strings.Contains(r.stdout+r.stderr, "\x1b[") || strings.Contains(r.stderr, "[Echo") || !strings.Contains(r.stdout, "hello from 4") && !strings.Contains(r.stderr, "hello from 4") {
		t.Errorf("piped output is not raw:\nstdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
}

// TestPushFileOnATerminal: `push --file` on a terminal shows a progress bar and the summary, not
// an id per job; --ids prints them (as a pipe always gets them).
func TestPushFileOnATerminal(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	path := writeJobsFile(t, e.dir, 3000, 0)
	code, out := onTerminal(t, e, nil, "push", "Shell", "--file", path)
	if code != 0 || !strings.Contains(out, "Pushed 3000 Shell jobs onto the [default] queue.") || strings.Contains(out, "\r\n2999\r\n") || !strings.Contains(out, "pushing") {
		t.Fatalf("exit %d:\n%q", code, out)
	}
	_, out = onTerminal(t, e, nil, "push", "Shell", "--file", path, "--ids")
	if !strings.Contains(out, "\r\n5999\r\n") {
		t.Fatalf("--ids did not print the ids:\n%q", out[:min(len(out), 500)])
	}
}

// TestBenchOnATerminal: bench says its phases and the latency phase's length up front, and on a
// terminal shows each phase as a progress bar with the time left.
func TestBenchOnATerminal(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	code, out := onTerminal(t, e, nil, "bench", "--jobs", "200", "--rate", "400")
	if code != 0 {
		t.Fatalf("exit %d:\n%q", code, out)
	}
	for _, want := range []string{"Phases: enqueue one at a time, enqueue in bulk, drain, latency (200 jobs at 400/s: about 1s)", "bench drain", "bench latency", "% |"} {
		if !strings.Contains(out, want) {
			t.Errorf("the terminal did not show %q:\n%q", want, out)
		}
	}
}
