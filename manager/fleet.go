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

// terminateKey is the flag that asks worker id (a registry entry: a worker, a master, a
// listener) to stop.
func terminateKey(id string) string { return "qctl:terminate:" + id }

// stopSupervisorKey is the flag that asks the master of entry id to stop its pool supervisor.
func stopSupervisorKey(id, supervisor string) string {
	return "qctl:terminate:" + id + ":supervisor:" + supervisor
}

// The scopes of a hold: a worker-level pause (every queue of the worker), set by `qctl pause
// --worker`, `--master` or `--supervisor`.
const (
	holdWorker     = "worker"
	holdMaster     = "master"
	holdSupervisor = "supervisor"
)

// holdKey is the flag that pauses every worker of one scope: one worker (by entry id), the
// children of one master (by master id), the children of one supervisor on every machine.
func holdKey(scope, id string) string { return "qctl:pause:" + scope + ":" + id }

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
	// Master and Supervisor are set on a child of `qctl supervise`: the master's id and the
	// pool's name. They group the worker in `qctl workers` and subject it to the master's and
	// the supervisor's pauses.
	Master, Supervisor string
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
	id := NewID(o.Host)
	name := c.Name
	return &worker.Heartbeat{
		Store: store, ID: id, Host: o.Host, Interval: o.Interval, Version: Version(),
		PauseKey:     func(queue string) string { return PauseKey(name, queue) },
		PauseAllKey:  PauseAllKey,
		TerminateKey: terminateKey(id),
		Minute:       c.HistoryStep(),
		OnMinute:     c.historyWriter(id),
		HoldKeys:     holdKeys(id, o.Master, o.Supervisor),
		Master:       o.Master, Supervisor: o.Supervisor,
	}, nil
}

// holdKeys are the flags that pause a whole worker: its own, its master's, its supervisor's.
func holdKeys(id, master, supervisor string) []string {
	keys := []string{holdKey(holdWorker, id)}
	if master != "" {
		keys = append(keys, holdKey(holdMaster, master))
	}
	if supervisor != "" {
		keys = append(keys, holdKey(holdSupervisor, supervisor))
	}
	return keys
}

