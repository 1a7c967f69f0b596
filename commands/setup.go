package commands

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/connectors/nullqueue"
	"github.com/qctl/qctl/connectors/syncqueue"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/laravel"
)

const defaultConfigPath = "queue.toml"

// loadConfig reads --config. A missing file at the default path means the built-in SQLite
// default, so `qctl push` works in an empty folder; a missing file that was asked for is an error.
func loadConfig(c *cli.Context) (*config.Config, error) {
	path, explicit := c.String("config"), c.IsSet("config")
	if path == "" { // QCTL_CONFIG= exported empty means "not set"
		path, explicit = defaultConfigPath, false
	}
	cfg, err := config.LoadFile(path)
	if err == nil {
		return cfg, nil
	}
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		return config.Default(), nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, usageError("config file %s does not exist (set --config or QCTL_CONFIG)", path)
	}
	return nil, usageError("%v", err)
}

// configAndConnection loads --config and resolves a connection name ("" = the default): the
// start of every command that talks to one connection.
func configAndConnection(c *cli.Context, name string) (*config.Config, config.Connection, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, config.Connection{}, err
	}
	conn, err := connection(cfg, name)
	return cfg, conn, err
}

// withFailedStore runs fn with the failed-job store open and a context that the first TERM or
// INT cancels: the frame of every failed-job command.
func withFailedStore(c *cli.Context, p *Program, fn func(ctx context.Context, cfg *config.Config, store *failed.Store) error) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	ctx, cancel := stopSignals(p)
	defer cancel()
	store, err := openFailed(ctx, cfg)
	if err != nil {
		return err
	}
	defer store.Close()
	return fn(ctx, cfg, store)
}

// connection resolves a connection name ("" = the default) and reports an unknown one as a
// usage error that names the known ones.
func connection(cfg *config.Config, name string) (config.Connection, error) {
	conn, err := cfg.Connection(name)
	if err != nil {
		return config.Connection{}, usageError("%v", err)
	}
	return conn, nil
}

// openQueue connects to conn's backend. run executes jobs pushed to a sync connection.
func openQueue(ctx context.Context, conn config.Connection, run syncqueue.RunFunc) (connectors.Queue, error) {
	var (
		q   connectors.Queue
		err error
	)
	switch conn.Driver {
	case config.DriverDatabase:
		q, err = dbqueue.Open(ctx, dbqueue.Options{
			Dialect: conn.Dialect, DSN: conn.DSN, Table: conn.Table, RetryAfter: conn.RetryAfter,
			Format: conn.Format, AutoMigrate: conn.Dialect == "sqlite",
			CacheTable: conn.CacheTable, CachePrefix: conn.CachePrefix,
		})
	case config.DriverSync:
		q = syncqueue.New(run)
	case config.DriverNull:
		q = nullqueue.New()
	default:
		q, err = openServerQueue(ctx, conn)
	}
	if err != nil {
		return nil, fmt.Errorf("connection %q (%s): %w", conn.Name, conn.Driver, err)
	}
	return q, nil
}

// openFailed opens the failed-job store in the layout the config names (Laravel's uuid table, or
// think-queue's with `uuids = false`); on SQLite it creates its table on first use.
func openFailed(ctx context.Context, cfg *config.Config) (*failed.Store, error) {
	f := cfg.Failed
	if f.Driver == config.DriverNull {
		return nil, usageError("the failed-job store is disabled ([failed] driver = \"null\"): failed jobs are discarded")
	}
	return failed.Open(ctx, failed.Options{
		Dialect: f.Dialect, DSN: f.DSN, Table: f.Table, Layout: failedLayout(cfg), AutoMigrate: f.Dialect == "sqlite",
	})
}

// registry returns the program's Go handlers plus the exec handlers declared in the config.
func registry(p *Program, cfg *config.Config) *jobs.Registry {
	reg := jobs.NewRegistry()
	for _, name := range p.Handlers.Names() {
		h, _ := p.Handlers.Lookup(&jobs.Payload{Job: name})
		reg.Register(name, h)
	}
	for name, h := range cfg.Handlers {
		handler := jobs.Exec(jobs.ExecSpec{
			Command: h.Command, Dir: h.Dir, Env: h.Env, Stdin: jobs.ExecStdin(h.Stdin), Stdout: p.Stderr, Stderr: p.Stderr,
		})
		if h.Timeout > 0 {
			handler = withTimeout(handler, h.Timeout)
		}
		reg.Register(name, handler)
	}
	return reg
}

// laravelDuties builds what a worker does around Laravel's jobs: app_key, the connections a
// chain's next job may go to, and the job_batches table beside the failed jobs.
func laravelDuties(ctx context.Context, cfg *config.Config) (*laravel.Duties, error) {
	o := laravel.Options{Open: func(ctx context.Context, name string) (connectors.Queue, string, error) {
		conn, err := cfg.Connection(name)
		if err != nil {
			return nil, "", err
		}
		q, err := openQueue(ctx, conn, nil)
		return q, conn.Queue, err
	}, UntilProcessing: map[string]bool{}}
	for name, h := range cfg.Handlers {
		o.UntilProcessing[name] = h.UniqueUntilProcessing
	}
	if cfg.AppKey != "" {
		key, err := laravel.ParseKey(cfg.AppKey)
		if err != nil {
			return nil, usageError("%v", err)
		}
		o.Key = &key
	}
	if cfg.Failed.Driver == config.DriverDatabase && cfg.Failed.UUIDs {
		var err error
		if o.Batches, err = laravel.OpenBatches(ctx, cfg.Failed.Dialect, cfg.Failed.DSN, cfg.Failed.BatchesTable); err != nil {
			return nil, err
		}
	}
	return laravel.New(o), nil
}

func withTimeout(h jobs.Handler, d time.Duration) jobs.Handler {
	return func(ctx context.Context, job *jobs.Job) error {
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		return h(ctx, job)
	}
}

// stopSignals returns a context cancelled by the first TERM, INT or QUIT, for commands that just
// need to stop cleanly.
func stopSignals(p *Program) (context.Context, context.CancelFunc) {
	if p.Signals == nil {
		return signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			select {
			case s := <-p.Signals:
				if s == syscall.SIGTERM || s == syscall.SIGINT || s == syscall.SIGQUIT {
					cancel()
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, cancel
}

// isTerminal reports whether f is an interactive terminal (not a pipe, file or /dev/null).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
