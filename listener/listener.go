// Package listener is `qctl listen`: it runs `work --once` children one job at a time (or
// Processes at once), relays their output, kills any child that runs past --timeout or grows past
// --memory, releases or fails the job such a child held, and keeps going. A child that times out,
// crashes or cannot start never stops the listener.
//
// Lifecycle: Run blocks until the listener stops. Stop forwards TERM to running children (they
// finish their job) and starts no more; a second Stop (Kill) forwards TERM again, which makes
// children cancel their jobs. Both are safe to call at any time, from any goroutine.
package listener

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// Options are the `qctl listen` flags and how to start a child.
type Options struct {
	Executable string   // the qctl binary children run (os.Executable)
	GlobalArgs []string // flags before "work", e.g. --config
	WorkArgs   []string // connection and worker flags after "work" (--queue, --tries, ...)
	Connection string
	Name       string
	Processes  int           // children at once
	Timeout    time.Duration // a child is killed after this long; 0 = never
	Memory     uint64        // a child whose resident memory passes this is killed; also the listener's own limit
	Sleep      time.Duration // pause after a child found nothing to do
	Tries      int           // as `work --tries`, for jobs of killed children
	Backoff    []time.Duration
	JSON       bool
	// SampleEvery is how often a child's memory is read; default 100ms.
	SampleEvery time.Duration
}

// Deps are the listener's collaborators: the connection (to release a killed child's job and to
// read the restart signal) and the failed store (for a killed child's job that is out of tries).
type Deps struct {
	Queue          connectors.Queue
	Failed         worker.FailedLogger
	Report         worker.Reporter
	Stdout, Stderr io.Writer
	Now            func() time.Time
	Memory         func() uint64 // the listener's own resident memory; nil = none checked
	// Observe hears every job event of every child (their output is already relayed), for
	// metrics; nil ignores them.
	Observe worker.Reporter
}

// Listener supervises `work --once` children.
type Listener struct {
	opts           Options
	queue          connectors.Queue
	failed         worker.FailedLogger
	report         worker.Reporter
	observe        worker.Reporter
	stdout, stderr io.Writer
	now            func() time.Time
	memory         func() uint64
	outMu          sync.Mutex // one line at a time on stdout and stderr

	control chan syscall.Signal // Stop, Kill, Pause, Resume, for the Run goroutine

	statMu sync.Mutex
	stat   status // what the registry entry shows, set by Run
}

// status is the listener as its registry entry shows it.
type status struct {
	children          int
	running           []worker.RunningJob
	paused, stopping  bool
	processed, failed int64
}

// New returns a listener; it does nothing until Run.
func New(d Deps, o Options) *Listener {
	if o.Processes < 1 {
		o.Processes = 1
	}
	if o.SampleEvery <= 0 {
		o.SampleEvery = 100 * time.Millisecond
	}
	if o.Name == "" {
		o.Name = "listen"
	}
	l := &Listener{opts: o, queue: d.Queue, failed: d.Failed, report: d.Report, stdout: d.Stdout, stderr: d.Stderr,
		now: d.Now, memory: d.Memory, control: make(chan syscall.Signal, 8)}
	if l.now == nil {
		l.now = time.Now
	}
	if l.report == nil {
		l.report = func(worker.Event) {}
	}
	observe := d.Observe
	if observe == nil {
		observe = func(worker.Event) {}
	}
	l.observe = func(e worker.Event) {
		switch e.Type {
		case worker.EventProcessed:
			l.statMu.Lock()
			l.stat.processed++
			l.statMu.Unlock()
		case worker.EventFailed:
			l.statMu.Lock()
			l.stat.failed++
			l.statMu.Unlock()
		}
		observe(e)
	}
	inner := l.report
	l.report = func(e worker.Event) {
		if e.Time.IsZero() {
			e.Time = l.now()
		}
		if e.Worker == "" {
			e.Worker = l.opts.Name
		}
		inner(e)
	}
	return l
}

// Stop starts no more children and lets running ones finish their job; called again, it makes
// them cancel it.
func (l *Listener) Stop() { l.send(syscall.SIGTERM) }

// Kill makes running children cancel their jobs (which they release) and stops the listener: a
// second Stop, under the name a worker's hard stop has.
func (l *Listener) Kill() { l.send(syscall.SIGTERM) }

// Pause starts no more children until Resume; running ones go on.
func (l *Listener) Pause() { l.send(syscall.SIGUSR2) }

// Resume undoes Pause.
func (l *Listener) Resume() { l.send(syscall.SIGCONT) }

func (l *Listener) send(s syscall.Signal) {
	select {
	case l.control <- s:
	default: // a full queue of controls already says everything this one would
	}
}

// spares is how many children each slot keeps started and connected, waiting at their gates.
// Starting a qctl process costs about 7 ms of CPU, more than a short job: with two spares, two
// start-ups overlap on two cores and the next job never waits for one (as php-fpm and Apache's
// prefork keep spare servers).
const spares = 2

