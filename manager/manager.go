// Package manager is qctl's service layer, the role Laravel's QueueManager plays: it opens
// connections by name from the config through the driver registry, and holds every operation a
// program performs on queues and failed jobs (push, retry, status, clear, restart, migrate).
// The command line, and any Go program that embeds qctl, are thin layers over it.
//
// A typical program:
//
//	m := manager.New(cfg, manager.Options{Handlers: reg})
//	conn, err := m.Open(ctx, "redis") // "" opens the default connection
//	if err != nil { ... }
//	defer conn.Close()
//	ids, err := conn.Push(ctx, "SendEmail", []json.RawMessage{data}, manager.PushOptions{Delay: time.Minute})
//
// Errors a caller should tell apart wrap config.ErrUnknownConnection, ErrFailedDisabled or
// ErrNotSupported; a backend that cannot be reached wraps connectors.ErrUnavailable.
package manager

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

var (
	// ErrFailedDisabled means the config discards failed jobs ([failed] driver = "null"), so
	// there is no store to list, retry or flush.
	ErrFailedDisabled = errors.New(`the failed-job store is disabled ([failed] driver = "null"): failed jobs are discarded`)
	// ErrNotSupported means the connection's backend cannot do what was asked.
	ErrNotSupported = errors.New("not supported by this connection")
	// ErrConfig means a setting the config parser accepted cannot be used (an app_key Laravel
	// would refuse); the fix is in queue.toml.
	ErrConfig = errors.New("invalid setting")
)

// Manager opens the connections of one config and runs operations on them. It is safe for use
// by several goroutines; each Conn it opens belongs to its caller.
type Manager struct {
	cfg      *config.Config
	handlers *jobs.Registry
	output   io.Writer
	minute   time.Duration // Options.HistoryMinute, or a minute
}

// Options are what a program brings to the manager.
type Options struct {
	// Handlers are the program's Go job handlers; the exec handlers declared in the config are
	// added to them. Nil means none.
	Handlers *jobs.Registry
	// Output receives exec handlers' stdout and stderr, and the report of jobs run by a sync
	// connection; nil means os.Stderr.
	Output io.Writer
	// PrefixOutput puts "[job id] " before each line exec handlers write to Output: on a
	// terminal, where their lines and the worker's interleave. Piped output stays raw.
	PrefixOutput bool
	// HistoryMinute is the length of one sample of the per-minute history (history.go); 0 means
	// a minute. Tests shorten it to whole seconds.
	HistoryMinute time.Duration
}

// New returns a manager for cfg.
func New(cfg *config.Config, o Options) *Manager {
	if o.Output == nil {
		o.Output = os.Stderr
	}
	m := &Manager{cfg: cfg, output: o.Output, minute: cmp.Or(o.HistoryMinute, time.Minute)}
	m.handlers = handlers(cfg, o.Handlers, o.Output, o.PrefixOutput)
	return m
}

// Config returns the config the manager was made with.
func (m *Manager) Config() *config.Config { return m.cfg }

// Handlers returns the job handlers: the program's Go handlers plus the config's exec handlers.
func (m *Manager) Handlers() *jobs.Registry { return m.handlers }

// Connection resolves a connection name ("" = the default). An unknown name returns an error
// wrapping config.ErrUnknownConnection that lists the known ones.
func (m *Manager) Connection(name string) (config.Connection, error) {
	return m.cfg.Connection(name)
}

// Conn is one open connection: its config and its backend.
type Conn struct {
	config.Connection
	// Backend is the connection's queue backend; its optional abilities are found by type
	// assertion.
	Backend connectors.Queue
	driver  Driver
	m       *Manager
	fleet   fleetStore // opened by Fleet on first use
}

