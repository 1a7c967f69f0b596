package commands

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

func clearCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "clear",
		Usage:     "delete every job of a queue (queue:clear)",
		ArgsUsage: "[connection]",
		Description: "As `php artisan queue:clear [connection] --queue=Q`: the queue defaults to the connection's.\n" +
			"On a terminal it asks first, unless --force. Failed jobs are not touched (see `qctl flush`);\n" +
			"beanstalkd keeps jobs other workers hold reserved.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "queue", Usage: "the queue to clear, or several: `a,b` (default: the connection's queue)"},
			&cli.BoolFlag{Name: "force", Usage: "do not ask for confirmation"},
			connectionFlag(),
		},
		Action: func(c *cli.Context) error { return runClear(c, p) },
	}
}

func runClear(c *cli.Context, p *Program) error {
	if c.NArg() > 1 {
		return usageError("clear takes at most one connection name; name the queue with --queue (see `qctl clear --help`)")
	}
	ctx, conn, done, err := openConnection(c, p, 0)
	if err != nil {
		return err
	}
	defer done()
	queues := queuesFlag(c)
	if len(queues) == 0 {
		queues = []string{conn.Queue}
	}
	if !c.Bool("force") && isTerminal(p.Stdin) {
		fmt.Fprintf(p.Stdout, "Delete every job of the [%s] queue on connection [%s]? (yes/no) [no]: ", strings.Join(queues, ","), conn.Name)
		answer, _ := bufio.NewReader(p.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(p.Stdout, "Nothing cleared.")
			return nil
		}
	}
	for _, name := range queues {
		n, err := conn.Clear(ctx, name)
		if err != nil {
			return err
		}
		fmt.Fprintf(p.Stdout, "Cleared %d %s from the [%s] queue on connection [%s].\n", n, plural(n, "job", "jobs"), name, conn.Name)
	}
	return nil
}
