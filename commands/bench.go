package commands

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/internal/bench"
	"github.com/qctl/qctl/manager"
)

func benchCommand(p *Program) *cli.Command {
	return &cli.Command{
		Name:      "bench",
		Usage:     "measure a connection: enqueue and drain jobs/s, enqueue-to-start latency",
		ArgsUsage: "[connection]",
		Description: "bench works on a queue of its own (qctl-bench-<random>) and clears it when it ends.\n" +
			"enqueue: --jobs pushes from --concurrency goroutines, one at a time, then in bulk where the\n" +
			"backend can. drain: the real worker (as `work --concurrency C`) runs --jobs no-op jobs.\n" +
			"latency: --jobs pushes at a steady --rate while a worker runs them; each job's wait from\n" +
			"its push to its handler's start gives p50/p90/p99/max. all: the three in turn.\n" +
			"Progress goes to stderr every 2s, the summary to stdout.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "mode", Value: bench.ModeAll, Usage: "`enqueue`, drain, latency or all"},
			&cli.IntFlag{Name: "jobs", Value: 5000, Usage: "jobs per phase"},
			&cli.IntFlag{Name: "concurrency", Value: 4, Usage: "pushing goroutines, and the worker's --concurrency"},
			&cli.IntFlag{Name: "tries", Value: 1, Usage: "the worker's --tries (0 = unlimited; on beanstalkd it then counts attempts only on demand)"},
			&cli.IntFlag{Name: "payload-bytes", Value: 100, Usage: "padding in each job's data, in bytes"},
			&cli.Float64Flag{Name: "rate", Value: 500, Usage: "latency mode: jobs pushed per second"},
			&cli.Float64Flag{Name: "sleep", Value: 0.1, Usage: "the worker's --sleep: seconds between polls of an empty queue (database)"},
			&cli.BoolFlag{Name: "json", Usage: "print the summary as one JSON object"},
			connectionFlag(),
		},
		Action: func(c *cli.Context) error { return runBench(c, p) },
	}
}

// benchReport is the summary `qctl bench --json` prints.
type benchReport struct {
	Connection   string  `json:"connection"`
	Driver       string  `json:"driver"`
	Dialect      string  `json:"dialect,omitempty"`
	Queue        string  `json:"queue"`
	Mode         string  `json:"mode"`
	Jobs         int     `json:"jobs"`
	Concurrency  int     `json:"concurrency"`
	Tries        int     `json:"tries"`
	PayloadBytes int     `json:"payload_bytes"`
	SleepS       float64 `json:"sleep_s"`
	CPUs         int     `json:"cpus"`
	GoVersion    string  `json:"go"`
	bench.Result
}

