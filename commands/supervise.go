package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/supervisor"
)

func superviseCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "supervise",
		Usage:     "run the [supervisors.NAME] pools of workers and balance them over their queues (horizon)",
		ArgsUsage: "[NAME...]",
		Description: "One master per machine, as `php artisan horizon`: it starts `qctl work` children for each\n" +
			"supervisor in queue.toml (all, or those named), replaces a child that exits (with backoff when\n" +
			"they keep failing), recycles one past its memory limit, and with balance = \"auto\" moves\n" +
			"processes to the queues whose backlog is largest, at most balance_max_shift per queue every\n" +
			"balance_cooldown. TERM or INT (or `qctl terminate --master=ID`) stops every child after its\n" +
			"jobs, then the master exits 0. The master and its children are listed by `qctl workers`,\n" +
			"grouped by master and supervisor.",
		Flags: []cli.Flag{
			// Tests run masters "on several hosts" with fast heartbeats; children get the same.
			&cli.Float64Flag{Name: "heartbeat", Hidden: true, Usage: "seconds between heartbeats, the master's and its children's (default 2)"},
			&cli.StringFlag{Name: "host", Hidden: true, Usage: "host name shown in `qctl workers`, the master's and its children's"},
		},
		Action: func(c *cli.Context) error { return runSupervise(c, p) },
	}
}

func runSupervise(c *cli.Context, p *Program) error {
	m, err := openManager(c, p)
	if err != nil {
		return err
	}
	cfg := m.Config()
	names := c.Args().Slice()
	if len(names) == 0 {
		names = supervisorNames(cfg)
	}
	if len(names) == 0 {
		return usageError("queue.toml has no [supervisors.NAME] section: nothing to supervise")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the qctl executable to run workers with: %w", err)
	}
	var global []string
	if path := c.String("config"); path != "" && c.IsSet("config") {
		global = append(global, "--config", path)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conns := map[string]*manager.Conn{}
	defer func() {
		for _, conn := range conns {
			conn.Close()
		}
	}()
	host := c.String("host")
	if host == "" {
		host, _ = os.Hostname()
	}
	var childArgs []string
	if c.IsSet("heartbeat") {
		childArgs = append(childArgs, "--heartbeat", strconv.FormatFloat(c.Float64("heartbeat"), 'f', -1, 64))
	}
	if c.IsSet("host") {
		childArgs = append(childArgs, "--host", host)
	}
	registries := map[string]supervisor.Registry{}
	var pools []supervisor.Pool
	for _, name := range names {
		s, ok := cfg.Supervisors[name]
		if !ok {
			return usageError("no supervisor named %q in queue.toml (known: %s)", name, strings.Join(supervisorNames(cfg), ", "))
		}
		if _, ok := conns[s.Connection]; !ok {
			conn, err := m.Open(ctx, s.Connection)
			if err != nil {
				return managerError(err)
			}
			conns[s.Connection] = conn
			reg, err := conn.Registration(ctx)
			switch {
			case err == nil:
				registries[s.Connection] = reg
			case errors.Is(err, manager.ErrNotSupported) && s.FleetMax > 0:
				return usageError("supervisor %q: fleet_max_processes needs the worker registry: %v", name, err)
			case errors.Is(err, manager.ErrNotSupported):
			default:
				return managerError(err)
			}
		}
		pools = append(pools, poolOf(s))
	}
	master := supervisor.New(supervisor.Options{
		Executable: exe, GlobalArgs: global, Pools: pools, Stdout: p.Stdout, Stderr: p.Stderr,
		ID: manager.NewID(host), Host: host, Registries: registries, Beat: seconds(c.Float64("heartbeat")),
		ChildArgs: childArgs, Version: manager.Version(),
		Load: func(ctx context.Context, pool *supervisor.Pool) (map[string]int64, error) {
			snap, err := conns[pool.Connection].Snapshot(ctx, nil, pool.Queues)
			if err != nil {
				return nil, err
			}
			sizes := map[string]int64{}
			for _, q := range snap.Queues {
				sizes[q.Queue] = q.Ready
			}
			return sizes, nil
		},
	})
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-p.Signals:
				if s == syscall.SIGTERM || s == syscall.SIGINT || s == syscall.SIGQUIT {
					master.Stop()
				}
			}
		}
	}()
	return master.Run(ctx)
}

// poolOf turns a [supervisors.NAME] section into the master's pool and its children's flags.
func poolOf(s config.Supervisor) supervisor.Pool {
	backoff := make([]string, len(s.Backoff))
	for i, d := range s.Backoff {
		backoff[i] = strconv.FormatInt(int64(d.Seconds()), 10)
	}
	if len(backoff) == 0 {
		backoff = []string{"0"}
	}
	args := []string{
		"--tries", strconv.Itoa(s.Tries), "--backoff", strings.Join(backoff, ","),
		"--timeout", strconv.Itoa(int(s.Timeout.Seconds())), "--memory", strconv.Itoa(s.Memory),
		"--sleep", strconv.FormatFloat(s.Sleep.Seconds(), 'f', -1, 64), "--concurrency", strconv.Itoa(s.Concurrency),
	}
	return supervisor.Pool{
		Name: s.Name, Connection: s.Connection, Queues: s.Queues, Cooldown: s.BalanceCooldown,
		Scaling:  supervisor.Scaling{Balance: s.Balance, Min: s.MinProcesses, Max: s.MaxProcesses, MaxShift: s.BalanceMaxShift},
		ByTime:   s.AutoScalingStrategy == config.ScaleByTime,
		WorkArgs: args, FleetMax: s.FleetMax,
		// A child stops itself past --memory between jobs; the master steps in at twice that.
		Memory: uint64(s.Memory) << 21,
	}
}

func supervisorNames(cfg *config.Config) []string {
	var names []string
	for name := range cfg.Supervisors {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
