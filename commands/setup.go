package commands

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/manager"
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

// openManager loads --config and returns the service layer over it, with the program's handlers.
func openManager(c *cli.Context, p *Program) (*manager.Manager, error) {
	cfg, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	return manager.New(cfg, manager.Options{Handlers: p.Handlers, Output: p.Stderr, PrefixOutput: isTerminal(p.Stderr)}), nil
}

// connectionFlag is --connection, which every command that acts on one connection takes, beside
// the positional [connection] that artisan's queue commands take.
func connectionFlag() cli.Flag {
	return &cli.StringFlag{Name: "connection", Usage: "the connection `NAME` (default: the config's default); the same as the [connection] argument"}
}

// connectionName is the connection a command names: its positional [connection] argument (at
// index arg, -1 when the command takes none) or --connection; giving two different ones is a
// usage error.
func connectionName(c *cli.Context, arg int) (string, error) {
	flag := c.String("connection")
	if arg < 0 || c.Args().Get(arg) == "" {
		return flag, nil
	}
	if pos := c.Args().Get(arg); flag != "" && flag != pos {
		return "", usageError("connection %q given twice, as an argument and as --connection %q: name it once", pos, flag)
	}
	return c.Args().Get(arg), nil
}

// openConnection loads the config and opens the connection the command names (see
// connectionName), with a context that the first TERM or INT cancels.
func openConnection(c *cli.Context, p *Program, arg int) (context.Context, *manager.Conn, func(), error) {
	m, err := openManager(c, p)
	if err != nil {
		return nil, nil, nil, err
	}
	name, err := connectionName(c, arg)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := m.Connection(name); err != nil {
		return nil, nil, nil, usageError("%v", err)
	}
	ctx, cancel := stopSignals(p)
	conn, err := m.Open(ctx, name)
	if err != nil {
		cancel()
		return nil, nil, nil, managerError(err)
	}
	return ctx, conn, func() { conn.Close(); cancel() }, nil
}

// managerError turns the service layer's usage mistakes (an unknown connection, a disabled failed
// store, an ability the backend lacks) into exit status 2; anything else stays an error (1).
func managerError(err error) error {
	if errors.Is(err, config.ErrUnknownConnection) || errors.Is(err, manager.ErrFailedDisabled) ||
		errors.Is(err, manager.ErrNotSupported) || errors.Is(err, manager.ErrConfig) || errors.Is(err, connectors.ErrInvalidQueueName) {
		return usageError("%v", err)
	}
	return err
}

// withFailedStore runs fn with the failed-job store open and a context that the first TERM or
// INT cancels: the frame of every failed-job command.
func withFailedStore(c *cli.Context, p *Program, fn func(ctx context.Context, m *manager.Manager, store *failed.Store) error) error {
	m, err := openManager(c, p)
	if err != nil {
		return err
	}
	ctx, cancel := stopSignals(p)
	defer cancel()
	store, err := m.OpenFailed(ctx)
	if err != nil {
		return managerError(err)
	}
	defer store.Close()
	return fn(ctx, m, store)
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

// colour reports whether to colour what goes to w: on a terminal, unless NO_COLOR
// (https://no-color.org) is set or --no-ansi was given, as artisan's --no-ansi.
func colour(c *cli.Context, w any) bool {
	return isTerminal(w) && os.Getenv("NO_COLOR") == "" && !c.Bool("no-ansi")
}

// isTerminal reports whether f is an interactive terminal (not a pipe, file or /dev/null).
func isTerminal(f any) bool {
	file, ok := f.(*os.File)
	return ok && term.IsTerminal(int(file.Fd()))
}