// NewID returns a registry id for a process of this machine: host, pid and a random suffix, so
// it stays unique when a pid is reused on another machine.
func NewID(host string) string {
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), strconv.FormatInt(time.Now().UnixNano()%1e6, 36))
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
	out := decodeEntries(raw, c.Name)
	slices.SortFunc(out, func(a, b worker.Info) int {
		return cmp.Or(cmp.Compare(a.Host, b.Host), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// decodeEntries decodes the registry's entries of connection conn, keyed by id. Entries that do
// not decode (a newer qctl's) or are another connection's (a store shared by several) are skipped.
func decodeEntries(raw map[string][]byte, conn string) []worker.Info {
	out := make([]worker.Info, 0, len(raw))
	for id, b := range raw {
		var in worker.Info
		if json.Unmarshal(b, &in) != nil || in.Connection != conn {
			continue
		}
		in.ID = id
		out = append(out, in)
	}
	return out
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

// Selector chooses the workers Terminate asks to stop, or PauseWorkers pauses; exactly one field
// is set (PauseWorkers takes Worker, Master or Supervisor).
type Selector struct {
	Worker     string // one registry entry's id: a worker, a master, a listener
	Host       string // every worker of one machine
	All        bool   // every worker of the connection
	Master     string // one `qctl supervise` master (its id) and its children
	Supervisor string // one [supervisors.NAME] pool, in every master that runs it
}

// Check returns an error unless exactly one field is set.
func (s Selector) Check() error {
	if n := btoi(s.Worker != "") + btoi(s.Host != "") + btoi(s.All) + btoi(s.Master != "") + btoi(s.Supervisor != ""); n != 1 {
		return errors.New("choose exactly one of a worker id, a host, all workers, a master or a supervisor")
	}
	return nil
}

// isMaster reports whether entry in is the master id (given as its master id or entry id).
func isMaster(in worker.Info, id string) bool {
	return in.Kind == worker.KindMaster && (in.Master == id || in.ID == id)
}

// PauseWorkers pauses whole workers, whatever queues they pop: one worker or listener (Worker;
// a master's entry id pauses its children), the children of one master (Master) or of one
// supervisor on every machine (Supervisor). Running jobs finish; the workers see it within one
// heartbeat, and a child a master starts later is paused too. for > 0 lifts it by itself then.
// It returns the live entries the pause names.
func (c *Conn) PauseWorkers(ctx context.Context, sel Selector, for_ time.Duration) ([]worker.Info, error) {
	key, matched, err := c.holdOf(ctx, sel)
	if err != nil {
		return nil, err
	}
	store, _ := c.Fleet(ctx)
	if err := store.SetFlag(ctx, key, pausedValue, for_); err != nil {
		return nil, fmt.Errorf("pausing on connection %q: %w", c.Name, err)
	}
	return matched, nil
}

// ContinueWorkers undoes PauseWorkers.
func (c *Conn) ContinueWorkers(ctx context.Context, sel Selector) ([]worker.Info, error) {
	key, matched, err := c.holdOf(ctx, sel)
	if err != nil {
		return nil, err
	}
	store, _ := c.Fleet(ctx)
	if err := store.DeleteFlag(ctx, key); err != nil {
		return nil, fmt.Errorf("continuing on connection %q: %w", c.Name, err)
	}
	return matched, nil
}

// holdOf is the hold flag of sel and the live entries it names; an error when none does.
func (c *Conn) holdOf(ctx context.Context, sel Selector) (string, []worker.Info, error) {
	if err := sel.Check(); err != nil {
		return "", nil, err
	}
	if sel.Host != "" || sel.All {
		return "", nil, errors.New("pausing whole workers takes a worker id, a master id or a supervisor name (a host or all workers: pause their queues)")
	}
	live, err := c.Workers(ctx)
	if err != nil {
		return "", nil, err
	}
	var key string
	var matched []worker.Info
	for _, in := range live {
		switch {
		case sel.Worker != "" && in.ID == sel.Worker:
			key = holdKey(holdWorker, in.ID)
			if in.Kind == worker.KindMaster {
				key = holdKey(holdMaster, in.Master)
			}
		case sel.Master != "" && isMaster(in, sel.Master):
			key = holdKey(holdMaster, in.Master)
		case sel.Supervisor != "" && (in.Supervisor == sel.Supervisor || in.Kind == worker.KindMaster && slices.Contains(in.Supervisors, sel.Supervisor)):
			key = holdKey(holdSupervisor, sel.Supervisor)
		default:
			continue
		}
		if sel.Supervisor != "" && in.Kind == worker.KindMaster {
			continue // its children of the supervisor are paused, not the master
		}
		matched = append(matched, in)
	}
	if key == "" {
		return "", nil, fmt.Errorf("%w: no live %s on connection %q (`qctl workers` lists the live ones)", ErrNoMatch, sel.Describe(), c.Name)
	}
	return key, matched, nil
}

// ErrNoMatch means no live registry entry matches a Selector.
var ErrNoMatch = errors.New("nothing to act on")

// Describe names what the selector selects, for messages.
func (s Selector) Describe() string {
	switch {
	case s.Worker != "":
		return fmt.Sprintf("worker %q", s.Worker)
	case s.Master != "":
		return fmt.Sprintf("master %q", s.Master)
	case s.Supervisor != "":
		return fmt.Sprintf("master running supervisor %q", s.Supervisor)
	case s.Host != "":
		return fmt.Sprintf("worker on host %q", s.Host)
	}
	return "worker"
}

// Terminate asks the selected live workers to stop gracefully (as TERM does: running jobs
// finish), from any machine; each sees it at its next heartbeat. It returns the entries asked.
//
// A master (Master, or its entry id as Worker) stops as TERM stops it: its children finish
// their jobs, then it exits 0. Supervisor stops that pool in every master running it, as
// Horizon's supervisors stop with their master: the masters stop its children and start no
// more (a master left with no pool exits 0); a master started later runs it again, as its
// config says. A child of that supervisor whose master is gone is asked to stop itself.
func (c *Conn) Terminate(ctx context.Context, sel Selector) ([]worker.Info, error) {
	if err := sel.Check(); err != nil {
		return nil, err
	}
	live, err := c.Workers(ctx)
	if err != nil {
		return nil, err
	}
	masters := map[string]bool{}
	for _, in := range live {
		if in.Kind == worker.KindMaster {
			masters[in.Master] = true
		}
	}
	store, _ := c.Fleet(ctx)
	var asked []worker.Info
	for _, in := range live {
		key := terminateKey(in.ID)
		switch {
		case sel.All, sel.Worker != "" && in.ID == sel.Worker, sel.Host != "" && in.Host == sel.Host:
		case sel.Master != "" && isMaster(in, sel.Master):
		case sel.Supervisor != "" && in.Kind == worker.KindMaster && slices.Contains(in.Supervisors, sel.Supervisor):
			key = stopSupervisorKey(in.ID, sel.Supervisor)
		case sel.Supervisor != "" && in.Kind == worker.KindWorker && in.Supervisor == sel.Supervisor && !masters[in.Master]:
		default:
			continue
		}
		// The request outlives a few missed beats, then goes: a worker that died meanwhile
		// leaves no flag behind for long.
		ttl := time.Duration(3*max(in.HeartbeatS, 1)*float64(time.Second)) + time.Minute
		if err := store.SetFlag(ctx, key, pausedValue, ttl); err != nil {
			return asked, fmt.Errorf("asking %s to stop: %w", in.ID, err)
		}
		asked = append(asked, in)
	}
	return asked, nil
}

// Registration is the registry of one connection as a process that is not a `work` worker uses
// it: a `qctl supervise` master, a `qctl listen` process. It writes the process's own entry and
// reads the requests addressed to it.
type Registration struct {
	store connectors.Fleet
	conn  string
}

// Registration returns the connection's registry for a master or a listener.
func (c *Conn) Registration(ctx context.Context) (*Registration, error) {
	store, err := c.Fleet(ctx)
	if err != nil {
		return nil, err
	}
	return &Registration{store: store, conn: c.Name}, nil
}

// Put writes entry in (its ID, Connection set to the connection) expiring after ttl.
func (r *Registration) Put(ctx context.Context, in worker.Info, ttl time.Duration) error {
	in.Connection = r.conn
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return r.store.PutWorker(ctx, in.ID, b, ttl)
}

// Remove deletes entry id: a clean exit.
func (r *Registration) Remove(ctx context.Context, id string) error {
	return r.store.RemoveWorker(ctx, id)
}

// Live returns the connection's live entries.
func (r *Registration) Live(ctx context.Context) ([]worker.Info, error) {
	raw, err := r.store.Workers(ctx)
	if err != nil {
		return nil, err
	}
	return decodeEntries(raw, r.conn), nil
}

// Requests reads, in one round trip, the requests addressed to entry id, of master master (""
// for a listener), about its supervisors; it clears the stop requests it read.
func (r *Registration) Requests(ctx context.Context, id, master string, supervisors []string) (worker.Requests, error) {
	keys := []string{terminateKey(id), holdKey(holdWorker, id)}
	if master != "" {
		keys = append(keys, holdKey(holdMaster, master))
	}
	first := len(keys)
	for _, s := range supervisors {
		keys = append(keys, stopSupervisorKey(id, s))
	}
	vals, err := r.store.Flags(ctx, keys)
	if err != nil {
		return worker.Requests{}, err
	}
	var req worker.Requests
	req.Terminate = worker.PHPTruthy(vals[0])
	for _, v := range vals[1:first] {
		req.Paused = req.Paused || worker.PHPTruthy(v)
	}
	for i, s := range supervisors {
		if worker.PHPTruthy(vals[first+i]) {
			req.Stop = append(req.Stop, s)
		}
	}
	var errs []error
	if req.Terminate {
		errs = append(errs, r.store.DeleteFlag(ctx, keys[0]))
	}
	for _, s := range req.Stop {
		errs = append(errs, r.store.DeleteFlag(ctx, stopSupervisorKey(id, s)))
	}
	if err := errors.Join(errs...); err != nil {
		return req, fmt.Errorf("clearing the requests read: %w", err)
	}
	return req, nil
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

// WorkerGroup is one master and its children by supervisor, or (ID "") the standalone workers
// and listeners, as `qctl workers` and the dashboard group them.
type WorkerGroup struct {
	// ID is the master's id; "" for the standalone group.
	ID string `json:"id"`
	// Master is the master's own entry; nil for the standalone group, or when the master's entry
	// expired before its children's (it was killed: they stop by themselves).
	Master      *worker.Info      `json:"master,omitempty"`
	Supervisors []SupervisorGroup `json:"supervisors"`
}

// SupervisorGroup is the children of one supervisor of a master ("" in the standalone group).
type SupervisorGroup struct {
	Name    string        `json:"name"`
	Workers []worker.Info `json:"workers"`
}

// Group sorts workers (as Workers lists them) into masters and supervisors: each master with its
// children by supervisor (a supervisor it runs with no child yet listed empty), by host and id,
// then the standalone workers and listeners.
func Group(workers []worker.Info) []WorkerGroup {
	at := map[string]*WorkerGroup{}
	var ids []string
	group := func(id string) *WorkerGroup {
		g, ok := at[id]
		if !ok {
			g = &WorkerGroup{ID: id}
			at[id] = g
			ids = append(ids, id)
		}
		return g
	}
	sup := func(g *WorkerGroup, name string) *SupervisorGroup {
		for i := range g.Supervisors {
			if g.Supervisors[i].Name == name {
				return &g.Supervisors[i]
			}
		}
		g.Supervisors = append(g.Supervisors, SupervisorGroup{Name: name, Workers: []worker.Info{}})
		return &g.Supervisors[len(g.Supervisors)-1]
	}
	for _, in := range workers {
		if in.Kind == worker.KindMaster {
			g := group(in.Master)
			g.Master = &in
			for _, s := range in.Supervisors {
				sup(g, s)
			}
		}
	}
	for _, in := range workers {
		switch {
		case in.Kind == worker.KindMaster:
		case in.Master != "":
			s := sup(group(in.Master), in.Supervisor)
			s.Workers = append(s.Workers, in)
		default:
			s := sup(group(""), "")
			s.Workers = append(s.Workers, in)
		}
	}
	out := make([]WorkerGroup, 0, len(ids))
	for _, id := range ids {
		g := at[id]
		slices.SortFunc(g.Supervisors, func(a, b SupervisorGroup) int { return cmp.Compare(a.Name, b.Name) })
		out = append(out, *g)
	}
	host := func(g WorkerGroup) string {
		if g.Master != nil {
			return g.Master.Host
		}
		return ""
	}
	// Masters by host and id, then children whose master's entry is gone, then standalone.
	rank := func(g WorkerGroup) int { return btoi(g.Master == nil) + btoi(g.ID == "") }
	slices.SortFunc(out, func(a, b WorkerGroup) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(host(a), host(b)), cmp.Compare(a.ID, b.ID))
	})
	return out
}
