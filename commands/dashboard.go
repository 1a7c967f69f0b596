package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/dashboard"
)

func dashboardCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:  "dashboard",
		Usage: "serve a web dashboard of every connection's queues, jobs and failed jobs",
		Description: "One site for every connection in the config, whatever its backend. It listens on\n" +
			"127.0.0.1 unless told otherwise, and refuses an address other machines can reach unless\n" +
			"--auth or --read-only is given. Every action is a POST with a CSRF token, and is logged\n" +
			"to stderr with who did it and how many jobs it touched. No DSN or password is shown.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8080", Usage: "address to serve on: `host:port`"},
			&cli.StringFlag{Name: "auth", EnvVars: []string{"QCTL_DASHBOARD_AUTH"}, Usage: "require HTTP basic authentication as `user:password`"},
			&cli.BoolFlag{Name: "read-only", Usage: "show everything, change nothing"},
		},
		Action: func(c *cli.Context) error { return runDashboard(c, p) },
	}
}

func runDashboard(c *cli.Context, p *Program) error {
	if c.NArg() > 0 {
		return usageError("dashboard takes no arguments: it shows every connection (see `qctl dashboard --help`)")
	}
	o := dashboard.Options{Auth: c.String("auth"), ReadOnly: c.Bool("read-only"), Log: p.Stderr}
	if o.Auth != "" {
		if user, pass, ok := strings.Cut(o.Auth, ":"); !ok || user == "" || pass == "" {
			return usageError("--auth wants user:password, both non-empty")
		}
	}
	addr := c.String("listen")
	if err := dashboard.CheckListen(addr, o); err != nil {
		return usageError("%v", err)
	}
	m, err := openManager(c, p)
	if err != nil {
		return err
	}
	ctx, cancel := stopSignals(p)
	defer cancel()
	d := dashboard.New(m, o)
	defer d.Close()
	err = dashboard.Serve(ctx, addr, d, func(bound string) {
		mode := ""
		if o.ReadOnly {
			mode = " (read-only)"
		}
		fmt.Fprintf(p.Stdout, "qctl dashboard%s on http://%s/\n", mode, bound)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}
