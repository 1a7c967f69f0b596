package commands

import (
	"context"
	"fmt"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors/beanstalkqueue"
)

func kickCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "kick",
		Usage:     "put buried jobs of a beanstalkd tube back to ready (beanstalkd's kick)",
		ArgsUsage: "<tube> [n]",
		Description: "Moves up to n buried jobs (default: all of them) back to ready, first buried first, keeping\n" +
			"their priority; workers then run them again with fresh tries, as `qctl retry` does for the failed\n" +
			"store. Workers of a connection with bury_failed = true bury the jobs that fail.\n\n" +
			"Unlike beanstalkd's own kick, each job comes back as a new job (a new id, attempts from zero):\n" +
			"beanstalkd counts a job's attempts in its reserves, which a kick keeps, so a job out of tries\n" +
			"would be failed again without running. Delayed jobs are never made ready early.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "connection", Usage: "the beanstalkd connection (default: the config's default)"},
		},
		Action: func(c *cli.Context) error { return runKick(c, p) },
	}
}

func runKick(c *cli.Context, p *Program) error {
	if c.NArg() < 1 || c.NArg() > 2 {
		return usageError("kick takes a tube and an optional count (see `qctl kick --help`)")
	}
	tube, limit := c.Args().Get(0), int64(0)
	if c.NArg() == 2 {
		n, err := strconv.ParseInt(c.Args().Get(1), 10, 64)
		if err != nil || n < 1 {
			return usageError("kick count %q: want a positive whole number", c.Args().Get(1))
		}
		limit = n
	}
	ctx, cancel := stopSignals(p)
	defer cancel()
	q, conn, err := openBeanstalk(ctx, c, "kick")
	if err != nil {
		return err
	}
	defer q.Close()
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

// openBeanstalk opens the --connection for a beanstalkd-only command, refusing any other driver
// with a usage error (exit 2) that says which driver the connection has.
func openBeanstalk(ctx context.Context, c *cli.Context, command string) (*beanstalkqueue.Queue, config.Connection, error) {
	_, conn, err := configAndConnection(c, c.String("connection"))
	if err != nil {
		return nil, conn, err
	}
	if conn.Driver != config.DriverBeanstalkd {
		return nil, conn, usageError("%s is only for beanstalkd connections; connection %s is %s", command, conn.Name, conn.Driver)
	}
	q, err := openQueue(ctx, conn, nil)
	if err != nil {
		return nil, conn, err
	}
	bq, ok := q.(*beanstalkqueue.Queue)
	if !ok {
		q.Close()
		return nil, conn, fmt.Errorf("connection %s: driver %s opened a %T", conn.Name, conn.Driver, q)
	}
	return bq, conn, nil
}
