package commands

import (
	"context"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/connectors/beanstalkqueue"
	"github.com/qctl/qctl/manager"
)

func kickCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "kick",
		Usage:     "put buried jobs of a beanstalkd tube back to ready (beanstalkd's kick)",
		ArgsUsage: "[n]",
		Description: "Moves up to n buried jobs (default: all of them) back to ready, first buried first, keeping\n" +
			"their priority; workers then run them again with fresh tries, as `qctl retry` does for the failed\n" +
			"store. Workers of a connection with bury_failed = true bury the jobs that fail.\n\n" +
			"Unlike beanstalkd's own kick, each job comes back as a new job (a new id, attempts from zero):\n" +
			"beanstalkd counts a job's attempts in its reserves, which a kick keeps, so a job out of tries\n" +
			"would be failed again without running. Delayed jobs are never made ready early.\n\n" +
			"The tube is named with --queue, as for `qctl peek`; `qctl kick <tube> [n]` is the older form.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "queue", Usage: "the tube (default: the connection's queue)"},
			connectionFlag(),
		},
		Action: func(c *cli.Context) error { return runKick(c, p) },
	}
}

func runKick(c *cli.Context, p *Program) error {
	args := c.Args().Slice()
	tube := c.String("queue")
	if tube == "" && len(args) == 2 || tube == "" && len(args) == 1 && !isCount(args[0]) {
		tube, args = args[0], args[1:] // the older form: kick <tube> [n]
	}
	if len(args) > 1 {
		return usageError("kick takes an optional count; name the tube with --queue (see `qctl kick --help`)")
	}
	limit := int64(0)
	if len(args) == 1 {
		n, err := strconv.ParseInt(args[0], 10, 64)
		if err != nil || n < 1 {
			return usageError("kick count %q: want a positive whole number", args[0])
		}
		limit = n
	}
	ctx, q, conn, done, err := openBeanstalk(c, p, "kick")
	if err != nil {
		return err
	}
	defer done()
	if tube == "" {
		tube = conn.Queue
	}
	st, err := q.Stats(ctx, tube)
	if err != nil {
		return err
	}
	n := st.Buried
	if limit > 0 && limit < n {
		n = limit
	}
	kicked := 0
	if n > 0 {
		if kicked, err = q.Requeue(ctx, tube, int(n)); err != nil {
			return err
		}
	}
	fmt.Fprintf(p.Stdout, "Kicked %d buried %s back to ready on tube %q (connection %s).\n", kicked, plural(int64(kicked), "job", "jobs"), tube, conn.Name)
	return nil
}

// isCount reports whether arg reads as kick's count rather than a tube name.
func isCount(arg string) bool {
	_, err := strconv.ParseInt(arg, 10, 64)
	return err == nil
}

// openBeanstalk opens the connection for a beanstalkd-only command, refusing any other driver
// with a usage error (exit 2) that says which driver the connection has.
func openBeanstalk(c *cli.Context, p *Program, command string) (context.Context, *beanstalkqueue.Queue, *manager.Conn, func(), error) {
	ctx, conn, done, err := openConnection(c, p, -1)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	bq, ok := conn.Backend.(*beanstalkqueue.Queue)
	if !ok {
		done()
		return nil, nil, nil, nil, usageError("%s is only for beanstalkd connections; connection %s is %s", command, conn.Name, conn.Driver)
	}
	return ctx, bq, conn, done, nil
}
