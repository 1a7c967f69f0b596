package commands

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/listener"
	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/worker"
)

func listenCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "listen",
		Usage:     "run each job in a fresh `work --once` process, killing any that runs too long or too big (queue:listen)",
		ArgsUsage: "[connection]",
		Description: "Each child process pops one job, runs it and exits. A child that runs past --timeout or\n" +
			"grows past --memory is killed with everything it started; its job is released (or failed when\n" +
			"out of tries) at once, and the listener goes on. Use it for handlers that leak or hang; use\n" +
			"`work` when a process per job costs too much.",
		Flags: append(jobRuleFlags(),
			&cli.Float64Flag{Name: "sleep", Value: 3, Usage: "seconds to wait after a child found no job"},
			&cli.Float64Flag{Name: "rest", Value: 0, Usage: "seconds a child rests after its job"},
			&cli.IntFlag{Name: "timeout", Value: 60, Usage: "seconds a child may run before it is killed (0 = no limit)"},
			&cli.IntFlag{Name: "memory", Value: 128, Usage: "MB of resident memory a child may use before it is killed; also the listener's own limit (0 = none)"},
			&cli.IntFlag{Name: "processes", Value: 1, Usage: "children running at once"},
			&cli.BoolFlag{Name: "force", Usage: "accepted for Laravel compatibility"},
			&cli.StringFlag{Name: "name", Value: "listen", Usage: "listener name; children are NAME-1, NAME-2, ..."},
			&cli.BoolFlag{Name: "json", Usage: "one JSON object per event (children's too)"},
			// Tests run listeners "on several hosts" with fast heartbeats.
			&cli.Float64Flag{Name: "heartbeat", Hidden: true, Usage: "seconds between heartbeats (default 2)"},
			&cli.StringFlag{Name: "host", Hidden: true, Usage: "host name shown in `qctl workers`"},
			metricsAddrFlag(),
			connectionFlag(),
		),
		Action: func(c *cli.Context) error { return runListen(c, p) },
	}
}

func runListen(c *cli.Context, p *Program) error {
	m, err := openManager(c, p)
	if err != nil {
		return err
	}
	connName, err := connectionName(c, 0)
	if err != nil {
		return err
	}
	if _, err := m.Connection(connName); err != nil {
		return usageError("%v", err)
	}
	backoffText, backoff, err := backoffFlag(c)
	if err != nil {
		return err
	}
	for _, f := range []string{"tries", "timeout", "memory"} {
		if c.Int(f) < 0 {
			return usageError("--%s must not be negative", f)
		}
	}
	if c.Int("processes") < 1 {
		return usageError("--processes must be at least 1")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the qctl executable to run children with: %w", err)
	}

	// The child's worker flags: the same job rules, so a job behaves alike under work and listen.
	workArgs := []string{}
	if connName != "" {
		workArgs = append(workArgs, connName)
	}
	if q := c.String("queue"); q != "" {
		workArgs = append(workArgs, "--queue", q)
	}
	workArgs = append(workArgs,
		"--tries", strconv.Itoa(c.Int("tries")),
		"--backoff", backoffText,
		"--timeout", strconv.Itoa(c.Int("timeout")),
		"--memory", strconv.Itoa(c.Int("memory")),
		"--rest", strconv.FormatFloat(c.Float64("rest"), 'f', -1, 64),
	)
	if c.Bool("json") {
		workArgs = append(workArgs, "--json")
	}
	var global []string
	if path := c.String("config"); path != "" && c.IsSet("config") {
		global = append(global, "--config", path)
	}

	ctx := context.Background()
	warnFailedDiscarded(p, m)
	report := worker.TextReporter(p.Stdout)
	if c.Bool("json") {
		report = worker.JSONReporter(p.Stdout)
	}
	var (
		store manager.FailedLogger
		conn  *manager.Conn
	)
	waitCtx, stopWaiting := stopSignals(p) // a stop while waiting for the backend ends the wait
	named := func(e worker.Event) { e.Worker = c.String("name"); report(e) }
	err = worker.WaitForBackend(waitCtx, worker.Deps{Report: named}, func(ctx context.Context) error {
		s, err := m.FailedLogger(ctx, false)
		if err != nil {
			return err
		}
		if conn, err = m.Open(ctx, connName); err != nil {
			s.Close()
			return managerError(err)
		}
		store = s
		return nil
	})
	stopped := waitCtx.Err() != nil
	stopWaiting()
	if err != nil && stopped && errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		return err
	}
	defer store.Close()
	defer conn.Close()
	queues := queuesFlag(c)
	if err := conn.CheckQueues(queues...); err != nil {
		return managerError(err)
	}
	if len(queues) == 0 {
		queues = []string{conn.Queue}
	}

	// Metrics count the children's job events (sent on their report pipe) and the listener's own;
	// only the listener's own are printed here, the children print theirs.
	name := c.String("name")
	counted, stopMetrics, err := serveMetrics(c, p, conn.Name, name, conn.Backend, queues, m.Handlers(), func(e worker.Event) {
		if e.Worker == name {
			report(e)
		}
	})
	if err != nil {
		return err
	}
	defer stopMetrics()
	l := listener.New(listener.Deps{Queue: conn.Backend, Failed: store, Report: counted, Observe: counted, Stdout: p.Stdout, Stderr: p.Stderr, Memory: worker.ResidentMemory},
		listener.Options{
			Executable: exe, GlobalArgs: global, WorkArgs: workArgs, Connection: conn.Name, Name: c.String("name"),
			Processes: c.Int("processes"), Timeout: time.Duration(c.Int("timeout")) * time.Second,
			Memory: uint64(c.Int("memory")) << 20, Sleep: seconds(c.Float64("sleep")),
			Tries: c.Int("tries"), Backoff: backoff, JSON: c.Bool("json"),
		})
	if !c.Bool("json") {
		queues := c.String("queue")
		if queues == "" {
			queues = conn.Queue
		}
		fmt.Fprintf(p.Stdout, "Listening for jobs on the [%s] queue of connection [%s], %d at a time.\n",
			strings.TrimSpace(queues), conn.Name, c.Int("processes"))
	}
	if reg, err := conn.Registration(ctx); err == nil {
		host := c.String("host")
		if host == "" {
			host, _ = os.Hostname()
		}
		leave := l.Register(listener.Registration{Registry: reg, ID: manager.NewID(host), Host: host, Queues: queues,
			Interval: seconds(c.Float64("heartbeat")), Version: manager.Version()})
		defer leave()
	} else if !errors.Is(err, manager.ErrNotSupported) {
		fmt.Fprintf(p.Stderr, "qctl: warning: this listener will not be listed by `qctl workers` nor obey `qctl terminate`: %v\n", err)
	}
	done := make(chan struct{})
	defer close(done)
	go relaySignals(p, l, done)
	reason, err := l.Run(ctx)
	if err != nil {
		return err
	}
	if code := reason.ExitCode(); code != 0 {
		return withStatus(code, fmt.Errorf("listener stopped: %s", reason))
	}
	return nil
}
