package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/laravel"
	"github.com/qctl/qctl/listener"
	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/worker"
)

func workCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "work",
		Usage:     "run a long-lived worker that pops and runs jobs (queue:work)",
		ArgsUsage: "[connection]",
		Flags:     workerFlags(),
		Action: func(c *cli.Context) error {
			return runWork(c, p)
		},
	}
}

// jobRuleFlags are the flags that decide what happens to a job, shared by `work` and `listen` (which
// passes them to its children), so a job behaves alike under both.
func jobRuleFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "queue", Usage: "queues to pop, highest priority first: `high,low` (default: the connection's queue)"},
		&cli.IntFlag{Name: "tries", Value: 1, Usage: "attempts per job unless its payload sets maxTries (0 = unlimited)"},
		&cli.StringFlag{Name: "backoff", Value: "0", Usage: "seconds before retrying a failed job: `1,5,10` indexed by attempt, the last repeats"},
		&cli.StringFlag{Name: "delay", Usage: "old name of --backoff", Hidden: true},
	}
}

// workerFlags are the flags `work` takes.
func workerFlags() []cli.Flag {
	return append(jobRuleFlags(),
		&cli.BoolFlag{Name: "once", Usage: "process one job (or none) and stop"},
		&cli.BoolFlag{Name: "stop-when-empty", Usage: "stop when every queue is empty"},
		&cli.Float64Flag{Name: "sleep", Value: 3, Usage: "seconds to sleep when no job is available"},
		&cli.Float64Flag{Name: "rest", Value: 0, Usage: "seconds to rest after each job"},
		&cli.IntFlag{Name: "timeout", Value: 60, Usage: "seconds a job may run unless its payload sets timeout (0 = no limit)"},
		&cli.IntFlag{Name: "memory", Value: 128, Usage: "stop (exit 12) after the current job once resident memory passes this many MB (0 = no limit)"},
		&cli.IntFlag{Name: "max-jobs", Usage: "stop after this many jobs (0 = no limit)"},
		&cli.IntFlag{Name: "max-time", Usage: "stop after this many seconds (0 = no limit)"},
		&cli.IntFlag{Name: "concurrency", Value: 1, Usage: "jobs run at once in this process"},
		&cli.BoolFlag{Name: "force", Usage: "run even in maintenance mode (accepted for Laravel compatibility)"},
		&cli.BoolFlag{Name: "daemon", Usage: "accepted for `queue:work --daemon` habits: qctl work is always long-lived"},
		&cli.StringFlag{Name: "name", Value: "default", Usage: "worker name shown in events"},
		&cli.BoolFlag{Name: "json", Usage: "print one JSON object per event instead of a line per job"},
		&cli.BoolFlag{Name: "no-ansi", Usage: "no colour, even on a terminal (as NO_COLOR)"},
		// Tests run several workers "on several hosts" with fast heartbeats.
		&cli.Float64Flag{Name: "heartbeat", Hidden: true, Usage: "seconds between heartbeats (default 2)"},
		&cli.StringFlag{Name: "host", Hidden: true, Usage: "host name shown in `qctl workers`"},
		// `qctl supervise` names itself and the pool on each child it starts.
		&cli.StringFlag{Name: "master", Hidden: true, Usage: "the `ID` of the supervise master that started this worker"},
		&cli.StringFlag{Name: "supervisor", Hidden: true, Usage: "the supervisor (pool) `NAME` this worker belongs to"},
		metricsAddrFlag(),
		connectionFlag(),
	)
}

// workerSetup is everything a worker needs, opened from the config and flags.
type workerSetup struct {
	conn     *manager.Conn
	failed   manager.FailedLogger
	handlers *jobs.Registry
	opts     worker.Options
	report   worker.Reporter
	duties   *laravel.Duties
}

func (s *workerSetup) close() {
	if s.conn != nil {
		s.conn.Close()
	}
	if s.failed != nil {
		s.failed.Close()
	}
	if s.duties != nil {
		s.duties.Close()
	}
}

