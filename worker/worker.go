// Package worker is the daemon loop of `qctl work`: it pops jobs in strict queue priority, runs up
// to Concurrency of them at once, and deletes, releases or fails each one (see execute.go).
//
// Lifecycle: Run blocks until the worker stops and returns why. Stop is a soft stop (pop nothing
// more, let running jobs finish); Kill is a hard stop (cancel running jobs and release them).
// Both are safe to call twice, from any goroutine, before or after Run. Popping and running use
// separate contexts, so stopping the one never cuts the other short.
package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

// FailedLogger is the part of the failed store the worker needs.
type FailedLogger interface {
	Log(ctx context.Context, connection, queue string, payload []byte, exception string) (id string, err error)
}

// Worker pops and runs jobs from one connection.
type Worker struct {
	queue    connectors.Queue
	handlers *jobs.Registry
	failed   FailedLogger
	report   Reporter
	watch    func(*connectors.Reserved, bool)
	duties   Duties
	opts     Options
	now      func() time.Time
	after    func(time.Duration) <-chan time.Time
	memory   func() uint64

	stopOnce, killOnce sync.Once
	stopCh, killCh     chan struct{} // closed by Stop and Kill
	wake               chan struct{} // nudges the loop after Pause/Resume
	mu                 sync.RWMutex  // guards paused; read-held by each fetch while it pops and starts jobs
	paused             bool
	beat               *heartbeat // nil without Deps.Heartbeat (see heartbeat.go)
}

// Deps are a worker's collaborators.
type Deps struct {
	Queue    connectors.Queue
	Handlers *jobs.Registry
	Failed   FailedLogger
	Report   Reporter         // nil discards events
	Now      func() time.Time // nil = time.Now
	// After is the clock's timer for waits on a backend that does not answer; nil = time.After.
	After  func(time.Duration) <-chan time.Time
	Memory func() uint64 // resident bytes; nil = this process's RSS
	// Watch, when set, hears of every reservation before its job runs (done false) and again once
	// the job is deleted, released or failed (done true). `listen` children use it to tell the
	// listener which job to release if it has to kill them.
	Watch func(job *connectors.Reserved, done bool)
	// Duties, when set, run around every job (Laravel's chains, batches, unique locks and
	// encrypted commands); nil runs handlers alone.
	Duties Duties
	// Heartbeat, when set, registers the worker in its connection's fleet store and obeys the
	// pause and terminate flags found there (see heartbeat.go).
	Heartbeat *Heartbeat
}

