//go:build linux

package commands_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/qctl/qctl/failed"
)

// openPTY opens a pseudo-terminal pair: what a test writes to the first is what a process reading
// the second (its terminal) types.
func openPTY(t *testing.T) (ptmx, pts *os.File) {
	t.Helper()
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	return ptmx, pts
}

// typing runs qctl with a terminal on stdin on which answer is typed.
func typing(t *testing.T, e *env, answer string, args ...string) result {
	t.Helper()
	ptmx, pts := openPTY(t)
	cmd := e.command(args...)
	var stdout, stderr strings.Builder
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, &stdout, &stderr
	if _, err := ptmx.WriteString(answer); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitMinute(t, cmd, args)
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// waitMinute waits for the started cmd (qctl args) to exit, and fails t if it takes a minute.
func waitMinute(t *testing.T, cmd *exec.Cmd, args []string) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("qctl %v did not finish within a minute", args)
	}
}

func TestFlushAsksOnATerminal(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	pl, _ := recordPayload(t, "Record", `1`)
	pl2, _ := recordPayload(t, "Record", `2`)
	seedFailed(t, e, failed.LayoutLaravel,
		seed{"database", "default", pl, "boom", time.Now().Add(-3 * time.Hour)},
		seed{"database", "default", pl2, "boom", time.Now()})

	expect(t, typing(t, e, "n\n", "flush"), 1, "Delete all 2 failed jobs? [y/N]", "flush cancelled: nothing was deleted")
	expect(t, typing(t, e, "y\n", "flush", "--hours", "2"), 0, "Delete the 1 failed jobs older than 2 hours? [y/N]", "1 failed jobs older than 2 hours deleted")
	r := typing(t, e, "", "flush", "--force")
	expect(t, r, 0, "1 failed jobs deleted successfully.")
	if strings.Contains(r.stdout, "[y/N]") {
		t.Errorf("flush --force asked:\n%s", r.stdout)
	}
	expect(t, typing(t, e, "", "flush"), 0, "No failed jobs to delete.")
}
