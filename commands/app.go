// Package commands is qctl's command line: one file per subcommand, built on urfave/cli/v2.
// main.go only turns signals into a channel and the returned status into an exit code; a Go
// program that embeds qctl does the same with its own job handlers (see Program).
package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/internal/version"
	"github.com/qctl/qctl/jobs"
)

// Program is what a qctl binary brings to the commands: its handlers and its process plumbing.
type Program struct {
	// Handlers are the Go job handlers; exec handlers declared in queue.toml are added to them.
	Handlers *jobs.Registry
	// Signals delivers TERM, INT, QUIT, USR2 and CONT; nil means no signal handling.
	Signals <-chan os.Signal
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
}

// Exit statuses shared by every command (the worker adds 12 and 13).
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
	// ExitInterrupted is a command stopped part way by Ctrl-C (128 + SIGINT), as shells report it.
	ExitInterrupted = 130
)

// exitError carries an exit status out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks a problem with how qctl was called or configured: exit status 2.
func usageError(format string, args ...any) error {
	return &exitError{code: ExitUsage, err: fmt.Errorf(format, args...)}
}

// withStatus makes err end the process with code.
func withStatus(code int, err error) error { return &exitError{code: code, err: err} }

// Run runs the qctl command line args (args[0] is the program name) and returns the exit status.
func Run(args []string, p Program) int {
	if p.Handlers == nil {
		p.Handlers = jobs.NewRegistry()
	}
	if p.Stdin == nil {
		p.Stdin = os.Stdin
	}
	if p.Stdout == nil {
		p.Stdout = os.Stdout
	}
	if p.Stderr == nil {
		p.Stderr = os.Stderr
	}
	app := newApp(&p)
	err := app.RunContext(context.Background(), interspersed(app, args))
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(p.Stderr, "qctl:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(p.Stderr, "qctl:", err)
	return ExitError
}

func newApp(p *Program) *cli.App {
	app := &cli.App{
		Name:      "qctl",
		Usage:     "run and manage queue workers (Laravel / think-queue compatible)",
		Writer:    p.Stdout,
		ErrWriter: p.Stderr,
		Reader:    p.Stdin,
		Flags: []cli.Flag{
			&cli.StringFlag{
				Name: "config", Aliases: []string{"c"}, Value: defaultConfigPath, EnvVars: []string{"QCTL_CONFIG"},
				Usage: "connection config `FILE`; when the default file is missing, the built-in SQLite default is used",
			},
			&cli.BoolFlag{Name: "version", Usage: "print qctl's version, commit and Go version"},
			&cli.BoolFlag{Name: "no-ansi", Usage: "no colour, even on a terminal (as NO_COLOR)"},
		},
		// Without a command, qctl shows its help (or its version); with one it does not know,
		// it names the nearest one.
		Action: func(c *cli.Context) error {
			if c.Bool("version") {
				fmt.Fprintln(p.Stdout, version.Read())
				return nil
			}
			if c.NArg() > 0 {
				return usageError("unknown command %q. %s (see `qctl --help`)", c.Args().First(), cli.SuggestCommand(c.App.Commands, c.Args().First()))
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			workCommand(p),
			listenCommand(p),
			pushCommand(p),
			migrateCommand(p),
			restartCommand(p),
			workersCommand(p),
			pauseCommand(p),
			continueCommand(p),
			terminateCommand(p),
			failedCommand(p),
			retryCommand(p),
			forgetCommand(p),
			flushCommand(p),
			statusCommand(p),
			clearCommand(p),
			benchCommand(p),
			pruneFailedCommand(p),
			batchesCommand(p),
			retryBatchCommand(p),
			pruneBatchesCommand(p),
			kickCommand(p),
			peekCommand(p),
			superviseCommand(p),
			monitorCommand(p),
			versionCommand(p),
			dashboardCommand(p),
		},
		// Only main.go exits: urfave/cli would otherwise call os.Exit on an ExitCoder.
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError:         onUsageError,
		HideVersion:          true, // --version is the flag above: urfave/cli's would also take -v
		EnableBashCompletion: false,
	}
	for _, c := range app.Commands {
		c.OnUsageError = onUsageError
	}
	return app
}

func onUsageError(c *cli.Context, err error, _ bool) error {
	if c.Command == nil || c.Command.Name == c.App.Name {
		return usageError("%v (see `qctl --help`)", err)
	}
	return usageError("%v (see `qctl %s --help`)", err, c.Command.FullName())
}

func versionCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print qctl's version, commit and Go version (as --version)",
		Action: func(*cli.Context) error {
			fmt.Fprintln(p.Stdout, version.Read())
			return nil
		},
	}
}
