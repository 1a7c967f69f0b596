package commands

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/worker"
)

func workersCommand(p *Program) *cli.Command {
	watch := &watchValue{}
	return &cli.Command{
		Name:      "workers",
		Usage:     "list the live workers of a connection, on every machine, with totals per queue",
		ArgsUsage: "[connection]",
		Flags: []cli.Flag{
			connectionFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per listing"},
			&cli.GenericFlag{Name: "watch", Value: watch, Usage: "redraw every 2s until interrupted; --watch=5s for another interval"},
		},
		Action: func(c *cli.Context) error {
			ctx, conn, done, err := openConnection(c, p, 0)
			if err != nil {
				return err
			}
			defer done()
			type listing struct {
				Connection string               `json:"connection"`
				Time       time.Time            `json:"time"`
				Workers    []worker.Info        `json:"workers"`
				Queues     []manager.QueueTotal `json:"queues"`
			}
			return redraw(ctx, p, watch, c.Bool("json"), "qctl workers "+conn.Name, "",
				func() (listing, error) {
					ws, err := conn.Workers(ctx)
					return listing{conn.Name, time.Now(), ws, manager.QueueTotals(ws)}, err
				},
				func(w io.Writer, l listing) { writeWorkersTable(w, l.Workers, l.Time) })
		},
	}
}

// writeWorkersTable prints one line per worker, then the totals per queue.
func writeWorkersTable(w io.Writer, ws []worker.Info, now time.Time) {
	if len(ws) == 0 {
		fmt.Fprintln(w, "No live workers.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tPID\tNAME\tQUEUES\tSTATE\tBUSY\tPROCESSED\tFAILED\tMEMORY\tUP\tRUNNING")
	for _, in := range ws {
		var running []string
		for _, j := range in.Running {
			running = append(running, fmt.Sprintf("%s#%s (%s)", j.Name, j.ID, manager.FormatAge(now.Sub(j.StartedAt))))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%dM\t%s\t%s\n", in.ID, in.Host, in.PID, in.Name,
			strings.Join(in.Queues, ","), in.State, len(in.Running), in.Concurrency, in.Processed, in.Failed,
			in.MemoryBytes>>20, manager.FormatAge(now.Sub(in.StartedAt)), strings.Join(running, ", "))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tWORKERS\tBUSY")
	for _, t := range manager.QueueTotals(ws) {
		name := t.Queue
		if t.Paused {
			name += " (paused)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d/%d\n", name, t.Workers, t.Running, t.Slots)
	}
	tw.Flush()
}

func pauseCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "pause",
		Usage:     "stop every worker of a connection, on every machine, popping queues until `qctl continue` (queue:pause)",
		ArgsUsage: "[connection]",
		Description: "Running jobs finish; workers see the pause within one heartbeat (2s). The pause is\n" +
			"Laravel's cache key illuminate:queue:paused:{connection}:{queue}, so Laravel 11+ workers\n" +
			"sharing the cache store stop too, and `php artisan queue:pause` stops qctl workers.",
		Flags: []cli.Flag{
			connectionFlag(),
			&cli.StringFlag{Name: "queue", Usage: "queues to pause: `a,b` (default: the connection's queue)"},
			&cli.IntFlag{Name: "for", Usage: "lift the pause by itself after this many `SECONDS` (default: until continued)"},
		},
		Action: func(c *cli.Context) error {
			if c.Int("for") < 0 {
				return usageError("--for must not be negative (got %d)", c.Int("for"))
			}
			return onQueues(c, p, func(ctx context.Context, conn *manager.Conn, queues []string) error {
				if err := conn.Pause(ctx, queues, time.Duration(c.Int("for"))*time.Second); err != nil {
					return err
				}
				for _, q := range queues {
					if c.Int("for") > 0 {
						fmt.Fprintf(p.Stdout, "Queue [%s:%s] has been paused for %d seconds.\n", conn.Name, q, c.Int("for"))
					} else {
						fmt.Fprintf(p.Stdout, "Queue [%s:%s] has been paused.\n", conn.Name, q)
					}
				}
				return nil
			})
		},
	}
}

// onQueues opens the command's connection and runs fn on the --queue list (default: the
// connection's queue).
func onQueues(c *cli.Context, p *Program, fn func(ctx context.Context, conn *manager.Conn, queues []string) error) error {
	ctx, conn, done, err := openConnection(c, p, 0)
	if err != nil {
		return err
	}
	defer done()
	queues := queuesFlag(c)
	if len(queues) == 0 {
		queues = []string{conn.Queue}
	}
	return managerError(fn(ctx, conn, queues))
}

func continueCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "continue",
		Usage:     "let the workers of a connection pop paused queues again (queue:continue)",
		ArgsUsage: "[connection]",
		Flags: []cli.Flag{
			connectionFlag(),
			&cli.StringFlag{Name: "queue", Usage: "queues to continue: `a,b` (default: the connection's queue)"},
		},
		Action: func(c *cli.Context) error {
			return onQueues(c, p, func(ctx context.Context, conn *manager.Conn, queues []string) error {
				if err := conn.Continue(ctx, queues); err != nil {
					return err
				}
				for _, q := range queues {
					fmt.Fprintf(p.Stdout, "Queue [%s:%s] has been resumed.\n", conn.Name, q)
				}
				return nil
			})
		},
	}
}

func terminateCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "terminate",
		Usage:     "ask workers, on any machine, to stop after their current jobs (as TERM does)",
		ArgsUsage: "[connection]",
		Description: "Each selected worker sees the request at its next heartbeat (within 2s), stops popping,\n" +
			"lets its running jobs finish and exits with status 0; a supervisor may start it again.",
		Flags: []cli.Flag{
			connectionFlag(),
			&cli.StringFlag{Name: "worker", Usage: "the `ID` of one worker, as `qctl workers` lists it"},
			&cli.StringFlag{Name: "host", Usage: "every worker on this `HOST`"},
			&cli.BoolFlag{Name: "all", Usage: "every worker of the connection"},
		},
		Action: func(c *cli.Context) error {
			sel := manager.Selector{Worker: c.String("worker"), Host: c.String("host"), All: c.Bool("all")}
			if err := sel.Check(); err != nil {
				return usageError("terminate: %v: give one of --worker=ID, --host=HOST or --all", err)
			}
			ctx, conn, done, err := openConnection(c, p, 0)
			if err != nil {
				return err
			}
			defer done()
			asked, err := conn.Terminate(ctx, sel)
			if err != nil {
				return managerError(err)
			}
			if len(asked) == 0 {
				return fmt.Errorf("no live worker of connection %q matches", conn.Name)
			}
			for _, in := range asked {
				fmt.Fprintf(p.Stdout, "Asked worker %s (%s on %s) to stop.\n", in.ID, in.Name, in.Host)
			}
			return nil
		},
	}
}
