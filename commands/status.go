package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/failed"
)

func statusCommand(p *Program) *cli.Command {
	watch := &watchValue{}
	return &cli.Command{
		Name:      "status",
		Usage:     "show each queue's ready, delayed and reserved jobs, oldest ready job and failed jobs",
		ArgsUsage: "[connection]",
		Description: "Without --queue, status shows the connection's queue and every queue the backend holds:\n" +
			"the distinct queues of the jobs table, the Redis keys queues:* under the prefix, or\n" +
			"beanstalkd's tubes. A job whose lease ran out counts as ready. The failed column counts\n" +
			"the failed-job store's records for the queue name (any connection).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "queue", Usage: "show only these queues: `a,b`"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object per snapshot"},
			&cli.GenericFlag{Name: "watch", Value: watch,
				Usage: "redraw every 2s until interrupted; `--watch 5s` or --watch=5s for another interval"},
		},
		Action: func(c *cli.Context) error { return runStatus(c, p, watch) },
	}
}

// watchValue is --watch: a flag that works alone (every defaultWatch) or with a value
// (--watch=5s, --watch=0.5). It tells the flag package it is boolean so that --watch needs no value.
type watchValue struct {
	every time.Duration // 0 = not watching
}

const defaultWatch = 2 * time.Second

func (w *watchValue) IsBoolFlag() bool { return true }

func (w *watchValue) String() string {
	if w == nil || w.every == 0 {
		return ""
	}
	return w.every.String()
}

func (w *watchValue) Set(s string) error {
	switch s {
	case "true":
		w.every = defaultWatch
		return nil
	case "false":
		w.every = 0
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil {
			return fmt.Errorf("%q is not an interval (like 5s or 0.5)", s)
		}
		d = seconds(f)
	}
	if d < 100*time.Millisecond {
		return fmt.Errorf("%q is shorter than 100ms", s)
	}
	w.every = d
	return nil
}

// queueStatus is one row of `qctl status`.
type queueStatus struct {
	Queue    string   `json:"queue"`
	Ready    int64    `json:"ready"`
	Delayed  int64    `json:"delayed"`
	Reserved int64    `json:"reserved"`
	Buried   int64    `json:"buried"`
	OldestS  *float64 `json:"oldest_ready_age_s"` // null when nothing is ready or its age is unknown
	Failed   *int64   `json:"failed"`             // null when the failed store could not be read
}

// statusSnapshot is everything one round of `qctl status` shows.
type statusSnapshot struct {
	Connection string        `json:"connection"`
	Driver     string        `json:"driver"`
	Time       time.Time     `json:"time"`
	Queues     []queueStatus `json:"queues"`
	FailedNote string        `json:"failed_note,omitempty"` // why the failed counts are missing
}

func runStatus(c *cli.Context, p *Program, watch *watchValue) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return err
	}
	args := c.Args().Slice()
	// `--watch 5s`: the flag takes no separate value, so its interval arrives as an argument.
	if watch.every > 0 && len(args) > 0 {
		if _, err := cfg.Connection(args[0]); err != nil && watch.Set(args[0]) == nil {
			args = args[1:]
			if len(args) > 0 && args[0] == "--" { // interspersed put the connection after "--"
				args = args[1:]
			}
		}
	}
	if len(args) > 1 {
		return usageError("status takes at most one connection name (see `qctl status --help`)")
	}
	var name string
	if len(args) == 1 {
		name = args[0]
	}
	conn, err := connection(cfg, name)
	if err != nil {
		return err
	}
	ctx, cancel := stopSignals(p)
	defer cancel()
	q, err := openQueue(ctx, conn, nil)
	if err != nil {
		return err
	}
	defer q.Close()
	inspector, ok := q.(connectors.Inspector)
	if !ok {
		return fmt.Errorf("connection %q (%s) cannot report queue statistics", conn.Name, conn.Driver)
	}
	var store *failed.Store
	var failedNote string
	if store, err = openFailed(ctx, cfg); err != nil {
		store, failedNote = nil, "failed counts unavailable: "+err.Error()
	} else {
		defer store.Close()
	}
	var only []string
	for _, name := range strings.Split(c.String("queue"), ",") {
		if name = strings.TrimSpace(name); name != "" {
			only = append(only, name)
		}
	}

	terminal := isTerminal(p.Stdout) && !c.Bool("json")
	for first := true; ; first = false {
		snap, err := takeSnapshot(ctx, conn, inspector, store, only)
		snap.FailedNote = failedNote
		switch {
		case err != nil && ctx.Err() != nil && !first:
			return nil // interrupted while watching
		case err != nil && (first || watch.every == 0):
			return err
		case err != nil: // a watch outlives a backend that went away for a moment
			fmt.Fprintf(p.Stderr, "%s qctl: %v\n", time.Now().Format(time.DateTime), err)
		case c.Bool("json"):
			enc := json.NewEncoder(p.Stdout)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(snap); err != nil {
				return err
			}
		case watch.every > 0 && terminal:
			fmt.Fprint(p.Stdout, "\x1b[H\x1b[2J") // home, clear: redraw in place
			fmt.Fprintf(p.Stdout, "Every %s: qctl status %s    %s\n\n", watch.every, conn.Name, snap.Time.Format(time.DateTime))
			writeStatusTable(p.Stdout, snap)
		case watch.every > 0:
			if !first {
				fmt.Fprintln(p.Stdout)
			}
			fmt.Fprintf(p.Stdout, "%s connection %s\n", snap.Time.Format(time.DateTime), conn.Name)
			writeStatusTable(p.Stdout, snap)
		default:
			writeStatusTable(p.Stdout, snap)
		}
		if watch.every == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watch.every):
		}
	}
}