func runBench(c *cli.Context, p *Program) error {
	if c.NArg() > 1 {
		return usageError("bench takes at most one connection name (see `qctl bench --help`)")
	}
	m, err := openManager(c, p)
	if err != nil {
		return err
	}
	name, err := connectionName(c, 0)
	if err != nil {
		return err
	}
	conn, err := m.Connection(name)
	if err != nil {
		return usageError("%v", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	opts := bench.Options{
		Mode: c.String("mode"), Jobs: c.Int("jobs"), Concurrency: c.Int("concurrency"), Tries: c.Int("tries"),
		PayloadBytes: c.Int("payload-bytes"), Rate: c.Float64("rate"),
		Queue: "qctl-bench-" + hex.EncodeToString(suffix), Connection: conn.Name,
		Lease: conn.RetryAfter, BlockFor: conn.BlockFor, Sleep: seconds(c.Float64("sleep")),
		Progress: p.Stderr,
	}
	if isTerminal(p.Stderr) { // a bar per phase with the time left, instead of a line every 2 s
		opts.Progress = nil
		opts.Phase = func(phase string, total int) (func(int64), func()) {
			bar := newProgressBar(p.Stderr, int64(total), "bench "+phase)
			return func(done int64) { _ = bar.Set64(done) }, func() { _ = bar.Finish() }
		}
	}
	if opts.Mode != bench.ModeEnqueue && opts.Mode != bench.ModeDrain && opts.Mode != bench.ModeLatency && opts.Mode != bench.ModeAll {
		return usageError("--mode %q: want enqueue, drain, latency or all", opts.Mode)
	}
	if opts.Jobs < 1 || opts.Concurrency < 1 || opts.PayloadBytes < 0 || opts.Rate <= 0 || opts.Sleep < 0 || opts.Tries < 0 {
		return usageError("--jobs, --concurrency and --rate must be positive, --payload-bytes, --sleep and --tries not negative")
	}

	ctx, cancel := stopSignals(p)
	defer cancel()
	opened, err := m.Open(ctx, name)
	if err != nil {
		return managerError(err)
	}
	defer opened.Close()
	if !opened.KeepsJobs() {
		return usageError("connection %q uses the %s driver, which stores no job: there is nothing to measure", conn.Name, conn.Driver)
	}
	opts.Encode = func(job string, data json.RawMessage) ([]byte, error) {
		return opened.Payload(job, data, manager.PushOptions{})
	}
	report := benchReport{
		Connection: conn.Name, Driver: conn.Driver, Queue: opts.Queue, Mode: opts.Mode,
		Jobs: opts.Jobs, Concurrency: opts.Concurrency, Tries: opts.Tries, PayloadBytes: opts.PayloadBytes,
		SleepS: opts.Sleep.Seconds(), CPUs: runtime.NumCPU(), GoVersion: runtime.Version(),
	}
	if conn.Driver == config.DriverDatabase {
		report.Dialect = conn.Dialect
	}
	fmt.Fprintf(p.Stderr, "Benchmarking connection [%s] on queue [%s]: %s\n", conn.Name, opts.Queue, report.setup())
	fmt.Fprintf(p.Stderr, "Phases: %s.\n", benchPlan(opts))
	report.Result, err = bench.Run(ctx, opened.Backend, opts)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("bench interrupted (queue %s cleared): %w", opts.Queue, err)
		}
		return fmt.Errorf("bench on connection %q: %w", conn.Name, err)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(p.Stdout)
		enc.SetEscapeHTML(false)
		return enc.Encode(report)
	}
	report.write(p.Stdout)
	return nil
}

// setup describes what is measured, for the summary's first line.
// benchPlan says up front what bench will do and how long what can be known will take: the
// latency phase pushes at a fixed rate; the others last as long as the backend needs.
func benchPlan(o bench.Options) string {
	latency := fmt.Sprintf("latency (%d jobs at %.0f/s: about %s)", o.Jobs, o.Rate,
		time.Duration(float64(o.Jobs)/o.Rate*float64(time.Second)).Round(time.Second))
	switch o.Mode {
	case bench.ModeEnqueue:
		return "enqueue, one at a time then in bulk"
	case bench.ModeDrain:
		return "enqueue in bulk, then drain"
	case bench.ModeLatency:
		return latency
	}
	return "enqueue one at a time, enqueue in bulk, drain, " + latency + "; each phase shows its progress"
}

func (r *benchReport) setup() string {
	backend := r.Driver
	if r.Dialect != "" {
		backend += "/" + r.Dialect
	}
	return fmt.Sprintf("%s, %d jobs, concurrency %d, tries %d, payload padding %d B, %d CPUs, %s",
		backend, r.Jobs, r.Concurrency, r.Tries, r.PayloadBytes, r.CPUs, r.GoVersion)
}

// write prints the human summary: one aligned line per figure.
func (r *benchReport) write(w io.Writer) {
	fmt.Fprintf(w, "qctl bench [%s] %s\n", r.Connection, r.setup())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	line := func(label string, t *bench.Throughput) {
		if t != nil {
			fmt.Fprintf(tw, "%s\t%d jobs in %.2fs\t%.0f jobs/s\n", label, t.Jobs, t.Seconds, t.PerSecond)
		}
	}
	line("enqueue (one at a time)", r.Enqueue)
	line("enqueue (bulk)", r.EnqueueBulk)
	if r.Enqueue != nil && r.EnqueueBulk == nil {
		fmt.Fprintf(tw, "enqueue (bulk)\tnot supported by the %s driver\t\n", r.Driver)
	}
	line("drain", r.Drain)
	if l := r.Latency; l != nil {
		fmt.Fprintf(tw, "latency at %.0f jobs/s\t%d jobs, achieved %.0f jobs/s\tp50 %s  p90 %s  p99 %s  max %s\n",
			l.Rate, l.Jobs, l.AchievedRate, ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max))
	}
	tw.Flush()
}

// ms prints milliseconds with a precision that suits their size.
func ms(v float64) string {
	switch {
	case v < 10:
		return fmt.Sprintf("%.2fms", v)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	}
	return fmt.Sprintf("%.0fms", v)
}