// Open connects to the named connection ("" = the default).
func (m *Manager) Open(ctx context.Context, name string) (*Conn, error) {
	conn, err := m.Connection(name)
	if err != nil {
		return nil, err
	}
	d, ok := driver(conn.Driver)
	if !ok { // the config knows the driver but nobody registered how to open it
		return nil, fmt.Errorf("connection %q: driver %q has no open function registered", conn.Name, conn.Driver)
	}
	env := Env{
		RunSync: func(ctx context.Context, r *connectors.Reserved) error { return m.runSync(ctx, conn.Name, r) },
		Log: func(msg string) {
			fmt.Fprintf(m.output, "%s connection %s: %s\n", time.Now().Format(time.DateTime), conn.Name, msg)
		},
	}
	q, err := d.Open(ctx, conn, env)
	if err != nil {
		return nil, fmt.Errorf("connection %q (%s): %w", conn.Name, conn.Driver, migrateHint(err, conn.Name))
	}
	return &Conn{Connection: conn, Backend: q, driver: d, m: m}, nil
}

// CheckQueues returns an error wrapping connectors.ErrInvalidQueueName for the first queue name
// the backend can never accept, so a worker refuses it at start instead of retrying forever.
func (c *Conn) CheckQueues(queues ...string) error {
	checker, ok := c.Backend.(connectors.QueueNameChecker)
	if !ok {
		return nil
	}
	for _, q := range queues {
		if err := checker.CheckQueueName(q); err != nil {
			return fmt.Errorf("connection %q (%s): %w", c.Name, c.Driver, err)
		}
	}
	return nil
}

// Close closes the backend's connections, and the fleet store's when Fleet opened one.
func (c *Conn) Close() error { return errors.Join(c.Backend.Close(), c.fleet.close()) }

// KeepsJobs reports whether the connection stores jobs (sync and null do not).
func (c *Conn) KeepsJobs() bool { return !c.driver.KeepsNoJobs }

// Clear deletes every job of queue ("" = the connection's) and returns how many there were.
func (c *Conn) Clear(ctx context.Context, queue string) (int64, error) {
	if queue == "" {
		queue = c.Queue
	}
	n, err := c.Backend.Clear(ctx, queue)
	if err != nil {
		return 0, fmt.Errorf("clearing the [%s] queue: %w", queue, err)
	}
	return n, nil
}

// Restart broadcasts the restart signal: every worker of the connection, on every machine,
// exits after its current job. It wraps ErrNotSupported when the backend keeps no shared store.
func (c *Conn) Restart(ctx context.Context) error {
	rs, ok := c.Backend.(connectors.Restarter)
	if !ok {
		return fmt.Errorf("%w: connection %q (%s) has no shared store for the restart signal", ErrNotSupported, c.Name, c.Driver)
	}
	if _, err := connectors.BroadcastRestartAt(ctx, rs, time.Now()); err != nil {
		return fmt.Errorf("broadcasting the restart signal on %q: %w", c.Name, err)
	}
	return nil
}

// runSync runs a job pushed onto a sync connection here and now, through the executor a worker
// uses, so tries, failures and the failed store behave the same.
func (m *Manager) runSync(ctx context.Context, connection string, r *connectors.Reserved) error {
	store, err := m.FailedLogger(ctx, false)
	if err != nil {
		return err
	}
	defer store.Close()
	w := worker.New(worker.Deps{Handlers: m.handlers, Failed: store, Report: worker.TextReporter(m.output)},
		worker.Options{Connection: connection, Tries: 1})
	return w.RunOne(ctx, r)
}

// notMigrated is a missing-tables error whose hint names the connection: bare `qctl migrate`
// migrates the default connection, which may not be the one missing its tables.
type notMigrated struct {
	err        error
	connection string
}

func (e *notMigrated) Error() string {
	return strings.Replace(e.err.Error(), "run `qctl migrate`", "run `qctl migrate "+e.connection+"`", 1)
}

func (e *notMigrated) Unwrap() error { return e.err }

// migrateHint names connection in err's `qctl migrate` hint when err says tables are missing.
func migrateHint(err error, connection string) error {
	if !errors.Is(err, connectors.ErrNotMigrated) {
		return err
	}
	return &notMigrated{err: err, connection: connection}
}