func openWorker(ctx context.Context, c *cli.Context, p *Program) (*workerSetup, error) {
	m, err := openManager(c, p)
	if err != nil {
		return nil, err
	}
	opts, err := workerOptions(c)
	if err != nil {
		return nil, err
	}
	name, err := connectionName(c, 0)
	if err != nil {
		return nil, err
	}
	conn, err := m.Connection(name)
	if err != nil {
		return nil, usageError("%v", err)
	}
	s := &workerSetup{handlers: m.Handlers()}
	opts.Connection, opts.Lease, opts.BlockFor, opts.BuryFailed = conn.Name, conn.RetryAfter, conn.BlockFor, conn.BuryFailed
	if len(opts.Queues) == 0 {
		opts.Queues = []string{conn.Queue}
	}
	s.opts = opts
	switch {
	case c.Bool("json"):
		s.report = worker.JSONReporter(p.Stdout)
	case colour(c, p.Stdout):
		s.report = worker.ColourTextReporter(p.Stdout)
	default:
		s.report = worker.TextReporter(p.Stdout)
	}
	if listener.Child() != nil {
		s.report = quietWhenIdle(s.report)
	}
	s.report = listener.ChildEvents(s.report) // a `listen` child's events also feed the listener's metrics
	warnFailedDiscarded(p, m)
	open := func(ctx context.Context) error {
		// A `listen` child opens the failed store only when a job fails: its listener has opened
		// and checked it already, and a child per job should not pay a connection it rarely needs.
		failed, err := m.FailedLogger(ctx, listener.Child() != nil)
		if err != nil {
			return err
		}
		if s.conn, err = m.Open(ctx, name); err != nil {
			failed.Close()
			return managerError(err)
		}
		if s.duties, err = m.Duties(ctx); err != nil {
			failed.Close()
			s.conn.Close()
			return managerError(err)
		}
		s.failed = failed
		return nil
	}
	if listener.Child() != nil {
		err = open(ctx) // a `listen` child: its listener backs off when children cannot connect
	} else {
		err = worker.WaitForBackend(ctx, worker.Deps{Report: s.report}, open)
	}
	if err != nil {
		return nil, err
	}
	if err := s.conn.CheckQueues(opts.Queues...); err != nil {
		s.close()
		return nil, managerError(err)
	}
	return s, nil
}

// quietWhenIdle drops a `listen` child's "stopped: empty": an idle listener starts a child every
// --sleep, and two lines each would be thousands an hour saying nothing. Its jobs' lines remain.
func quietWhenIdle(report worker.Reporter) worker.Reporter {
	return func(e worker.Event) {
		if e.Type == worker.EventStopped && e.Reason == worker.StopEmpty {
			return
		}
		report(e)
	}
}

// warnFailedDiscarded says once, at a worker's start, that failed jobs will be dropped, as
// Laravel's null failer does silently: an operator reading the log should know.
func warnFailedDiscarded(p *Program, m *manager.Manager) {
	if m.FailedDiscarded() && listener.Child() == nil {
		fmt.Fprintln(p.Stderr, `qctl: warning: [failed] driver = "null": jobs that fail are discarded, not recorded`)
	}
}

func runWork(c *cli.Context, p *Program) error {
	ctx := context.Background()
	if c.Bool("daemon") {
		fmt.Fprintln(p.Stderr, "qctl: note: --daemon is not needed: qctl work always keeps running (it is accepted and ignored)")
	}
	waitCtx, stopWaiting := stopSignals(p) // a stop while waiting for the backend ends the wait
	s, err := openWorker(waitCtx, c, p)
	stopped := waitCtx.Err() != nil
	stopWaiting()
	if err != nil && stopped && errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		return err
	}
	defer s.close()
	stopMetrics, err := startMetrics(c, p, s, s.handlers)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if _, ok := s.conn.Backend.(connectors.LeaseExtender); !ok && s.opts.Timeout > 0 && s.conn.RetryAfter > 0 && s.opts.Timeout >= s.conn.RetryAfter {
		fmt.Fprintf(p.Stderr, "qctl: warning: --timeout (%s) is not shorter than retry_after (%s) of connection %q, whose backend cannot extend a lease: a long job may run twice\n", s.opts.Timeout, s.conn.RetryAfter, s.conn.Name)
	}
	w := worker.New(worker.Deps{Queue: s.conn.Backend, Handlers: s.handlers, Failed: s.failed, Report: s.report,
		Watch: listener.ChildReporter(), Duties: s.duties, Heartbeat: heartbeat(ctx, c, p, s.conn)}, s.opts)
	if !c.Bool("json") && listener.Child() == nil { // a `listen` child: its listener said where it listens
		fmt.Fprintf(p.Stdout, "Processing jobs from the [%s] queue on connection [%s].\n", strings.Join(s.opts.Queues, ","), s.conn.Name)
	}
	done := make(chan struct{})
	defer close(done)
	go relaySignals(p, w, done)
	if !listener.WaitForGate() {
		return nil // started ahead by `listen`, which is stopping: pop nothing
	}
	reason, err := w.Run(ctx)
	if err != nil {
		return err
	}
	if code := reason.ExitCode(); code != 0 {
		return withStatus(code, fmt.Errorf("worker stopped: %s", reason))
	}
	return nil
}

