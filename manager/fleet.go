package manager

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/worker"
)

// This file is the fleet: the registry of live workers (`qctl workers`), queue pause shared with
// Laravel (`qctl pause` / `continue`) and remote stop (`qctl terminate`). Workers heartbeat into
// the connection's Fleet store (worker/heartbeat.go); these operations read and write it.

// PauseKey is Laravel's cache key of a paused queue, as QueueManager::pause writes it and Laravel
// 11+ workers read it: `php artisan queue:pause redis:emails` and `qctl pause redis
// --queue=emails` write the same key.
func PauseKey(connection, queue string) string {
	return "illuminate:queue:paused:" + connection + ":" + queue
}

// PauseAllKey is Laravel 13's switch that pauses every queue of every connection
// (`queue:pause --all`); workers honour it, qctl does not write it.
const PauseAllKey = "illuminate:queues:paused"

// pausedValue is PHP's serialize(true): what Laravel's Redis and database cache stores keep for
// the `true` QueueManager::pause stores.
const pausedValue = "b:1;"

// terminateKey is the flag that asks worker id to stop.
func terminateKey(id string) string { return "qctl:terminate:" + id }

// fleetStore is the connection's Fleet and whether Close must close it.
type fleetStore struct {
	connectors.Fleet
	own *dbqueue.Fleet
}

func (f fleetStore) close() error {
	if f.own == nil {
		return nil
	}
	return f.own.Close()
}

// Fleet returns where the connection's workers register and read their flags: the backend itself
// when it keeps state (Redis, a database), else the failed store's database (beanstalkd keeps
// none; `qctl migrate` creates the fleet table there). It wraps ErrNotSupported when there is
// neither (sync, null, or beanstalkd with [failed] driver = "null").
func (c *Conn) Fleet(ctx context.Context) (connectors.Fleet, error) {
	if c.fleet.Fleet != nil {
		return c.fleet.Fleet, nil
	}
	if f, ok := c.Backend.(connectors.Fleet); ok {
		c.fleet.Fleet = f
		return f, nil
	}
	fc := c.m.cfg.Failed
	if !c.KeepsJobs() || fc.Driver != config.DriverDatabase {
		return nil, fmt.Errorf("%w: connection %q (%s) has no shared store for the worker registry (a beanstalkd connection uses the failed store's database)", ErrNotSupported, c.Name, c.Driver)
	}
	f, err := dbqueue.OpenFleet(ctx, fc.Dialect, fc.DSN, fc.Dialect == config.DialectSQLite, dbqueue.FleetOptions{})
	if err != nil {
		return nil, fmt.Errorf("connection %q: the worker registry on the failed store's database: %w", c.Name, err)
	}
	c.fleet = fleetStore{Fleet: f, own: f}
	return f, nil
}

// HeartbeatOptions are what a worker process says about itself.
type HeartbeatOptions struct {
	// Host names the machine; "" means os.Hostname.
	Host string
	// Interval is the time between beats; 0 means worker.DefaultHeartbeat.
	Interval time.Duration
}

// Heartbeat returns the registration of a worker of this connection, for worker.Deps. The id is
// host, pid and a random suffix, so it stays unique when a pid is reused on another machine.
func (c *Conn) Heartbeat(ctx context.Context, o HeartbeatOptions) (*worker.Heartbeat, error) {
	store, err := c.Fleet(ctx)
	if err != nil {
		return nil, err
	}
	if o.Host == "" {
		o.Host, _ = os.Hostname()
	}
	id := fmt.Sprintf("%s:%d:%s", o.Host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano()%1e6, 36))
	name := c.Name
	return &worker.Heartbeat{
		Store: store, ID: id, Host: o.Host, Interval: o.Interval, Version: Version(),
		PauseKey:     func(queue string) string { return PauseKey(name, queue) },
		PauseAllKey:  PauseAllKey,
		TerminateKey: terminateKey(id),
		Minute:       c.historyMinute(),
		OnMinute:     c.historyWriter(id),
	}, nil
}

