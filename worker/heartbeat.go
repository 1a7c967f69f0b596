package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

// Heartbeat registers a worker in the fleet store of its connection: every Interval it writes
// the worker's entry (Info) and reads its flags, a paused queue's or a terminate request, so an
// operator on any machine sees and steers it. Everything of one beat is two round trips,
// whatever the load: the per-job cost is a counter, a map entry and the per-minute history's
// atomic adds (history.go), whose last completed minutes each entry carries.
type Heartbeat struct {
	// Store keeps the entries and flags.
	Store connectors.Fleet
	// ID is the worker's id in the registry, unique across the fleet.
	ID string
	// Host names the machine in the entry.
	Host string
	// Interval is the time between beats; 0 means DefaultHeartbeat. An entry not refreshed for
	// three intervals (a killed worker's) expires.
	Interval time.Duration
	// PauseKey returns the flag that pauses queue (Laravel's cache key); nil means no pause.
	PauseKey func(queue string) string
	// PauseAllKey is the flag that pauses every queue (Laravel 13's `queue:pause --all`); ""
	// means none.
	PauseAllKey string
	// TerminateKey is the flag that asks this worker to stop gracefully; "" means none.
	TerminateKey string
	// Version is the program's version, shown in the entry.
	Version string
	// Unlisted reads the flags but keeps no entry: a `listen` child runs one job and exits, so
	// it obeys a pause without crowding the registry.
	Unlisted bool
	// Minute is the length of one history sample (see history.go); 0 means a minute. Tests
	// shorten it.
	Minute time.Duration
	// OnMinute, when set, is called from a beat once per completed minute, a little after its
	// end (three beats, so every live worker has published it): the connection's history writer
	// (manager) decides there whether this worker is the one to sum the fleet's entries.
	OnMinute func(ctx context.Context, at time.Time) error
	// HoldKeys are flags that pause the whole worker (every queue) while any is set: the pause
	// of this worker, of its master, of its supervisor (`qctl pause --worker/--master/
	// --supervisor`). They are read in the same round trip as the others.
	HoldKeys []string
	// Master and Supervisor name the `qctl supervise` master that started this worker and its
	// pool; "" for a standalone worker.
	Master, Supervisor string
}

// DefaultHeartbeat is the time between beats: pause and terminate take effect within it.
const DefaultHeartbeat = 2 * time.Second

// The states a worker reports.
const (
	StateRunning  = "running"
	StatePaused   = "paused"   // every queue it pops is paused, or USR2 paused it
	StateStopping = "stopping" // it pops nothing more and finishes its running jobs
)

// The kinds of registry entries: a `work` process (Kind ""), a `supervise` master, a `listen`
// process.
const (
	KindWorker   = ""
	KindMaster   = "master"
	KindListener = "listen"
)

// Info is a worker's entry in the registry, as `qctl workers` shows it. A master and a listener
// have entries too: Kind tells them apart.
type Info struct {
	ID          string   `json:"id"`
	Kind        string   `json:"kind,omitempty"`
	Master      string   `json:"master,omitempty"`     // the master that started it; a master's own id
	Supervisor  string   `json:"supervisor,omitempty"` // the pool (of its master) it belongs to
	Supervisors []string `json:"supervisors,omitempty"`
	Children    int      `json:"children,omitempty"` // a master's or listener's child processes now
	// Claims are a master's fleet slots per supervisor (fleet_max_processes): never fewer than
	// its children of that supervisor.
	Claims       map[string]int `json:"claims,omitempty"`
	Host         string         `json:"host"`
	PID          int            `json:"pid"`
	Name         string         `json:"name"`
	Connection   string         `json:"connection"`
	Queues       []string       `json:"queues"`
	PausedQueues []string       `json:"paused_queues,omitempty"`
	Concurrency  int            `json:"concurrency"`
	State        string         `json:"state"`
	Running      []RunningJob   `json:"running"`
	Processed    int64          `json:"processed"`
	Failed       int64          `json:"failed"`
	MemoryBytes  uint64         `json:"memory_bytes"`
	StartedAt    time.Time      `json:"started_at"`
	BeatAt       time.Time      `json:"beat_at"`
	HeartbeatS   float64        `json:"heartbeat_s"`
	Version      string         `json:"version,omitempty"`
	// History is what the worker did in its last two completed minutes, per queue.
	History []MinuteStats `json:"history,omitempty"`
}