// takeSnapshot reads every shown queue once. only, when set, names the queues; otherwise they are
// the connection's queue plus whatever the backend lists.
func takeSnapshot(ctx context.Context, conn config.Connection, in connectors.Inspector, store *failed.Store, only []string) (statusSnapshot, error) {
	snap := statusSnapshot{Connection: conn.Name, Driver: conn.Driver, Time: time.Now()}
	names := only
	if len(names) == 0 {
		listed, err := in.Queues(ctx)
		if err != nil {
			return snap, fmt.Errorf("listing the queues of connection %q: %w", conn.Name, err)
		}
		names = append(listed, conn.Queue)
		slices.Sort(names)
		names = slices.Compact(names)
	}
	for _, name := range names {
		st, err := in.QueueStats(ctx, name)
		if err != nil {
			return snap, fmt.Errorf("reading queue %q of connection %q: %w", name, conn.Name, err)
		}
		row := queueStatus{Queue: name, Ready: st.Ready, Delayed: st.Delayed, Reserved: st.Reserved, Buried: st.Buried}
		if st.Ready > 0 && !st.OldestReady.IsZero() {
			age := max(snap.Time.Sub(st.OldestReady), 0).Seconds()
			row.OldestS = &age
		}
		if store != nil {
			_, n, err := store.List(ctx, failed.Filter{Queue: name, Limit: 1})
			if err != nil {
				return snap, fmt.Errorf("counting failed jobs of queue %q: %w", name, err)
			}
			row.Failed = &n
		}
		snap.Queues = append(snap.Queues, row)
	}
	return snap, nil
}

// writeStatusTable prints snap as an aligned table; the buried column appears only when a queue
// has buried jobs (beanstalkd).
func writeStatusTable(w io.Writer, snap statusSnapshot) {
	buried := slices.ContainsFunc(snap.Queues, func(q queueStatus) bool { return q.Buried > 0 })
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	header := "QUEUE\tREADY\tDELAYED\tRESERVED\t"
	if buried {
		header += "BURIED\t"
	}
	fmt.Fprintln(tw, header+"OLDEST READY\tFAILED")
	for _, q := range snap.Queues {
		line := fmt.Sprintf("%s\t%d\t%d\t%d\t", q.Queue, q.Ready, q.Delayed, q.Reserved)
		if buried {
			line += fmt.Sprintf("%d\t", q.Buried)
		}
		oldest, failedCount := "-", "-"
		if q.OldestS != nil {
			oldest = formatAge(time.Duration(*q.OldestS * float64(time.Second)))
		}
		if q.Failed != nil {
			failedCount = strconv.FormatInt(*q.Failed, 10)
		}
		fmt.Fprintln(tw, line+oldest+"\t"+failedCount)
	}
	tw.Flush()
	if snap.FailedNote != "" {
		fmt.Fprintln(w, "\nNote: "+snap.FailedNote)
	}
}

// formatAge prints d to the second in its two largest units: 42s, 3m07s, 2h05m, 3d04h.
func formatAge(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}