// Version is qctl's version as the Go toolchain recorded it in the binary.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Workers returns the connection's live workers, by host, name and id. Entries that do not
// decode (a newer qctl's) are skipped.
func (c *Conn) Workers(ctx context.Context) ([]worker.Info, error) {
	store, err := c.Fleet(ctx)
	if err != nil {
		return nil, err
	}
	raw, err := store.Workers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the workers of connection %q: %w", c.Name, err)
	}
	out := make([]worker.Info, 0, len(raw))
	for id, b := range raw {
		var in worker.Info
		if json.Unmarshal(b, &in) != nil || in.Connection != c.Name {
			continue
		}
		in.ID = id
		out = append(out, in)
	}
	slices.SortFunc(out, func(a, b worker.Info) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Pause stops every worker of the connection, on every machine, from popping queues (running
// jobs finish) within one heartbeat, until Continue; for > 0 pauses until then only. PHP
// workers of Laravel 11+ sharing the cache store stop too.
func (c *Conn) Pause(ctx context.Context, queues []string, for_ time.Duration) error {
	store, err := c.Fleet(ctx)
	if err != nil {
		return err
	}
	for _, q := range c.queuesOr(queues) {
		if err := store.SetFlag(ctx, PauseKey(c.Name, q), pausedValue, for_); err != nil {
			return fmt.Errorf("pausing queue %q of connection %q: %w", q, c.Name, err)
		}
	}
	return nil
}

// Continue undoes Pause.
func (c *Conn) Continue(ctx context.Context, queues []string) error {
	store, err := c.Fleet(ctx)
	if err != nil {
		return err
	}
	for _, q := range c.queuesOr(queues) {
		if err := store.DeleteFlag(ctx, PauseKey(c.Name, q)); err != nil {
			return fmt.Errorf("continuing queue %q of connection %q: %w", q, c.Name, err)
		}
	}
	return nil
}

// PausedQueues returns which of queues are paused now.
func (c *Conn) PausedQueues(ctx context.Context, queues []string) ([]string, error) {
	store, err := c.Fleet(ctx)
	if err != nil {
		return nil, err
	}
	keys := []string{PauseAllKey}
	for _, q := range queues {
		keys = append(keys, PauseKey(c.Name, q))
	}
	vals, err := store.Flags(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("reading the paused queues of connection %q: %w", c.Name, err)
	}
	var paused []string
	for i, q := range queues {
		if worker.PHPTruthy(vals[0]) || worker.PHPTruthy(vals[i+1]) {
			paused = append(paused, q)
		}
	}
	return paused, nil
}

func (c *Conn) queuesOr(queues []string) []string {
	if len(queues) == 0 {
		return []string{c.Queue}
	}
	return queues
}

// Selector chooses the workers Terminate asks to stop; exactly one field is set.
type Selector struct {
	Worker string // one worker's id
	Host   string // every worker of one machine
	All    bool   // every worker of the connection
}

// Check returns an error unless exactly one field is set.
func (s Selector) Check() error {
	if n := btoi(s.Worker != "") + btoi(s.Host != "") + btoi(s.All); n != 1 {
		return errors.New("choose exactly one of a worker id, a host or all workers")
	}
	return nil
}

// Terminate asks the selected live workers to stop gracefully (as TERM does: running jobs
// finish), from any machine; each sees it at its next heartbeat. It returns the workers asked.
func (c *Conn) Terminate(ctx context.Context, sel Selector) ([]worker.Info, error) {
	if err := sel.Check(); err != nil {
		return nil, err
	}
	live, err := c.Workers(ctx)
	if err != nil {
		return nil, err
	}
	store, _ := c.Fleet(ctx)
	var asked []worker.Info
	for _, in := range live {
		if !sel.All && in.ID != sel.Worker && (sel.Host == "" || in.Host != sel.Host) {
			continue
		}
		// The request outlives a few missed beats, then goes: a worker that died meanwhile
		// leaves no flag behind for long.
		ttl := time.Duration(3*max(in.HeartbeatS, 1)*float64(time.Second)) + time.Minute
		if err := store.SetFlag(ctx, terminateKey(in.ID), pausedValue, ttl); err != nil {
			return asked, fmt.Errorf("asking worker %s to stop: %w", in.ID, err)
		}
		asked = append(asked, in)
	}
	return asked, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// QueueTotal is one queue's share of the live workers, as `qctl workers` sums it up.
type QueueTotal struct {
	Queue   string `json:"queue"`
	Workers int    `json:"workers"` // workers popping it
	Slots   int    `json:"slots"`   // their concurrency, summed
	Running int    `json:"running"` // its jobs running now
	Paused  bool   `json:"paused"`  // every worker popping it reports it paused
}

// QueueTotals sums workers up per queue, by queue name.
func QueueTotals(workers []worker.Info) []QueueTotal {
	at := map[string]*QueueTotal{}
	var out []*QueueTotal
	for _, w := range workers {
		for _, q := range w.Queues {
			t, ok := at[q]
			if !ok {
				t = &QueueTotal{Queue: q, Paused: true}
				at[q] = t
				out = append(out, t)
			}
			t.Workers++
			t.Slots += w.Concurrency
			t.Paused = t.Paused && slices.Contains(w.PausedQueues, q)
		}
		for _, j := range w.Running {
			if t, ok := at[j.Queue]; ok {
				t.Running++
			}
		}
	}
	totals := make([]QueueTotal, len(out))
	for i, t := range out {
		totals[i] = *t
	}
	slices.SortFunc(totals, func(a, b QueueTotal) int { return cmp.Compare(a.Queue, b.Queue) })
	return totals
}
