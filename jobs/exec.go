package jobs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// DefaultKillGrace is how long Exec waits after SIGTERM before it SIGKILLs a command whose job
// context ended: long enough for a script to finish a write, short enough that a stuck job does not
// hold a worker.
const DefaultKillGrace = 2 * time.Second

// stderrTailSize is how much of a failing command's stderr goes into its error, which is the
// exception stored for a failed job: the end is where the reason usually is.
const stderrTailSize = 4 << 10

// ExecSpec describes an external command that Exec runs once per job.
type ExecSpec struct {
	// Command is the program and its arguments; it is not run through a shell.
	Command []string
	// Dir is the working directory; "" means the worker's.
	Dir string
	// Env is added to the worker's environment (and may override it); the QCTL_JOB_* variables
	// are set last and cannot be overridden.
	Env map[string]string
	// KillGrace is how long the command's process group has between SIGTERM and SIGKILL once the
	// job's context ends, and how long leftover processes may hold the output pipes open after the
	// command exits. Zero or negative means DefaultKillGrace.
	KillGrace time.Duration
	// Stdin chooses what the command reads on standard input: ExecStdinPayload ("" means the same)
	// or ExecStdinData.
	Stdin ExecStdin
	// Stdout receives the command's standard output; nil discards it. Stderr receives its
	// standard error in addition to the tail kept for errors. Output is written from a goroutine
	// per run, so writers shared by concurrent jobs must be safe for concurrent use. Write errors
	// are ignored: a full log disk should not fail the job.
	Stdout, Stderr io.Writer
}

// ExecStdin names what an exec handler's command reads on standard input.
type ExecStdin string

const (
	// ExecStdinPayload gives the command the payload exactly as popped (job.Raw), envelope and
	// all: the default, and the choice for a script that parses the payload itself.
	ExecStdinPayload ExecStdin = "payload"
	// ExecStdinData gives the command only the job's data as Job.Data returns it: the pushed JSON
	// of a string job, or the decoded properties of a Laravel object job's command, so a Python
	// or Node script never has to read PHP's serialize format.
	ExecStdinData ExecStdin = "data"
)

// Exec returns a Handler that runs spec.Command for each job, for workers whose jobs are written
// in another language. The command gets:
//   - on stdin, the payload exactly as popped (job.Raw), or with ExecStdinData the job's data;
//     a Laravel object job whose command cannot be decoded is then failed without starting
//     the command, since no retry can decode it;
//   - in its environment, the worker's environment, spec.Env, and QCTL_JOB_ID, QCTL_JOB_NAME (the
//     payload's "job" value), QCTL_JOB_QUEUE, QCTL_JOB_CONNECTION, QCTL_JOB_ATTEMPTS and
//     QCTL_JOB_UUID.
//
// Exit status 0 is success; any other status is an error whose text includes the tail of stderr.
// The command runs in its own process group. When ctx ends (the job timed out or the worker
// stopped hard) the whole group gets SIGTERM, then SIGKILL after KillGrace, and the error wraps
// ctx.Err() so errors.Is(err, context.DeadlineExceeded) identifies a timeout. Whenever the command
// exits, whatever it left running in its group is killed, so jobs cannot leak processes into the
// worker; Exec returns even if such a leftover holds the output pipes open. On Linux the command
// and everything it starts are also tied to the life of the calling process, and a stopped job's
// processes that left the group are killed too (see tie_linux.go); they carry QCTL_EXEC_OWNER and
// QCTL_EXEC_RUN in their environment for that.
func Exec(spec ExecSpec) Handler {
	command := append([]string(nil), spec.Command...)
	env := make([]string, 0, len(spec.Env))
	for k, v := range spec.Env {
		env = append(env, k+"="+v)
	}
	sort.Strings(env) // map order is random; the child's environment should not be
	grace := spec.KillGrace
	if grace <= 0 {
		grace = DefaultKillGrace
	}
	stdout, stderr := spec.Stdout, spec.Stderr
	stdinMode := spec.Stdin

	return func(ctx context.Context, job *Job) error {
		if len(command) == 0 || command[0] == "" {
			return errors.New("exec handler: no command configured")
		}
		stdin, err := stdinFor(job, stdinMode)
		if err != nil {
			return err
		}
		r := &execRun{name: command[0]}
		cmd := exec.CommandContext(ctx, command[0], command[1:]...)
		cmd.Dir = spec.Dir
		cmd.Env = append(append(os.Environ(), env...), jobEnv(job)...)
		cmd.Stdin = bytes.NewReader(stdin)
		switch stdout.(type) {
		case nil:
		case *os.File:
			cmd.Stdout = stdout // the child writes to the file itself: no pipe, no copying goroutine
		default:
			cmd.Stdout = ignoreErrors{w: stdout}
		}
		var errOut io.Writer = &r.tail
		if stderr != nil {
			errOut = io.MultiWriter(&r.tail, ignoreErrors{w: stderr})
		}
		cmd.Stderr = errOut
		setProcessGroup(cmd)
		run := tie(cmd)
		cmd.Cancel = func() error {
			r.stopped.Store(true)
			return terminateGroup(cmd.Process)
		}
		cmd.WaitDelay = grace

		if err := startTied(cmd); err != nil {
			return fmt.Errorf("start command %q: %w", r.name, err)
		}
		err = cmd.Wait()
		killGroup(cmd.Process)
		if r.stopped.Load() {
			killRun(run) // what left the group (setsid) must not outlive a stopped job either
		}
		return r.result(ctx, cmd, err)
	}
}