// slot is one place for a child: the one running a job, and spares already started and
// connected, waiting at their gates to run the next ones.
type slot struct {
	child    *child
	spares   []*child
	next     time.Time // when the next child may pop (after an empty queue or a failure)
	failures int
}

// dropSpare removes c from the slot's spares and reports whether it was one.
func (s *slot) dropSpare(c *child) bool {
	for i, sp := range s.spares {
		if sp == c {
			s.spares = append(s.spares[:i], s.spares[i+1:]...)
			return true
		}
	}
	return false
}

// Run supervises children until stopped, and returns why.
func (l *Listener) Run(ctx context.Context) (worker.StopReason, error) {
	slots := make([]slot, l.opts.Processes)
	results := make(chan childResult, l.opts.Processes)
	var (
		reason       worker.StopReason
		paused       bool
		cancelled    = ctx.Done()
		restartValue string
		checkedAt    time.Time
	)
	rs, canRestart := l.queue.(connectors.Restarter)
	if canRestart {
		v, err := rs.RestartSignal(ctx)
		if err != nil && !errors.Is(err, connectors.ErrUnavailable) {
			return "", err
		}
		restartValue, checkedAt = v, l.now()
	}
	running := func() int { // children running a job
		n := 0
		for _, s := range slots {
			if s.child != nil {
				n++
			}
		}
		return n
	}
	alive := func() int { // every process, spares included
		n := running()
		for _, s := range slots {
			n += len(s.spares)
		}
		return n
	}
	start := func(i int) *child {
		c := l.spawn(i + 1)
		go func() { results <- <-c.result }()
		return c
	}
	l.report(worker.Event{Type: worker.EventStarting, Worker: l.opts.Name})
	for {
		l.setStatus(slots, alive(), paused, reason != "")
		if reason == "" {
			reason = l.stopCondition(canRestart, rs, restartValue, &checkedAt)
		}
		if reason != "" {
			for _, s := range slots {
				for _, sp := range s.spares {
					sp.cancel()
				}
			}
			if alive() == 0 {
				l.report(worker.Event{Type: worker.EventStopped, Reason: reason, Worker: l.opts.Name})
				return reason, nil
			}
		}
		var wake time.Time
		if reason == "" {
			for i := range slots {
				s := &slots[i]
				due := !l.now().Before(s.next)
				if s.child == nil && due && !paused {
					if len(s.spares) == 0 {
						s.spares = append(s.spares, start(i))
					}
					s.child, s.spares = s.spares[0], s.spares[1:]
					s.child.open()
				}
				// Start the next children now, so one is connected when this slot is free
				// again; after failures, only one at a time and when the back-off is over.
				for len(s.spares) < spares && (s.failures == 0 || due && len(s.spares) == 0) {
					s.spares = append(s.spares, start(i))
				}
				if s.child == nil && !due && (wake.IsZero() || s.next.Before(wake)) {
					wake = s.next
				}
			}
		}
		wait := time.Hour
		if !wake.IsZero() {
			wait = wake.Sub(l.now())
		} else if reason == "" && canRestart {
			wait = time.Second // keep reading the restart signal while children run
		}
		timer := time.NewTimer(wait)
		select {
		case res := <-results:
			s := &slots[res.slot-1]
			switch {
			case s.dropSpare(res.child): // it died at its gate: it could not start or connect
				if reason == "" {
					l.problem(s, l.now(), fmt.Sprintf("child %d exited with status %d before taking a job", res.slot, res.status))
				}
			case res.child == s.child:
				s.child = nil
				l.finished(s, res, reason != "")
			}
		case sig := <-l.control:
			switch sig {
			case syscall.SIGTERM:
				if reason == "" {
					reason = worker.StopInterrupted
				}
				for _, s := range slots {
					if s.child != nil {
						s.child.signal(syscall.SIGTERM)
					}
				}
				l.report(worker.Event{Type: worker.EventStopping, Reason: reason, Worker: l.opts.Name,
					Error: fmt.Sprintf("waiting for %d running children", running())})
			case syscall.SIGUSR2:
				paused = true
				l.report(worker.Event{Type: worker.EventPaused, Worker: l.opts.Name})
			case syscall.SIGCONT:
				paused = false
				l.report(worker.Event{Type: worker.EventResumed, Worker: l.opts.Name})
			}
		case <-timer.C:
		case <-cancelled:
			cancelled = nil // a done context stays ready: act on it once
			if reason == "" {
				reason = worker.StopInterrupted
			}
			for _, s := range slots {
				if s.child != nil {
					s.child.signal(syscall.SIGTERM)
					s.child.signal(syscall.SIGTERM)
				}
			}
		}
		timer.Stop()
	}
}

