//go:build unix

package jobs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func shJob(t *testing.T) *Job {
	t.Helper()
	p := &Payload{UUID: "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5", DisplayName: "SendEmail", Job: "SendEmail@handle",
		Data: []byte(`{"to":"a@example.com"}`)}
	raw, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	j := &Job{ID: "7", Queue: "emails", Connection: "redis", Payload: p, Raw: raw}
	j.SetAttempts(2, nil)
	return j
}

// syncBuffer is a bytes.Buffer that exec's output goroutines and the test may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestExecStdinEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	var out syncBuffer
	h := Exec(ExecSpec{
		Command: []string{"sh", "-c", `cat; printf '\n%s|%s|%s|%s|%s|%s|%s|%s' "$QCTL_JOB_ID" "$QCTL_JOB_NAME" "$QCTL_JOB_QUEUE" ` +
			`"$QCTL_JOB_CONNECTION" "$QCTL_JOB_ATTEMPTS" "$QCTL_JOB_UUID" "$EXTRA" "$(pwd)"`},
		Dir:    dir,
		Env:    map[string]string{"EXTRA": "from spec", "QCTL_JOB_ID": "spoofed"},
		Stdout: &out,
	})
	job := shJob(t)
	if err := h(context.Background(), job); err != nil {
		t.Fatal(err)
	}
	realDir, _ := filepath.EvalSymlinks(dir)
	want := string(job.Raw) + "\n7|SendEmail@handle|emails|redis|2|0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5|from spec|" + realDir
	if got := out.String(); got != want {
		t.Errorf("stdout:\n got %s\nwant %s", got, want)
	}
}

func TestExecNonZeroExit(t *testing.T) {
	var errOut syncBuffer
	h := Exec(ExecSpec{
		Command: []string{"sh", "-c", `echo working; echo "boom: disk full" >&2; exit 3`},
		Stderr:  &errOut,
	})
	err := h(context.Background(), shJob(t))
	if err == nil {
		t.Fatal("exit 3 reported success")
	}
	if want := `command "sh" exited with status 3: boom: disk full`; err.Error() != want {
		t.Errorf("error:\n got %s\nwant %s", err, want)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 3 {
		t.Errorf("errors.As ExitError = %v", err)
	}
	if got := errOut.String(); got != "boom: disk full\n" {
		t.Errorf("spec.Stderr got %q", got)
	}
}

func TestExecStderrTail(t *testing.T) {
	var errOut syncBuffer
	h := Exec(ExecSpec{
		Command: []string{"sh", "-c", `i=0; while [ $i -lt 2000 ]; do echo "line $i" >&2; i=$((i+1)); done; exit 1`},
		Stderr:  &errOut,
	})
	err := h(context.Background(), shJob(t))
	if err == nil {
		t.Fatal("exit 1 reported success")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, `command "sh" exited with status 1: ...`) || !strings.HasSuffix(msg, "line 1999") {
		t.Errorf("error does not end with the stderr tail: %.120s ... %s", msg, msg[max(0, len(msg)-40):])
	}
	if strings.Contains(msg, "line 0\n") || len(msg) > stderrTailSize+100 {
		t.Errorf("error keeps more than the tail: %d bytes", len(msg))
	}
	if n := strings.Count(errOut.String(), "\n"); n != 2000 {
		t.Errorf("spec.Stderr got %d lines, want all 2000", n)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestExecSuccessDespiteBrokenLogWriters(t *testing.T) {
	h := Exec(ExecSpec{
		Command: []string{"sh", "-c", `cat >/dev/null; echo out; echo err >&2; echo more; exit 0`},
		Stdout:  failingWriter{},
		Stderr:  failingWriter{},
	})
	if err := h(context.Background(), shJob(t)); err != nil {
		t.Errorf("err = %v, want nil", err)
	}
}

func TestExecStartErrors(t *testing.T) {
	if err := Exec(ExecSpec{})(context.Background(), shJob(t)); err == nil {
		t.Error("empty command: no error")
	}
	err := Exec(ExecSpec{Command: []string{"/nonexistent/qctl-test-command"}})(context.Background(), shJob(t))
	if err == nil || !strings.Contains(err.Error(), `start command "/nonexistent/qctl-test-command"`) {
		t.Errorf("missing command: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Exec(ExecSpec{Command: []string{"true"}})(ctx, shJob(t)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v, want context.Canceled", err)
	}
}

func TestExecStdoutToFile(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := Exec(ExecSpec{Command: []string{"sh", "-c", `echo "$QCTL_JOB_QUEUE"`}, Stdout: f})
	if err := h(context.Background(), shJob(t)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(f.Name()); string(got) != "emails\n" {
		t.Errorf("file got %q", got)
	}
}