// Requests is what operators asked of a registered process that is not a `work` worker (a
// `supervise` master, a `listen` process), read at each of its beats.
type Requests struct {
	Terminate bool     // stop gracefully (qctl terminate)
	Paused    bool     // a hold is set on it (qctl pause --worker / --master)
	Stop      []string // the supervisors it must stop (qctl terminate --supervisor)
}

// Registry is one connection's worker registry as a registered process that is not a `work`
// worker uses it (a `listen` process, a `supervise` master; manager.Registration implements it):
// its own entry, and the requests addressed to it (of master master, about its supervisors).
type Registry interface {
	Put(ctx context.Context, in Info, ttl time.Duration) error
	Remove(ctx context.Context, id string) error
	Requests(ctx context.Context, id, master string, supervisors []string) (Requests, error)
}

// RunningJob is one job a worker runs now.
type RunningJob struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Queue     string    `json:"queue"`
	StartedAt time.Time `json:"started_at"`
}

// heartbeat is a worker's Heartbeat at run time. Its goroutine owns the beats; the counters,
// the running set (lock-free) and the paused set (swapped whole) are shared with the worker's
// goroutines. A nil *heartbeat is a worker without one: every method is then a no-op.
type heartbeat struct {
	cfg       Heartbeat
	w         *Worker
	processed atomic.Int64
	failed    atomic.Int64
	paused    atomic.Pointer[map[string]bool] // the queues whose pause flag is set; nil = none
	allPaused atomic.Bool
	hist      *history    // per-minute counters; the beats clear and read them, jobs add
	recorded  int64       // the last minute OnMinute succeeded for; only the beats touch it
	held      atomic.Bool // a hold key is set: pop nothing

	running *runningSet

	started        time.Time
	failing        bool // the last beat failed: report the next failure only after a success
	historyFailing bool // the last minuteDone failed: likewise
	stopOnce       sync.Once
	stopCh         chan struct{}
	done           chan struct{} // closed when the goroutine is gone; nil before start
}

// newHeartbeat hooks a heartbeat into w's reports (for the counts) and watch (for the running
// jobs); nil when cfg has no store.
func newHeartbeat(w *Worker, cfg *Heartbeat) *heartbeat {
	if cfg == nil || cfg.Store == nil {
		return nil
	}
	h := &heartbeat{cfg: *cfg, w: w, running: newRunningSet(w.opts.Concurrency), stopCh: make(chan struct{})}
	if h.cfg.Interval <= 0 {
		h.cfg.Interval = DefaultHeartbeat
	}
	h.hist = newHistory(w.opts.Queues, h.cfg.Minute)
	report, watch := w.report, w.watch
	w.report = func(e Event) {
		switch e.Type {
		case EventProcessed:
			h.processed.Add(1)
		case EventFailed:
			h.failed.Add(1)
		}
		if e.Type == EventProcessed || e.Type == EventFailed || e.Type == EventReleased {
			if e.Time.IsZero() {
				e.Time = w.now() // the report below would stamp it the same
			}
			h.hist.record(&e)
		}
		report(e)
	}
	w.watch = func(r *connectors.Reserved, done bool) {
		if done {
			h.running.remove(r)
		} else {
			h.running.add(r, w.now())
		}
		watch(r, done)
	}
	return h
}

// ttl is how long an entry outlives its last beat: three missed beats.
func (h *heartbeat) ttl() time.Duration { return 3 * h.cfg.Interval }

// start beats once, so a paused queue is known before the first pop, then beats every Interval
// on a goroutine of its own until stop.
func (h *heartbeat) start(ctx context.Context) {
	if h == nil {
		return
	}
	h.started = h.w.now()
	h.beat(ctx)
	h.done = make(chan struct{})
	go h.run(context.WithoutCancel(ctx))
}