// withDefaults fills the collaborators left nil.
func (d Deps) withDefaults() Deps {
	if d.Report == nil {
		d.Report = func(Event) {}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.After == nil {
		d.After = time.After
	}
	if d.Memory == nil {
		d.Memory = residentMemory
	}
	if d.Watch == nil {
		d.Watch = func(*connectors.Reserved, bool) {}
	}
	return d
}

// New returns a worker; it does nothing until Run.
func New(d Deps, o Options) *Worker {
	d = d.withDefaults()
	w := &Worker{
		queue: d.Queue, handlers: d.Handlers, failed: d.Failed, report: d.Report, opts: o.withDefaults(),
		now: d.Now, after: d.After, memory: d.Memory, watch: d.Watch, duties: d.Duties,
		stopCh: make(chan struct{}), killCh: make(chan struct{}), wake: make(chan struct{}, 1),
	}
	if w.duties == nil {
		w.duties = noDuties{}
	}
	inner := w.report
	w.report = func(e Event) {
		if e.Time.IsZero() {
			e.Time = w.now()
		}
		e.Worker = w.opts.Name
		inner(e)
	}
	w.beat = newHeartbeat(w, d.Heartbeat)
	return w
}

// Stop asks the worker to pop nothing more and return once running jobs finish. It says so at
// once, so an operator whose worker is busy with a long job knows the signal arrived.
func (w *Worker) Stop() {
	w.stopOnce.Do(func() {
		close(w.stopCh)
		w.report(Event{Type: EventStopping, Reason: StopInterrupted, Error: "finishing running jobs; stop again to cancel them"})
	})
}

// Kill asks the worker to cancel running jobs, release them and return.
func (w *Worker) Kill() {
	w.Stop()
	w.killOnce.Do(func() { close(w.killCh) })
}

// Pause stops popping until Resume; running jobs go on.
func (w *Worker) Pause() { w.setPaused(true) }

// Resume undoes Pause.
func (w *Worker) Resume() { w.setPaused(false) }

func (w *Worker) isPaused() bool {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.paused
}

func (w *Worker) setPaused(p bool) {
	w.mu.Lock()
	changed := w.paused != p
	w.paused = p
	w.mu.Unlock()
	if changed {
		if p {
			w.report(Event{Type: EventPaused})
		} else {
			w.report(Event{Type: EventResumed})
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Run pops and runs jobs until a stop condition and returns the reason. A non-nil error means
// the worker could not run at all (for example, missing tables); reason is then "".
func (w *Worker) Run(ctx context.Context) (StopReason, error) {
	jobs.TieToProcess() // an exec handler must not run on once its worker is gone, however it went
	jobCtx, cancelJobs := context.WithCancel(ctx)
	defer cancelJobs()
	fetchCtx, cancelFetch := context.WithCancel(jobCtx)
	defer cancelFetch()
	go func() {
		select {
		case <-w.stopCh:
			cancelFetch()
		case <-jobCtx.Done():
		}
		select {
		case <-w.killCh:
			cancelJobs()
		case <-jobCtx.Done():
		}
	}()

	l := &loop{
		w: w, fetchCtx: fetchCtx, jobCtx: jobCtx, started: w.now(),
		results: make(chan result, w.opts.Concurrency), fetchDone: make(chan fetchResult, maxFetches),
		starts: make(chan *connectors.Reserved), fetchReq: make(chan fetchRequest, maxFetches),
		maxFetches: fetchesFor(w.queue), waitDone: make(chan error, 1),
	}
	l.minBatch = (w.opts.Concurrency + 1) / 2
	l.outage = outage{report: w.report, now: w.now}
	if nw, ok := w.queue.(connectors.NotifiedWaiter); ok {
		l.shortBatchEmpties, l.waitHearsAll = nw.WaitIsNotified()
	}
	for range l.maxFetches {
		go l.fetcher()
	}
	defer close(l.fetchReq)
	// One goroutine per slot runs jobs for the whole Run: its stack has grown to what a job needs
	// once, instead of on every job. Each run is timed on the monotonic clock for gather.
	for range w.opts.Concurrency {
		go func() {
			for r := range l.starts {
				start := time.Now()
				res := w.execute(l.jobCtx, r)
				res.took = time.Since(start)
				l.results <- res
			}
		}()
	}
	defer close(l.starts)
	if c, ok := w.queue.(connectors.AttemptCounter); ok {
		// With limited tries every job needs its count before it runs, which the pop's own
		// pipeline gets cheapest; otherwise nothing may need it at all (see execute).
		c.CountAttemptsAtPop(w.opts.Tries > 0)
	}
	if err := l.readRestart(ctx); err != nil {
		return "", err
	}
	w.report(Event{Type: EventStarting, Queue: strings.Join(w.opts.Queues, ",")})
	l.completer = newCompleter(w.queue, w.report, 2*w.opts.Concurrency)
	w.beat.start(ctx)
	reason := l.run()
	w.beat.stop()
	l.completer.stop()
	w.report(Event{Type: EventStopped, Reason: reason})
	return reason, nil
}

// loop is the state of one Run. Only Run's goroutine touches it; fetches run on goroutines of
// their own and report back on fetchDone.
type loop struct {
	w                *Worker
	fetchCtx, jobCtx context.Context
	started          time.Time
	results          chan result
	starts           chan *connectors.Reserved // hands a reserved job to an idle slot goroutine
	fetchReq         chan fetchRequest         // slots a fetch should fill, for a fetcher goroutine
	fetchDone        chan fetchResult
	inflight         int // jobs started and not yet taken back
	claimed          int // slots held by outstanding fetches
	fetches          int // fetches outstanding
	maxFetches       int // how many may be: maxFetches, or 1 (see fetchesFor)
	gathering            // holds a few free slots back while short jobs are about to free more
	processed        int
	completer        *completer // deletes finished jobs off the loop's goroutine
	reason           StopReason
	restartValue     string
	restartCheckedAt time.Time
	outage           outage // the backend's failures since it last answered
	backingOff       bool   // backOff is waiting: fetch errors are part of the outage it waits out
	fetched          bool   // a pop was tried: limits checked "after a job" apply from now on
	empty            bool   // a fetch found every queue empty
	emptyAfter       int    // the latest empty fetch began after this many jobs were taken back
	fetchErr         error  // the last fetch's error, not yet acted on
	waiting          bool   // a backend wait runs on a goroutine of its own; it answers on waitDone
	waitDone         chan error
	cancelWait       context.CancelFunc
	waitCancelled    bool // the loop cut the outstanding wait short
	popDue           bool // a backend wait ended and no fetch has begun since: pop before waiting again
	// See connectors.NotifiedWaiter: a short batch means every queue is empty; the backend's
	// wait hears of every push.
	shortBatchEmpties, waitHearsAll bool
}

func (l *loop) run() StopReason {
	w := l.w
	for {
		l.collect(false)
		if l.reason == "" {
			l.reason = l.stopCondition()
			if l.reason != "" && l.reason != StopInterrupted && l.inflight > 0 {
				w.report(Event{Type: EventStopping, Reason: l.reason}) // Stop reported its own
			}
		}
		if l.reason != "" {
			l.stopWait()
			// An outstanding backend wait was cut short just above, but Run does not wait for its
			// goroutine: Redis's BLPOP cannot be interrupted and reads until its own timeout (up
			// to a second), which every stop, --stop-when-empty and --max-jobs exit would then
			// pay. The goroutine answers on the buffered waitDone, or fails once the caller
			// closes the backend, and ends; it reserves nothing (a ReservingWaiter's wait is not
			// run on a goroutine).
			if l.inflight == 0 && l.fetches == 0 {
				return l.reason
			}
			l.collect(true)
			continue
		}
		if err := l.fetchErr; err != nil {
			l.fetchErr = nil
			if l.fetchCtx.Err() != nil {
				continue // a stop cut the pop short; the next round sees it
			}
			if errors.Is(err, connectors.ErrNotMigrated) {
				w.report(Event{Type: EventError, Error: err.Error()})
				l.reason = StopLostConnection
				continue
			}
			l.backOff(err)
			continue
		}
		if l.empty && l.fetches == 0 {
			l.empty = false
			if l.inflight == 0 && (w.opts.StopWhenEmpty || w.opts.Once) {
				// Only a pop begun after the last job ended may say so: a job released (or
				// one that pushed) while an earlier pop found nothing is ready again.
				if l.emptyAfter == l.processed {
					l.reason = StopEmpty
				}
				continue
			}
			if !l.popDue {
				l.waitForWork()
			}
			continue
		}
		// Every queue paused counts as empty for --once and --stop-when-empty, as in Laravel.
		if w.isPaused() || w.beat.everyQueuePaused() && !w.opts.Once && !w.opts.StopWhenEmpty {
			l.idle(time.Hour)
			continue
		}
		free := l.freeSlots()
		if free == 0 || l.empty || l.fetches == l.maxFetches {
			l.collect(true)
			continue
		}
		if l.waiting && l.waitHearsAll && !(l.inflight == 0 && (w.opts.StopWhenEmpty || w.opts.Once)) {
			// Every queue was empty when the wait began, and it has heard of no push since: a
			// pop for the slot a finished job freed would find nothing. (--stop-when-empty pops
			// once the last job is done, to stop on what it finds.)
			l.waitForWork()
			continue
		}
		if l.gather(free) {
			continue
		}
		l.startFetch(free)
	}
}

// freeSlots is how many more jobs may start now, within Concurrency, --max-jobs and --once.
func (l *loop) freeSlots() int {
	busy := l.inflight + l.claimed
	free := l.w.opts.Concurrency - busy
	limit := l.w.opts.MaxJobs
	if l.w.opts.Once {
		limit = 1
	}
	if limit > 0 && l.processed+busy+free > limit {
		free = limit - l.processed - busy
	}
	if free < 0 {
		return 0
	}
	return free
}

// collect takes finished jobs, fetches and backend waits; with block it waits for at least one
// when any is outstanding.
func (l *loop) collect(block bool) {
	if block && (l.inflight > 0 || l.fetches > 0 || l.waiting) {
		select {
		case r := <-l.results:
			l.take(r)
		case f := <-l.fetchDone:
			l.takeFetch(f)
		case err := <-l.waitDone:
			l.waitEnded(err)
		}
	}
	for {
		select {
		case r := <-l.results:
			l.take(r)
		case f := <-l.fetchDone:
			l.takeFetch(f)
		case err := <-l.waitDone:
			l.waitEnded(err)
		default:
			return
		}
	}
}

func (l *loop) take(r result) {
	l.inflight--
	l.processed++
	l.jobTime.add(r.took)
	if r.outcome == outcomeDone || r.outcome == outcomeFailed {
		l.completer.add(r.job)
	}
	l.w.watch(r.job, true)
	if r.abandoned && l.reason == "" {
		l.reason = StopTimedOut
		l.w.report(Event{Type: EventStopping, Reason: l.reason, ID: r.job.ID, Queue: r.job.Queue,
			Error: "a handler ignored its timeout and may still be running; exiting so a supervisor starts a fresh worker"})
	}
	if l.w.opts.Rest > 0 {
		l.sleep(l.w.opts.Rest)
	}
}

// stopCondition checks the reasons to stop that do not come from a job's result.
func (l *loop) stopCondition() StopReason {
	w := l.w
	select {
	case <-w.stopCh:
		return StopInterrupted
	default:
	}
	if l.jobLimitReached() {
		return StopMaxJobs
	}
	if w.opts.MaxTime > 0 && w.now().Sub(l.started) >= w.opts.MaxTime {
		return StopMaxTime
	}
	// Like Laravel, memory is checked after a job or an idle round, never before the first pop.
	if w.opts.Memory > 0 && l.fetched && w.memory() >= w.opts.Memory {
		return StopMemory
	}
	if l.restartRequested() {
		return StopRestart
	}
	return ""
}

// jobLimitReached reports whether --max-jobs (or --once) jobs have been processed.
func (l *loop) jobLimitReached() bool {
	o := l.w.opts
	return o.MaxJobs > 0 && l.processed >= o.MaxJobs || o.Once && l.processed >= 1
}

// readRestart remembers the restart signal's value at start; a later change means `qctl restart`.
func (l *loop) readRestart(ctx context.Context) error {
	rs, ok := l.w.queue.(connectors.Restarter)
	if !ok {
		return nil
	}
	v, err := rs.RestartSignal(ctx)
	if err != nil && !errors.Is(err, connectors.ErrUnavailable) {
		return err
	}
	l.restartValue, l.restartCheckedAt = v, l.w.now()
	return nil
}

// restartCheckEvery bounds how often the restart signal is read: once per second costs a busy
// worker almost nothing, and a restart is still seen within a second.
const restartCheckEvery = time.Second

func (l *loop) restartRequested() bool {
	rs, ok := l.w.queue.(connectors.Restarter)
	if !ok || l.w.now().Sub(l.restartCheckedAt) < restartCheckEvery {
		return false
	}
	l.restartCheckedAt = l.w.now()
	ctx, cancel := context.WithTimeout(l.fetchCtx, 5*time.Second)
	defer cancel()
	v, err := rs.RestartSignal(ctx)
	return err == nil && v != l.restartValue
}

// waitForWork waits after finding every queue empty: on the first queue when the backend can (for
// block_for, or for --sleep on a connectors.SleepWaiter), else sleeping --sleep. A running job
// finishing, a pause or a stop ends it early.
//
// The backend's wait runs on a goroutine of its own and outlives this call: a job finishing frees
// a slot, the loop pops for it (unless the wait hears of every push: connectors.NotifiedWaiter),
// and if that finds nothing too it comes back here to the same wait, which was listening all
// along, rather than starting another. So a free slot always waits on the
// push notification (or the backend's polling), also while other jobs run, and a job pushed then
// starts at once instead of after --sleep. When the wait ends, woken or not, the loop pops before
// it waits again (popDue); a wake-up that races with a pop already under way thus still gets a
// pop of its own, and a wait that keeps ending costs one pop each time, never a spin.
func (l *loop) waitForWork() {
	w := l.w
	waiter, d := l.backendWait()
	if waiter == nil || l.freeSlots() == 0 {
		l.idle(w.opts.Sleep)
		return
	}
	queue := w.beat.firstActive(w.opts.Queues)
	if _, reserves := waiter.(connectors.ReservingWaiter); reserves {
		// No job runs (see backendWait), and the job it may reserve must be popped at once.
		if _, err := waiter.Wait(l.fetchCtx, queue, d); err != nil && l.fetchCtx.Err() == nil {
			l.backOff(err)
		}
		return
	}
	if !l.waiting {
		ctx, cancel := context.WithCancel(l.fetchCtx)
		l.waiting, l.waitCancelled, l.cancelWait = true, false, cancel
		go func() {
			_, err := waiter.Wait(ctx, queue, d)
			l.waitDone <- err
		}()
	}
	l.await(nil)
}

// backendWait returns the backend's wait and how long one may last, or nil when the worker
// sleeps instead: the backend cannot wait, or (block_for unset) its wait would hold a server
// connection that Laravel's meaning of block_for = 0 says not to hold, or it reserves what it
// wakes on and a job is running (connectors.ReservingWaiter).
func (l *loop) backendWait() (connectors.Waiter, time.Duration) {
	w := l.w
	waiter, ok := w.queue.(connectors.Waiter)
	if !ok {
		return nil, 0
	}
	if _, reserves := waiter.(connectors.ReservingWaiter); reserves && l.inflight > 0 {
		return nil, 0
	}
	d := w.opts.BlockFor
	if _, ok := w.queue.(connectors.SleepWaiter); ok && d == 0 {
		d = max(w.opts.Sleep, time.Millisecond)
	}
	if d <= 0 {
		return nil, 0
	}
	return waiter, d
}

// waitEnded books the end of a backend wait: the loop pops next, or waits out an outage. An error
// of a wait the loop cut short (to stop, or to back off from a failed fetch) is already covered.
func (l *loop) waitEnded(err error) {
	l.waiting = false
	l.cancelWait()
	l.popDue = true
	if err != nil && !l.waitCancelled && l.fetchCtx.Err() == nil && !l.backingOff {
		l.fetchErr = err
	}
}

// stopWait cuts the outstanding backend wait short; collect takes its answer.
func (l *loop) stopWait() {
	if l.waiting {
		l.waitCancelled = true
		l.cancelWait()
	}
}

// idle waits up to d, returning early when a job or fetch finishes, or the worker is stopped,
// paused or resumed.
func (l *loop) idle(d time.Duration) {
	if d <= 0 {
		d = time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	l.await(t.C)
}

// await takes the first of: a finished job, a finished fetch, the end of the backend wait, a
// stop, a wake-up (a pause changed, a push was signalled), or timeout (nil: none).
func (l *loop) await(timeout <-chan time.Time) {
	select {
	case r := <-l.results:
		l.take(r)
	case f := <-l.fetchDone:
		l.takeFetch(f)
	case err := <-l.waitDone:
		l.waitEnded(err)
	case <-l.fetchCtx.Done():
	case <-l.w.wake:
	case <-timeout:
	}
}

// sleep waits d unless the worker is stopped.
func (l *loop) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.fetchCtx.Done():
	}
}