// setStatus records what the registry entry shows: the children, the jobs running (one per
// child past its gate), the state.
func (l *Listener) setStatus(slots []slot, children int, paused, stopping bool) {
	var running []worker.RunningJob
	for _, s := range slots {
		if c := s.child; c != nil {
			select {
			case <-c.opened:
				running = append(running, worker.RunningJob{Name: fmt.Sprintf("(child %s-%d, pid %d)", l.opts.Name, c.slot, c.cmd.Process.Pid), StartedAt: c.started})
			default:
			}
		}
	}
	l.statMu.Lock()
	l.stat.children, l.stat.running, l.stat.paused, l.stat.stopping = children, running, paused, stopping
	l.statMu.Unlock()
}

// stopCondition reads the restart signal (at most once a second) and the listener's own memory.
func (l *Listener) stopCondition(canRestart bool, rs connectors.Restarter, value string, checkedAt *time.Time) worker.StopReason {
	if l.opts.Memory > 0 && l.memory != nil && l.memory() >= l.opts.Memory {
		return worker.StopMemory
	}
	if canRestart && l.now().Sub(*checkedAt) >= time.Second {
		*checkedAt = l.now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if v, err := rs.RestartSignal(ctx); err == nil && v != value {
			return worker.StopRestart
		}
	}
	return ""
}

// finished decides what follows a child's exit: release or fail the job a killed child held,
// sleep after an empty queue, back off when children keep failing to start. While the listener
// stops, a child that held no job and died of the TERM it passed on (one just started, before it
// could catch signals) is no problem to report.
func (l *Listener) finished(s *slot, res childResult, stopping bool) {
	now := l.now()
	switch {
	case res.err != nil:
		l.problem(s, now, fmt.Sprintf("child %d could not start: %v", res.slot, res.err))
	case res.killed != "":
		s.failures, s.next = 0, now
		msg := fmt.Sprintf("child %d killed: %s", res.slot, res.killed)
		if res.open != nil {
			msg += "; " + l.recover(res.open, res.killed)
		}
		l.report(worker.Event{Type: worker.EventError, Worker: l.opts.Name, Error: msg})
	case res.status != 0 && !res.reserved && !stopping:
		l.problem(s, now, fmt.Sprintf("child %d exited with status %d before taking a job", res.slot, res.status))
	case !res.reserved:
		s.failures, s.next = 0, now.Add(l.opts.Sleep) // nothing to do
	default:
		s.failures, s.next = 0, now
		if res.status != 0 {
			l.report(worker.Event{Type: worker.EventError, Worker: l.opts.Name, Error: fmt.Sprintf("child %d exited with status %d", res.slot, res.status)})
		}
		if res.open != nil { // it died mid-job without being killed by us
			l.report(worker.Event{Type: worker.EventError, Worker: l.opts.Name, Error: fmt.Sprintf("child %d died during job %s; %s", res.slot, res.open.ID, l.recover(res.open, "its worker died"))})
		}
	}
}

// problem logs a child that failed to get going and backs its slot off: 1 s, doubling to 30 s.
func (l *Listener) problem(s *slot, now time.Time, msg string) {
	s.failures++
	delay := time.Second << min(s.failures-1, 5)
	if delay > 30*time.Second {
		delay = 30 * time.Second
	}
	s.next = now.Add(delay)
	l.report(worker.Event{Type: worker.EventError, Worker: l.opts.Name, Error: fmt.Sprintf("%s (next try in %s)", msg, delay)})
}

// recover releases the job a killed child held, or fails it when it is out of tries, so it does
// not wait for its lease to lapse. It says what it did.
func (l *Listener) recover(r *connectors.Reserved, why string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, _ := jobs.Decode(r.Payload) // nil when it cannot be read, which the policy fails
	pol := worker.Policy{Tries: l.opts.Tries, Backoff: l.opts.Backoff, Timeout: l.opts.Timeout}
	d := pol.Decide(worker.Run{Payload: p, Ending: worker.Killed, Attempts: func() int { return r.Attempts },
		Err: fmt.Errorf("listen: the worker running this job was killed: %s", why)})
	if d.Action == worker.ReleaseJob {
		if err := l.queue.Release(ctx, r, d.Delay); err != nil {
			return fmt.Sprintf("job %s could not be released (%v); it returns when its lease ends", r.ID, err)
		}
		if r.Attempts == 0 { // not counted: the backend counts on demand (beanstalkd, unlimited tries)
			return fmt.Sprintf("job %s released (retry in %s)", r.ID, d.Delay)
		}
		return fmt.Sprintf("job %s released (attempt %d, retry in %s)", r.ID, r.Attempts, d.Delay)
	}
	if _, err := l.failed.Log(ctx, l.opts.Connection, r.Queue, r.Payload, d.Reason.Error()); err != nil {
		return fmt.Sprintf("job %s could not be recorded as failed (%v); it returns when its lease ends", r.ID, err)
	}
	if err := l.queue.Delete(ctx, r); err != nil && !errors.Is(err, connectors.ErrLeaseLost) {
		return fmt.Sprintf("job %s failed but could not be deleted (%v)", r.ID, err)
	}
	return fmt.Sprintf("job %s failed after %d attempts", r.ID, r.Attempts)
}