// stop ends the beats and removes the entry: a clean exit leaves the registry at once. It is
// safe twice and before start.
func (h *heartbeat) stop() {
	if h == nil {
		return
	}
	h.stopOnce.Do(func() {
		close(h.stopCh)
		if h.done == nil {
			return
		}
		<-h.done
		if h.cfg.Unlisted {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.cfg.Store.RemoveWorker(ctx, h.cfg.ID); err != nil {
			h.w.report(Event{Type: EventError, Error: "leaving the worker registry (the entry expires by itself): " + err.Error()})
		}
	})
}

func (h *heartbeat) run(ctx context.Context) {
	defer close(h.done)
	t := time.NewTicker(h.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-h.stopCh:
			return
		case <-t.C:
			h.beat(ctx)
		}
	}
}

// beat reads the flags, acts on them, and writes the entry.
func (h *heartbeat) beat(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(h.cfg.Interval, time.Second))
	defer cancel()
	err := h.readFlags(ctx)
	h.hist.prepare(h.w.now())
	if h.cfg.Unlisted {
		// nothing to write
	} else if entry, jerr := json.Marshal(h.info()); jerr == nil {
		perr := h.cfg.Store.PutWorker(ctx, h.cfg.ID, entry, h.ttl())
		if perr == nil {
			herr := h.minuteDone(ctx)
			if herr != nil && !h.historyFailing {
				h.w.report(Event{Type: EventError, Error: herr.Error() + " (tried again each beat)"})
			}
			h.historyFailing = herr != nil
		}
		err = errors.Join(err, perr)
	}
	if err != nil && !h.failing {
		h.w.report(Event{Type: EventError, Error: "heartbeat (pause and terminate are not seen until it works): " + err.Error()})
	}
	h.failing = err != nil
}

// minuteDone calls OnMinute for the last completed minute, once three beats (and a tenth of a
// minute) have passed since it ended, so every live worker has published it by then, unless that
// was done already.
func (h *heartbeat) minuteDone(ctx context.Context) error {
	if h.cfg.OnMinute == nil {
		return nil
	}
	now := h.w.now()
	grace := max(3*h.cfg.Interval, h.hist.length/10)
	last := h.hist.index(now.Add(-grace)) - 1
	if last <= h.recorded {
		return nil
	}
	if err := h.cfg.OnMinute(ctx, h.hist.start(last)); err != nil {
		return fmt.Errorf("recording the history of %s: %w", h.hist.start(last).Format(time.TimeOnly), err)
	}
	h.recorded = last
	return nil
}

// readFlags reads every pause flag of the worker's queues and its terminate flag in one call.
func (h *heartbeat) readFlags(ctx context.Context) error {
	queues := h.w.opts.Queues
	var keys []string
	if h.cfg.PauseKey != nil {
		for _, q := range queues {
			keys = append(keys, h.cfg.PauseKey(q))
		}
	}
	// The hold flags, then the pause-all flag and the terminate flag follow the queues' (either
	// may be "").
	nq := len(keys)
	keys = append(keys, h.cfg.HoldKeys...)
	keys = append(keys, h.cfg.PauseAllKey, h.cfg.TerminateKey)
	vals, err := h.cfg.Store.Flags(ctx, keys)
	if err != nil {
		return err
	}
	held := false
	for _, v := range vals[nq : nq+len(h.cfg.HoldKeys)] {
		held = held || PHPTruthy(v)
	}
	h.setHeld(held)
	all := h.cfg.PauseAllKey != "" && PHPTruthy(vals[len(vals)-2])
	paused := map[string]bool{}
	for i, q := range queues {
		if all || h.cfg.PauseKey != nil && PHPTruthy(vals[i]) {
			paused[q] = true
		}
	}
	h.setPaused(paused)
	if h.cfg.TerminateKey != "" && PHPTruthy(vals[len(vals)-1]) {
		h.w.report(Event{Type: EventStopping, Reason: StopInterrupted, Error: "qctl terminate asked this worker to stop"})
		h.w.Stop()
		if err := h.cfg.Store.DeleteFlag(ctx, h.cfg.TerminateKey); err != nil {
			return fmt.Errorf("clearing the terminate request: %w", err)
		}
	}
	return nil
}

