package commands

import (
	"fmt"
	"net"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/internal/metrics"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// metricsAddrFlag is `--metrics-addr`, for `work` (and any command that runs workers).
func metricsAddrFlag() cli.Flag {
	return &cli.StringFlag{Name: "metrics-addr",
		Usage: "serve Prometheus metrics on `ADDR` (\"127.0.0.1:9090\"; \":9090\" is every interface, without authentication): GET /metrics and GET /healthz"}
}

// startMetrics serves the worker's metrics when `work --metrics-addr` is set, wrapping s.report so
// every event is counted. The returned stop is safe to call twice; without the flag it does
// nothing.
func startMetrics(c *cli.Context, p *Program, s *workerSetup, handlers *jobs.Registry) (stop func(), err error) {
	report, stop, err := serveMetrics(c, p, s.conn.Name, s.opts.Name, s.conn.Backend, s.opts.Queues, handlers, s.report)
	if err == nil {
		s.report = report
	}
	return stop, err
}

// serveMetrics starts the metrics server of --metrics-addr for a worker (or listener) named name
// on connection, sampling the depth of queues when q is a connectors.Inspector, and returns report
// wrapped to feed it. It binds the address before returning, so a taken port fails before any job
// runs: a malformed address is a usage error (exit 2), a taken one an error (exit 1). Without
// --metrics-addr it returns report as it is and a stop that does nothing. Jobs are labelled by name
// only when handlers has a handler for it (see metrics.LimitJobs).
func serveMetrics(c *cli.Context, p *Program, connection, name string, q connectors.Queue, queues []string, handlers *jobs.Registry, report worker.Reporter) (worker.Reporter, func(), error) {
	addr := c.String("metrics-addr")
	if addr == "" {
		return report, func() {}, nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, nil, usageError("--metrics-addr %q: %v (want host:port or :port)", addr, err)
	}
	m := metrics.New(connection, name)
	m.LimitJobs(handlers.Handles)
	inspector, _ := q.(connectors.Inspector)
	srv := metrics.NewServer(m, metrics.ServerOptions{Addr: addr, Inspector: inspector, Queues: queues})
	if err := srv.Start(); err != nil {
		return nil, nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	announce := p.Stdout
	if c.Bool("json") {
		announce = p.Stderr // stdout is one JSON object per line
	}
	fmt.Fprintf(announce, "Serving metrics on http://%s/metrics\n", srv.Addr())
	if !srv.Loopback() {
		fmt.Fprintf(p.Stderr, "qctl: warning: --metrics-addr %s listens on more than this machine's loopback, without authentication: anyone who reaches it reads job names, queues and counts (use 127.0.0.1:PORT unless a firewall guards the port)\n", addr)
	}
	return m.Reporter(report), srv.Stop, nil
}
