package manager

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/qctl/qctl/worker"
)

// This file is the per-minute history the dashboard charts (jobs processed and failed, wait
// p50/p99, run time, per queue). Every worker counts its own minutes and publishes the last two
// completed ones in its registry entry (worker/history.go); once per minute one writer per
// connection sums the live entries for the minute just completed and stores one record under
// historyKey, in the connection's state store (the Fleet: Redis, the database's fleet table),
// with the retention as its TTL: the store trims the history by itself.
//
// The writer is the live worker with the lowest id, chosen again at each minute from the
// registry, so no extra coordination is needed; records are idempotent, so two writers in a rare
// race write the same record twice. A dashboard writes a minute no worker wrote (its lowest-id
// worker stalled) half a minute after it ended.

// QueueMinute is one queue's jobs in one minute of history, summed over every worker.
type QueueMinute struct {
	Processed int64 `json:"processed"`
	Failed    int64 `json:"failed"`
	// Waits counts the runs whose wait is known (a first run with a push time in its payload);
	// WaitP50Ms and WaitP99Ms are their median and 99th percentile in milliseconds, within
	// 12.5% (the histogram's bucket width).
	Waits     int64   `json:"waits,omitempty"`
	WaitP50Ms float64 `json:"wait_p50_ms,omitempty"`
	WaitP99Ms float64 `json:"wait_p99_ms,omitempty"`
	// Runs counts every run (released ones too); RuntimeAvgMs is their mean run time.
	Runs         int64   `json:"runs,omitempty"`
	RuntimeAvgMs float64 `json:"runtime_avg_ms,omitempty"`
}

// HistoryMinute is one minute of a connection's history.
type HistoryMinute struct {
	// At is the minute's start.
	At time.Time `json:"at"`
	// Recorded is false for a minute nobody recorded (no worker was running, or history is off).
	Recorded bool `json:"recorded"`
	// Workers is how many live workers published the minute.
	Workers int                    `json:"workers"`
	Queues  map[string]QueueMinute `json:"queues,omitempty"`
}

// historyKey is the state-store key of the connection's record of the minute starting at at.
func historyKey(connection string, at time.Time) string {
	return "qctl:history:" + connection + ":" + strconv.FormatInt(at.Unix(), 10)
}

// HistoryStep is the length of one minute of history: a minute, unless
// Options.HistoryMinute says otherwise.
func (c *Conn) HistoryStep() time.Duration { return c.m.minute }

// HistoryOn reports whether the connection records history (history_retention is not 0).
func (c *Conn) HistoryOn() bool { return c.m.cfg.HistoryRetention > 0 }

// historyWriter is the worker's OnMinute hook for worker id (worker.Heartbeat.OnMinute): it
// records the minute when id is the connection's writer. Nil when history is off.
func (c *Conn) historyWriter(id string) func(ctx context.Context, at time.Time) error {
	if c.m.cfg.HistoryRetention <= 0 {
		return nil
	}
	return func(ctx context.Context, at time.Time) error {
		_, err := c.RecordHistory(ctx, at, id)
		return err
	}
}

// RecordHistory sums the live workers' published counts for the minute starting at at and
// stores the connection's record of it. With writer set (a worker's id) it writes only when that
// worker is the live one with the lowest id, an idle minute too if it was running then (its
// record says how many workers were there); with writer "" (a dashboard) it writes only a minute
// that has no record yet and that some worker published. It reports whether it wrote.
func (c *Conn) RecordHistory(ctx context.Context, at time.Time, writer string) (bool, error) {
	if c.m.cfg.HistoryRetention <= 0 {
		return false, nil
	}
	store, err := c.Fleet(ctx)
	if err != nil {
		return false, err
	}
	key := historyKey(c.Name, at)
	if writer == "" {
		vals, err := store.Flags(ctx, []string{key})
		if err != nil {
			return false, fmt.Errorf("reading the history of connection %q: %w", c.Name, err)
		}
		if vals[0] != "" {
			return false, nil
		}
	}
	live, err := c.Workers(ctx)
	if err != nil {
		return false, err
	}
	if writer != "" {
		lowest := ""
		for _, in := range live {
			// Only `work` processes publish minutes and call the writer; a master or a
			// listener would never write.
			if in.Kind != worker.KindWorker {
				continue
			}
			if lowest == "" || in.ID < lowest {
				lowest = in.ID
			}
		}
		if lowest != writer {
			return false, nil
		}
	}
	rec, published := sumMinute(live, at)
	if published == 0 && (writer == "" || !ranDuring(live, writer, at.Add(c.HistoryStep()))) {
		return false, nil // nobody ran then: leave the minute blank rather than say nothing ran
	}
	return true, c.PutHistory(ctx, rec)
}

