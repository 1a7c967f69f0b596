package commands

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/manager"
)

func statusCommand(p *Program) *cli.Command {
	watch := &watchValue{}
	return &cli.Command{
		Name:      "status",
		Usage:     "show each queue's ready, delayed and reserved jobs, oldest ready job and failed jobs",
		ArgsUsage: "[connection]",
		Description: "Without --queue, status shows the connection's queue and every queue the backend holds:\n" +
			"the distinct queues of the jobs table, the Redis keys queues:* under the prefix, or\n" +
			"beanstalkd's tubes. A job whose lease ran out counts as ready. The failed column counts\n" +
			"the failed-job store's records for the queue name (any connection).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "queue", Usage: "show only these queues: `a,b`"},
			connectionFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per snapshot"},
			&cli.GenericFlag{Name: "watch", Value: watch,
				Usage: "redraw every `INTERVAL` until interrupted: every 2s alone, --watch=5s or --watch 5s for another"},
		},
		Action: func(c *cli.Context) error { return runStatus(c, p, watch) },
	}
}

func runStatus(c *cli.Context, p *Program, watch *watchValue) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	args := c.Args().Slice()
	// `--watch 5s`: the flag takes no separate value, so its interval arrives as an argument.
	if watch.every > 0 && len(args) > 0 {
		if _, err := cfg.Connection(args[0]); err != nil && watch.Set(args[0]) == nil {
			args = args[1:]
			if len(args) > 0 && args[0] == "--" { // interspersed put the connection after "--"
				args = args[1:]
			}
		}
	}
	if len(args) > 1 {
		return usageError("status takes at most one connection name (see `qctl status --help`)")
	}
	var name string
	if len(args) == 1 {
		name = args[0]
	}
	if c.String("connection") != "" && name != "" && c.String("connection") != name {
		return usageError("connection %q given twice, as an argument and as --connection %q: name it once", name, c.String("connection"))
	}
	if name == "" {
		name = c.String("connection")
	}
	m := manager.New(cfg, manager.Options{Handlers: p.Handlers, Output: p.Stderr})
	if _, err := m.Connection(name); err != nil {
		return usageError("%v", err)
	}
	ctx, cancel := stopSignals(p)
	defer cancel()
	conn, err := m.Open(ctx, name)
	if err != nil {
		return managerError(err)
	}
	defer conn.Close()
	var store *failed.Store
	var failedNote string
	if store, err = m.OpenFailed(ctx); err != nil {
		store, failedNote = nil, "failed counts unavailable: "+err.Error()
	} else {
		defer store.Close()
	}
	only := queuesFlag(c)
	return redraw(ctx, p, watch, c.Bool("json"), "qctl status "+conn.Name, "connection "+conn.Name,
		func() (manager.Snapshot, error) {
			snap, err := conn.Snapshot(ctx, store, only)
			snap.FailedNote = failedNote
			return snap, err
		}, writeStatusTable)
}

// writeStatusTable prints snap as an aligned table; the buried column appears only when a queue
// has buried jobs (beanstalkd).
func writeStatusTable(w io.Writer, snap manager.Snapshot) {
	buried := slices.ContainsFunc(snap.Queues, func(q manager.QueueStatus) bool { return q.Buried > 0 })
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	header := "QUEUE\tREADY\tDELAYED\tRESERVED\t"
	if buried {
		header += "BURIED\t"
	}
	fmt.Fprintln(tw, header+"OLDEST READY\tFAILED\tWORKERS")
	for _, q := range snap.Queues {
		name := q.Queue
		if q.Paused {
			name += " (paused)"
		}
		line := fmt.Sprintf("%s\t%d\t%d\t%d\t", name, q.Ready, q.Delayed, q.Reserved)
		if buried {
			line += fmt.Sprintf("%d\t", q.Buried)
		}
		oldest, failedCount := "-", "-"
		if q.OldestS != nil {
			oldest = manager.FormatAge(time.Duration(*q.OldestS * float64(time.Second)))
		}
		if q.Failed != nil {
			failedCount = strconv.FormatInt(*q.Failed, 10)
		}
		workers := "-"
		if q.Workers != nil {
			workers = strconv.Itoa(*q.Workers)
		}
		fmt.Fprintln(tw, line+oldest+"\t"+failedCount+"\t"+workers)
	}
	tw.Flush()
	for _, note := range []string{snap.FailedNote, snap.FleetNote} {
		if note != "" {
			fmt.Fprintln(w, "\nNote: "+note)
		}
	}
}
