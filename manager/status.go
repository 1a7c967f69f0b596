package manager

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/worker"
)

// QueueStatus is one queue's jobs by state at one moment, as `qctl status` shows a row.
type QueueStatus struct {
	Queue    string   `json:"queue"`
	Ready    int64    `json:"ready"`
	Delayed  int64    `json:"delayed"`
	Reserved int64    `json:"reserved"`
	Buried   int64    `json:"buried"`
	OldestS  *float64 `json:"oldest_ready_age_s"` // null when nothing is ready or its age is unknown
	Failed   *int64   `json:"failed"`             // null when the failed store could not be read
	Workers  *int     `json:"workers"`            // live workers popping it; null without a registry
	Paused   bool     `json:"paused"`             // `qctl pause` or `queue:pause` holds it
}

// Snapshot is every shown queue of one connection at one moment.
type Snapshot struct {
	Connection string        `json:"connection"`
	Driver     string        `json:"driver"`
	Time       time.Time     `json:"time"`
	Queues     []QueueStatus `json:"queues"`
	FailedNote string        `json:"failed_note,omitempty"` // why the failed counts are missing
	FleetNote  string        `json:"fleet_note,omitempty"`  // why the worker counts are missing
}

// Snapshot reads every shown queue once: only, when set, names the queues; otherwise they are
// the connection's queue, whatever the backend lists, and every queue a live worker pops (so an
// empty queue that workers wait on shows with its workers). store, when not nil, gives each queue's
// failed count. It wraps ErrNotSupported when the backend cannot report statistics.
func (c *Conn) Snapshot(ctx context.Context, store *failed.Store, only []string) (Snapshot, error) {
	snap := Snapshot{Connection: c.Name, Driver: c.Driver, Time: time.Now()}
	in, ok := c.Backend.(connectors.Inspector)
	if !ok {
		return snap, fmt.Errorf("%w: connection %q (%s) cannot report queue statistics", ErrNotSupported, c.Name, c.Driver)
	}
	if err := c.CheckQueues(only...); err != nil {
		return snap, err
	}
	workers, werr := c.Workers(ctx)
	names := only
	if len(names) == 0 {
		listed, err := in.Queues(ctx)
		if err != nil {
			return snap, fmt.Errorf("listing the queues of connection %q: %w", c.Name, err)
		}
		names = append(listed, c.Queue)
		for _, w := range workers {
			names = append(names, w.Queues...)
		}
		slices.Sort(names)
		names = slices.Compact(names)
	}
	for _, name := range names {
		st, err := in.QueueStats(ctx, name)
		if err != nil {
			return snap, fmt.Errorf("reading queue %q of connection %q: %w", name, c.Name, err)
		}
		row := QueueStatus{Queue: name, Ready: st.Ready, Delayed: st.Delayed, Reserved: st.Reserved, Buried: st.Buried}
		if st.Ready > 0 && !st.OldestReady.IsZero() {
			age := max(snap.Time.Sub(st.OldestReady), 0).Seconds()
			row.OldestS = &age
		}
		if store != nil {
			n, err := store.Count(ctx, failed.Filter{Queue: name})
			if err != nil {
				return snap, fmt.Errorf("counting failed jobs of queue %q: %w", name, err)
			}
			row.Failed = &n
		}
		snap.Queues = append(snap.Queues, row)
	}
	c.addFleet(ctx, &snap, names, workers, werr)
	return snap, nil
}

// addFleet counts each queue's live workers and marks the paused ones. A connection without a
// registry (sync, or beanstalkd without a failed database) shows none and says why; a registry
// that cannot be read does not hide the queues either.
func (c *Conn) addFleet(ctx context.Context, snap *Snapshot, names []string, workers []worker.Info, err error) {
	var paused []string
	if err == nil {
		paused, err = c.PausedQueues(ctx, names)
	}
	if err != nil {
		snap.FleetNote = "worker counts unavailable: " + err.Error()
		return
	}
	for i := range snap.Queues {
		q := &snap.Queues[i]
		n := 0
		for _, w := range workers {
			if slices.Contains(w.Queues, q.Queue) {
				n++
			}
		}
		q.Workers, q.Paused = &n, slices.Contains(paused, q.Queue)
	}
}

// FormatAge prints d to the second in its two largest units (42s, 3m07s, 2h05m, 3d04h), so the
// command line and the dashboard show a queue's oldest job alike.
func FormatAge(d time.Duration) string {
	s := max(int64(d/time.Second), 0)
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