// setHeld pauses or resumes the whole worker on its hold flags and, when that changed, says so
// and wakes the loop.
func (h *heartbeat) setHeld(held bool) {
	if h.held.Swap(held) == held {
		return
	}
	if held {
		h.w.report(Event{Type: EventPaused, Queue: strings.Join(h.w.opts.Queues, ",")})
	} else {
		h.w.report(Event{Type: EventResumed, Queue: strings.Join(h.w.opts.Queues, ",")})
	}
	select {
	case h.w.wake <- struct{}{}:
	default:
	}
}

// setPaused swaps in the paused set and, when it changed, says so and wakes the loop.
func (h *heartbeat) setPaused(now map[string]bool) {
	var before map[string]bool
	if p := h.paused.Load(); p != nil {
		before = *p
	}
	var paused, resumed []string
	for _, q := range h.w.opts.Queues {
		switch {
		case now[q] && !before[q]:
			paused = append(paused, q)
		case !now[q] && before[q]:
			resumed = append(resumed, q)
		}
	}
	if len(paused) == 0 && len(resumed) == 0 {
		return
	}
	h.paused.Store(&now)
	h.allPaused.Store(len(now) == len(h.w.opts.Queues))
	if len(paused) > 0 {
		h.w.report(Event{Type: EventPaused, Queue: strings.Join(paused, ",")})
	}
	if len(resumed) > 0 {
		h.w.report(Event{Type: EventResumed, Queue: strings.Join(resumed, ",")})
	}
	select {
	case h.w.wake <- struct{}{}:
	default:
	}
}

// queuePaused reports whether queue's pause flag was set at the last beat.
func (h *heartbeat) queuePaused(queue string) bool {
	if h == nil {
		return false
	}
	if h.held.Load() {
		return true
	}
	p := h.paused.Load()
	return p != nil && (*p)[queue]
}

// everyQueuePaused reports whether the worker has no queue left to pop.
func (h *heartbeat) everyQueuePaused() bool {
	return h != nil && (h.allPaused.Load() || h.held.Load())
}

// firstActive is the queue an idle worker waits on: the first one not paused.
func (h *heartbeat) firstActive(queues []string) string {
	for _, q := range queues {
		if !h.queuePaused(q) {
			return q
		}
	}
	return queues[0]
}

// info is the worker's entry now.
func (h *heartbeat) info() Info {
	w := h.w
	in := Info{
		ID: h.cfg.ID, Host: h.cfg.Host, PID: os.Getpid(), Name: w.opts.Name, Connection: w.opts.Connection,
		Queues: w.opts.Queues, Concurrency: w.opts.Concurrency, State: StateRunning,
		Processed: h.processed.Load(), Failed: h.failed.Load(), MemoryBytes: w.memory(),
		StartedAt: h.started, BeatAt: w.now(), HeartbeatS: h.cfg.Interval.Seconds(), Version: h.cfg.Version,
		Running: []RunningJob{}, History: h.hist.completed(w.now(), w.opts.Queues),
		Master: h.cfg.Master, Supervisor: h.cfg.Supervisor,
	}
	p := h.paused.Load()
	for _, q := range w.opts.Queues {
		if p != nil && (*p)[q] {
			in.PausedQueues = append(in.PausedQueues, q)
		}
	}
	select {
	case <-w.stopCh:
		in.State = StateStopping
	default:
		if w.isPaused() || h.everyQueuePaused() {
			in.State = StatePaused
		}
	}
	var payloads [][]byte
	h.running.each(func(r *connectors.Reserved, at time.Time) {
		in.Running = append(in.Running, RunningJob{ID: r.ID, Queue: r.Queue, StartedAt: at})
		payloads = append(payloads, r.Payload)
	})
	for i, raw := range payloads {
		in.Running[i].Name = "(unreadable)"
		if p, err := jobs.Decode(raw); err == nil {
			in.Running[i].Name = jobName(p)
		}
	}
	slices.SortFunc(in.Running, func(a, b RunningJob) int { return a.StartedAt.Compare(b.StartedAt) })
	return in
}

// PHPTruthy reads a cache value as PHP's `if ($value)` would: absent, false, 0, "", "0" and null
// are false, in Laravel's serialized form or (for a number in Redis) as stored.
func PHPTruthy(v string) bool {
	switch v {
	case "", "0", "b:0;", "i:0;", "d:0;", "N;", `s:0:"";`, `s:1:"0";`:
		return false
	}
	return true
}
