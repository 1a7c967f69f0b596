package manager

import (
	"context"
	"io"
	"time"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/jobs"
)

// handlers returns the program's Go handlers plus the exec handlers declared in cfg, whose
// commands write to out.
func handlers(cfg *config.Config, program *jobs.Registry, out io.Writer) *jobs.Registry {
	reg := jobs.NewRegistry()
	if program != nil {
		for _, name := range program.Names() {
			h, _ := program.Lookup(&jobs.Payload{Job: name})
			reg.Register(name, h)
		}
	}
	for name, h := range cfg.Handlers {
		handler := jobs.Exec(jobs.ExecSpec{
			Command: h.Command, Dir: h.Dir, Env: h.Env, Stdin: jobs.ExecStdin(h.Stdin), Stdout: out, Stderr: out,
		})
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
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return h(ctx, job)
	}
}
