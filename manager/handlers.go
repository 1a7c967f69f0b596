package manager

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/jobs"
)

// handlers returns the program's Go handlers plus the exec handlers declared in cfg, whose
// commands write to out, each line after "[job id] " when prefix is set.
func handlers(cfg *config.Config, program *jobs.Registry, out io.Writer, prefix bool) *jobs.Registry {
	reg := jobs.NewRegistry()
	if program != nil {
		for _, name := range program.Names() {
			h, _ := program.Lookup(&jobs.Payload{Job: name})
			reg.Register(name, h)
		}
	}
	for name, h := range cfg.Handlers {
		spec := jobs.ExecSpec{Command: h.Command, Dir: h.Dir, Env: h.Env, Stdin: jobs.ExecStdin(h.Stdin), Stdout: out, Stderr: out}
		handler := jobs.Exec(spec)
		if prefix {
			handler = withPrefixedOutput(spec, out)
		}
		if h.Timeout > 0 {
			handler = withTimeout(handler, h.Timeout)
		}
		reg.Register(name, handler)
	}
	return reg
}

// withTimeout limits h to d, the handler's own timeout from the config.
func withTimeout(h jobs.Handler, d time.Duration) jobs.Handler {
	return func(ctx context.Context, job *jobs.Job) error {
		parent := ctx
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		err := h(ctx, job)
		if err != nil && ctx.Err() == context.DeadlineExceeded && parent.Err() == nil {
			return &jobs.TimeoutError{Limit: d, Err: err} // this limit, not the worker's, applied
		}
		return err
	}
}

// withPrefixedOutput runs spec with its output lines prefixed by the job's name and id.
func withPrefixedOutput(spec jobs.ExecSpec, out io.Writer) jobs.Handler {
	return func(ctx context.Context, job *jobs.Job) error {
		// One writer per stream: a partial line on stdout must not take in stderr's next line.
		prefix := fmt.Sprintf("[%s %s] ", job.Payload.ResolveName(), job.ID)
		stdout, stderr := newPrefixWriter(out, prefix), newPrefixWriter(out, prefix)
		defer stdout.Flush()
		defer stderr.Flush()
		spec := spec
		spec.Stdout, spec.Stderr = stdout, stderr
		return jobs.Exec(spec)(ctx, job)
	}
}