// PutHistory stores rec as the connection's record of the minute starting at rec.At, kept for
// history_retention (nothing is stored when that is 0). RecordHistory writes through it; a
// program may also import minutes from elsewhere, and the dashboard's tests fill a demo hour.
func (c *Conn) PutHistory(ctx context.Context, rec HistoryMinute) error {
	retention := c.m.cfg.HistoryRetention
	if retention <= 0 {
		return nil
	}
	store, err := c.Fleet(ctx)
	if err != nil {
		return err
	}
	rec.Recorded = true
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := store.SetFlag(ctx, historyKey(c.Name, rec.At), string(b), retention); err != nil {
		return fmt.Errorf("storing the history of connection %q: %w", c.Name, err)
	}
	return nil
}

// ranDuring reports whether worker id had started before end.
func ranDuring(live []worker.Info, id string, end time.Time) bool {
	for _, in := range live {
		if in.ID == id {
			return in.StartedAt.Before(end)
		}
	}
	return false
}

// sumMinute merges the workers' counts of the minute at; published is how many workers had any.
func sumMinute(live []worker.Info, at time.Time) (rec HistoryMinute, published int) {
	rec = HistoryMinute{At: at.UTC(), Recorded: true, Workers: len(live), Queues: map[string]QueueMinute{}}
	type acc struct {
		processed, failed, runs, runNs int64
		wait                           worker.Histogram
	}
	sums := map[string]*acc{}
	for _, in := range live {
		had := false
		for _, st := range in.History {
			if !st.At.Equal(at) {
				continue
			}
			had = true
			a := sums[st.Queue]
			if a == nil {
				a = &acc{wait: worker.Histogram{}}
				sums[st.Queue] = a
			}
			a.processed += st.Processed
			a.failed += st.Failed
			a.runs += st.Runs
			a.runNs += st.RunNs
			a.wait.Merge(st.Wait)
		}
		if had {
			published++
		}
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	for q, a := range sums {
		qm := QueueMinute{Processed: a.processed, Failed: a.failed, Runs: a.runs, Waits: a.wait.Count()}
		if a.runs > 0 {
			qm.RuntimeAvgMs = ms(time.Duration(a.runNs / a.runs))
		}
		if qm.Waits > 0 {
			qm.WaitP50Ms, qm.WaitP99Ms = ms(a.wait.Quantile(.50)), ms(a.wait.Quantile(.99))
		}
		rec.Queues[q] = qm
	}
	return rec, published
}

// History returns the connection's minutes from the one holding since up to the last completed
// one before now, oldest first, read in one round trip; a minute nobody recorded has Recorded
// false. The Overview asks for the last hour: 60 keys.
func (c *Conn) History(ctx context.Context, since, now time.Time) ([]HistoryMinute, error) {
	store, err := c.Fleet(ctx)
	if err != nil {
		return nil, err
	}
	step := c.HistoryStep()
	first, end := since.Truncate(step), now.Truncate(step)
	var out []HistoryMinute
	var keys []string
	for at := first; at.Before(end); at = at.Add(step) {
		out = append(out, HistoryMinute{At: at.UTC()})
		keys = append(keys, historyKey(c.Name, at))
	}
	if len(keys) == 0 {
		return nil, nil
	}
	vals, err := store.Flags(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("reading the history of connection %q: %w", c.Name, err)
	}
	for i, v := range vals {
		if v == "" {
			continue
		}
		var rec HistoryMinute
		if json.Unmarshal([]byte(v), &rec) != nil {
			continue // a newer qctl's record: leave the minute blank rather than guess
		}
		rec.At, rec.Recorded = out[i].At, true
		out[i] = rec
	}
	return out, nil
}

// HistoryQueues lists the queues that appear in any of minutes, sorted.
func HistoryQueues(minutes []HistoryMinute) []string {
	var qs []string
	for _, m := range minutes {
		for q := range m.Queues {
			if !slices.Contains(qs, q) {
				qs = append(qs, q)
			}
		}
	}
	slices.Sort(qs)
	return qs
}