// heartbeat registers a worker in its connection's fleet store, or returns nil when the
// connection has none. A `listen` child obeys pauses but is not listed: it runs one job.
// A fleet store that cannot be opened is a warning: the worker runs jobs all the same.
func heartbeat(ctx context.Context, c *cli.Context, p *Program, conn *manager.Conn) *worker.Heartbeat {
	child := listener.ChildReporter() != nil
	hb, err := conn.Heartbeat(ctx, manager.HeartbeatOptions{Host: c.String("host"), Interval: seconds(c.Float64("heartbeat")),
		Master: c.String("master"), Supervisor: c.String("supervisor")})
	if hb != nil {
		hb.Unlisted = child
	}
	if err != nil {
		if !errors.Is(err, manager.ErrNotSupported) && !child {
			fmt.Fprintf(p.Stderr, "qctl: warning: this worker will not be listed by `qctl workers` nor obey `qctl pause`: %v\n", err)
		}
		return nil
	}
	return hb
}

// controls is what signals steer: a worker, or a listener and its children.
type controls interface {
	Stop()
	Kill()
	Pause()
	Resume()
}

// relaySignals turns process signals into controls: the first TERM/INT/QUIT stops popping and
// lets running jobs finish, a second one cancels them (they are released); USR2 pauses and CONT
// resumes.
func relaySignals(p *Program, w controls, done <-chan struct{}) {
	if p.Signals == nil {
		return
	}
	stops := 0
	for {
		select {
		case <-done:
			return
		case s := <-p.Signals:
			switch s {
			case syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT:
				if stops++; stops == 1 {
					w.Stop()
				} else {
					w.Kill()
				}
			case syscall.SIGUSR2:
				w.Pause()
			case syscall.SIGCONT:
				w.Resume()
			}
		}
	}
}

// backoffFlag reads --backoff, or its old name --delay when only that is given.
func backoffFlag(c *cli.Context) (string, []time.Duration, error) {
	flag := c.String("backoff")
	if c.IsSet("delay") && !c.IsSet("backoff") {
		flag = c.String("delay")
	}
	list, err := jobs.ParseBackoff(flag)
	if err != nil {
		return flag, nil, usageError("--backoff %q: %v", flag, err)
	}
	return flag, list, nil
}

// workerOptions reads the worker flags, rejecting values that make no sense.
func workerOptions(c *cli.Context) (worker.Options, error) {
	_, backoff, err := backoffFlag(c)
	if err != nil {
		return worker.Options{}, err
	}
	o := worker.Options{
		Tries:         c.Int("tries"),
		Backoff:       backoff,
		Sleep:         seconds(c.Float64("sleep")),
		Rest:          seconds(c.Float64("rest")),
		Timeout:       time.Duration(c.Int("timeout")) * time.Second,
		Memory:        uint64(c.Int("memory")) << 20,
		MaxJobs:       c.Int("max-jobs"),
		MaxTime:       time.Duration(c.Int("max-time")) * time.Second,
		Concurrency:   c.Int("concurrency"),
		Once:          c.Bool("once"),
		StopWhenEmpty: c.Bool("stop-when-empty"),
		Name:          c.String("name"),
		Queues:        queuesFlag(c),
	}
	for flag, v := range map[string]int{"tries": o.Tries, "timeout": c.Int("timeout"), "memory": c.Int("memory"), "max-jobs": o.MaxJobs, "max-time": c.Int("max-time")} {
		if v < 0 {
			return o, usageError("--%s must not be negative (got %d)", flag, v)
		}
	}
	if o.Concurrency < 1 {
		return o, usageError("--concurrency must be at least 1 (got %d)", o.Concurrency)
	}
	if o.Sleep < 0 || o.Rest < 0 {
		return o, usageError("--sleep and --rest must not be negative")
	}
	return o, nil
}

func seconds(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }
