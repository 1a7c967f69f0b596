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
				Connection string                `json:"connection"`
				Time       time.Time             `json:"time"`
				Workers    []worker.Info         `json:"workers"` // every entry, masters included
				Groups     []manager.WorkerGroup `json:"groups"`  // the same, by master and supervisor
				Queues     []manager.QueueTotal  `json:"queues"`
			}
			return redraw(ctx, p, watch, c.Bool("json"), "qctl workers "+conn.Name, "",
				func() (listing, error) {
					ws, err := conn.Workers(ctx)
					return listing{conn.Name, time.Now(), ws, manager.Group(ws), manager.QueueTotals(ws)}, err
				},
				func(w io.Writer, l listing) { writeWorkersTable(w, l.Groups, l.Workers, l.Time) })
		},
	}
}

// writeWorkersTable prints each master with its children by supervisor, then the standalone
// workers and listeners, one line per worker, then the totals per queue.
func writeWorkersTable(w io.Writer, groups []manager.WorkerGroup, ws []worker.Info, now time.Time) {
	if len(ws) == 0 {
		fmt.Fprintln(w, "No live workers.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tHOST\tPID\tNAME\tQUEUES\tSTATE\tBUSY\tPROCESSED\tFAILED\tMEMORY\tUP\tRUNNING")
	for _, g := range groups {
		switch m := g.Master; {
		case g.ID == "":
			if len(groups) > 1 {
				fmt.Fprintln(tw, "standalone\t\t\t\t\t\t\t\t\t\t\t")
			}
		case m == nil:
			fmt.Fprintf(tw, "master %s (gone: its workers stop by themselves)\t\t\t\t\t\t\t\t\t\t\t\n", g.ID)
		default:
			fmt.Fprintf(tw, "master %s\t%s\t%d\tsupervise\t%s\t%s\t%s\t\t\t%dM\t%s\t\n", m.ID, m.Host, m.PID,
				strings.Join(m.Supervisors, ","), m.State, workerCount(m.Children), m.MemoryBytes>>20, manager.FormatAge(now.Sub(m.StartedAt)))
		}
		for _, s := range g.Supervisors {
			if s.Name != "" {
				fmt.Fprintf(tw, "  supervisor %s\t\t\t\t\t\t%s\t\t\t\t\t\n", s.Name, workerCount(len(s.Workers)))
			}
			writeWorkerRows(tw, s.Workers, now, g.ID != "")
		}
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

func workerCount(n int) string {
	if n == 1 {
		return "1 worker"
	}
	return fmt.Sprintf("%d workers", n)
}

// writeWorkerRows prints one line per worker, indented under its master and supervisor.
func writeWorkerRows(tw io.Writer, ws []worker.Info, now time.Time, indent bool) {
	pad := ""
	if indent {
		pad = "    "
	}
	for _, in := range ws {
		var running []string
		for _, j := range in.Running {
			running = append(running, fmt.Sprintf("%s#%s (%s)", j.Name, j.ID, manager.FormatAge(now.Sub(j.StartedAt))))
		}
		name := in.Name
		if in.Kind == worker.KindListener {
			name += fmt.Sprintf(" (listen, %d children)", in.Children)
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t%s\t%s\t%d/%d\t%d\t%d\t%dM\t%s\t%s\n", pad, in.ID, in.Host, in.PID, name,
			strings.Join(in.Queues, ","), in.State, len(in.Running), in.Concurrency, in.Processed, in.Failed,
			in.MemoryBytes>>20, manager.FormatAge(now.Sub(in.StartedAt)), strings.Join(running, ", "))
	}
}

func pauseCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "pause",
		Usage:     "stop every worker of a connection, on every machine, popping queues until `qctl continue` (queue:pause)",
		ArgsUsage: "[connection]",
		Description: "Running jobs finish; workers see the pause within one heartbeat (2s). The pause is\n" +
			"Laravel's cache key illuminate:queue:paused:{connection}:{queue}, so Laravel 11+ workers\n" +
			"sharing the cache store stop too, and `php artisan queue:pause` stops qctl workers.\n" +
			"--worker, --master or --supervisor pause whole workers instead, whatever their queues:\n" +
			"one worker or listener, the children of one `qctl supervise` master, or the children of\n" +
			"one supervisor on every machine (children started later too).",
		Flags: append([]cli.Flag{
			connectionFlag(),
			&cli.StringFlag{Name: "queue", Usage: "queues to pause: `a,b` (default: the connection's queue)"},
			&cli.IntFlag{Name: "for", Usage: "lift the pause by itself after this many `SECONDS` (default: until continued)"},
		}, wholeWorkerFlags()...),
		Action: func(c *cli.Context) error {
			if c.Int("for") < 0 {
				return usageError("--for must not be negative (got %d)", c.Int("for"))
			}
			if sel, ok, err := wholeWorkers(c); ok || err != nil {
				if err != nil {
					return err
				}
				return onWorkers(c, p, "paused", func(ctx context.Context, conn *manager.Conn) ([]worker.Info, error) {
					return conn.PauseWorkers(ctx, sel, time.Duration(c.Int("for"))*time.Second)
				})
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

// wholeWorkerFlags select whole workers for pause and continue.
func wholeWorkerFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "worker", Usage: "one worker or listener: its `ID`, as `qctl workers` lists it"},
		&cli.StringFlag{Name: "master", Usage: "the children of one `qctl supervise` master: its `ID`"},
		&cli.StringFlag{Name: "supervisor", Usage: "the children of the supervisor `NAME` on every machine"},
	}
}

// wholeWorkers reads --worker, --master, --supervisor: ok when one is given.
func wholeWorkers(c *cli.Context) (manager.Selector, bool, error) {
	sel := manager.Selector{Worker: c.String("worker"), Master: c.String("master"), Supervisor: c.String("supervisor")}
	if sel.Worker == "" && sel.Master == "" && sel.Supervisor == "" {
		return sel, false, nil
	}
	if sel.Check() != nil {
		return sel, false, usageError("%s: give one of --worker=ID, --master=ID or --supervisor=NAME", c.Command.Name)
	}
	if c.IsSet("queue") {
		return sel, false, usageError("%s: --queue acts on queues, --worker, --master and --supervisor on whole workers: give one or the other", c.Command.Name)
	}
	return sel, true, nil
}

// onWorkers opens the command's connection, runs fn and says which entries it acted on.
func onWorkers(c *cli.Context, p *Program, did string, fn func(ctx context.Context, conn *manager.Conn) ([]worker.Info, error)) error {
	ctx, conn, done, err := openConnection(c, p, 0)
	if err != nil {
		return err
	}
	defer done()
	matched, err := fn(ctx, conn)
	if err != nil {
		return managerError(err)
	}
	for _, in := range matched {
		fmt.Fprintf(p.Stdout, "%s %s (%s on %s) has been %s.\n", describeEntry(in), in.ID, in.Name, in.Host, did)
	}
	return nil
}

// describeEntry names an entry's kind.
func describeEntry(in worker.Info) string {
	switch in.Kind {
	case worker.KindMaster:
		return "Master"
	case worker.KindListener:
		return "Listener"
	}
	return "Worker"
}

func continueCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "continue",
		Usage:     "let the workers of a connection pop paused queues again (queue:continue)",
		ArgsUsage: "[connection]",
		Flags: append([]cli.Flag{
			connectionFlag(),
			&cli.StringFlag{Name: "queue", Usage: "queues to continue: `a,b` (default: the connection's queue)"},
		}, wholeWorkerFlags()...),
		Action: func(c *cli.Context) error {
			if sel, ok, err := wholeWorkers(c); ok || err != nil {
				if err != nil {
					return err
				}
				return onWorkers(c, p, "resumed", func(ctx context.Context, conn *manager.Conn) ([]worker.Info, error) {
					return conn.ContinueWorkers(ctx, sel)
				})
			}
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
			"lets its running jobs finish and exits with status 0; a supervisor may start it again.\n" +
			"--master=ID stops a `qctl supervise` master as TERM does: its children finish their jobs,\n" +
			"then it exits 0. --supervisor=NAME stops that pool in every master running it: the\n" +
			"masters stop its children after their jobs and start no more (a master left with no pool\n" +
			"exits 0); a master started later runs it again.",
		Flags: []cli.Flag{
			connectionFlag(),
			&cli.StringFlag{Name: "worker", Usage: "the `ID` of one worker, master or listener, as `qctl workers` lists it"},
			&cli.StringFlag{Name: "host", Usage: "every worker on this `HOST`"},
			&cli.BoolFlag{Name: "all", Usage: "every worker of the connection"},
			&cli.StringFlag{Name: "master", Usage: "one `qctl supervise` master, by `ID`, and its children"},
			&cli.StringFlag{Name: "supervisor", Usage: "the pool `NAME` in every master running it"},
		},
		Action: func(c *cli.Context) error {
			sel := manager.Selector{Worker: c.String("worker"), Host: c.String("host"), All: c.Bool("all"),
				Master: c.String("master"), Supervisor: c.String("supervisor")}
			if err := sel.Check(); err != nil {
				return usageError("terminate: %v: give one of --worker=ID, --host=HOST, --all, --master=ID or --supervisor=NAME", err)
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
				return fmt.Errorf("no live %s on connection %q (`qctl workers` lists the live ones)", sel.Describe(), conn.Name)
			}
			for _, in := range asked {
				what := "to stop"
				if sel.Supervisor != "" && in.Kind == worker.KindMaster {
					what = "to stop supervisor " + sel.Supervisor
				}
				fmt.Fprintf(p.Stdout, "Asked %s %s (%s on %s) %s.\n", strings.ToLower(describeEntry(in)), in.ID, in.Name, in.Host, what)
			}
			return nil
		},
	}
}