// execRun is the state of one Exec run; the tail is written by exec's stderr goroutine and read
// after Wait returns, and stopped is set by the cancel callback.
type execRun struct {
	name    string
	tail    tailBuffer
	stopped atomic.Bool
}

// result turns Wait's outcome into the handler's error.
func (r *execRun) result(ctx context.Context, cmd *exec.Cmd, err error) error {
	tail := r.tail.String()
	if tail != "" {
		tail = ": " + tail
	}
	if r.stopped.Load() {
		// We signalled the group, so whatever status the command exited with is a consequence
		// of the stop, not the job's own verdict.
		// The cause (from context.WithCancelCause or WithTimeoutCause) says why, when the
		// caller gave one; both it and ctx.Err() stay reachable through errors.Is.
		why, causes := ctx.Err(), []error{ctx.Err()}
		if cause := context.Cause(ctx); cause != nil && cause != why {
			why, causes = cause, append(causes, cause)
		}
		return &execError{
			msg:  fmt.Sprintf("command %q stopped because the job's context ended (%v)%s", r.name, why, tail),
			errs: causes,
		}
	}
	state := cmd.ProcessState
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, exec.ErrWaitDelay) && state != nil && state.Success():
		// The command succeeded; processes it left behind held the output pipes open until
		// WaitDelay closed them, and killGroup has ended them since.
		return nil
	case errors.As(err, &exitErr) && exitErr.Exited():
		return &execError{
			msg:  fmt.Sprintf("command %q exited with status %d%s", r.name, exitErr.ExitCode(), tail),
			errs: []error{err},
		}
	case errors.As(err, &exitErr):
		return &execError{
			msg:  fmt.Sprintf("command %q ended by %s%s", r.name, exitErr.ProcessState, tail),
			errs: []error{err},
		}
	default:
		return fmt.Errorf("command %q: %w", r.name, err)
	}
}

// execError carries a message written for the failed-job store while still letting errors.Is and
// errors.As reach the cause (*exec.ExitError or the context's error).
type execError struct {
	msg  string
	errs []error
}

func (e *execError) Error() string   { return e.msg }
func (e *execError) Unwrap() []error { return e.errs }

// jobEnv returns the QCTL_JOB_* variables that describe job to the command.
func jobEnv(job *Job) []string {
	var name, id string
	if job.Payload != nil {
		name, id = job.Payload.Job, job.Payload.UUID
	}
	return []string{
		"QCTL_JOB_ID=" + job.ID,
		"QCTL_JOB_NAME=" + name,
		"QCTL_JOB_QUEUE=" + job.Queue,
		"QCTL_JOB_CONNECTION=" + job.Connection,
		"QCTL_JOB_ATTEMPTS=" + strconv.Itoa(job.Attempts()),
		"QCTL_JOB_UUID=" + id,
	}
}

// stdinFor returns what the command reads. For the payload that is the raw bytes as popped, or
// the encoded payload when a caller built the Job by hand without them.
func stdinFor(job *Job, mode ExecStdin) ([]byte, error) {
	switch mode {
	case "", ExecStdinPayload:
		if len(job.Raw) > 0 || job.Payload == nil {
			return job.Raw, nil
		}
		raw, _ := job.Payload.Encode() // a payload that cannot encode gives the command empty stdin
		return raw, nil
	case ExecStdinData:
		return job.Data()
	default:
		return nil, fmt.Errorf("exec handler: unknown stdin %q (want %q or %q)", mode, ExecStdinPayload, ExecStdinData)
	}
}

// ignoreErrors forwards writes and reports success even when the underlying writer fails, so a
// broken log sink never makes exec stop draining the child's pipe (which would block or kill it).
type ignoreErrors struct {
	w io.Writer
}

func (i ignoreErrors) Write(p []byte) (int, error) {
	_, _ = i.w.Write(p)
	return len(p), nil
}

// tailBuffer keeps the last stderrTailSize bytes written to it.
type tailBuffer struct {
	mu   sync.Mutex
	buf  []byte
	lost bool // whether earlier output was dropped
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 2*stderrTailSize { // trim in batches to keep appends cheap
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-stderrTailSize:]...)
		t.lost = true
	}
	return len(p), nil
}

// String returns the kept tail, trimmed of surrounding space, starting at a character boundary and
// marked with "..." when earlier output was dropped.
func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	lost := t.lost
	if len(b) > stderrTailSize {
		b = b[len(b)-stderrTailSize:]
		lost = true
	}
	for lost && len(b) > 0 && !utf8.RuneStart(b[0]) {
		b = b[1:]
	}
	s := strings.TrimSpace(string(b))
	if lost && s != "" {
		s = "..." + s
	}
	return s
}
