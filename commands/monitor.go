package commands

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/manager"
)

func monitorCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "monitor",
		Usage:     "check queue sizes against --max, for cron and health checks (queue:monitor)",
		ArgsUsage: "[connection:]queue,...",
		Description: "Prints each queue's size (ready, delayed and reserved jobs) and exits 1, naming the\n" +
			"queues, when one holds more than --max jobs; a queue without a connection is on the default one.",
		Flags: []cli.Flag{
			&cli.Int64Flag{Name: "max", Value: 1000, Usage: "the most jobs a queue may hold before it is reported"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per queue"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usageError("monitor takes one list of queues: [connection:]queue,... (see `qctl monitor --help`)")
			}
			if c.Int64("max") < 0 {
				return usageError("--max must not be negative (got %d)", c.Int64("max"))
			}
			queues, err := manager.ParseMonitored(c.Args().First())
			if err != nil {
				return usageError("%v", err)
			}
			m, err := openManager(c, p)
			if err != nil {
				return err
			}
			ctx, cancel := stopSignals(p)
			defer cancel()
			sizes, err := m.Monitor(ctx, queues, c.Int64("max"))
			if err != nil {
				return managerError(err)
			}
			var over []string
			tw := tabwriter.NewWriter(p.Stdout, 0, 0, 3, ' ', 0)
			if !c.Bool("json") {
				fmt.Fprintln(tw, "CONNECTION\tQUEUE\tSIZE\tSTATUS")
			}
			enc := json.NewEncoder(p.Stdout)
			for _, q := range sizes {
				status := "OK"
				if q.Over {
					status = "ALERT"
					over = append(over, fmt.Sprintf("%s:%s (%d)", q.Connection, q.Queue, q.Size))
				}
				if c.Bool("json") {
					if err := enc.Encode(q); err != nil {
						return err
					}
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", q.Connection, q.Queue, q.Size, status)
			}
			tw.Flush()
			if len(over) > 0 {
				return withStatus(ExitError, fmt.Errorf("over --max=%d: %s", c.Int64("max"), strings.Join(over, ", ")))
			}
			return nil
		},
	}
}
