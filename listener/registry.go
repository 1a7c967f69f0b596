package listener

import (
	"context"
	"os"
	"time"

	"github.com/qctl/qctl/worker"
)

// Registration is how the listener lists itself: `qctl workers` shows it (its queues, state,
// children), `qctl terminate` stops it as TERM does, `qctl pause --worker` pauses it as USR2
// does. Its `work --once` children are not listed (each runs one job) but obey queue pauses.
type Registration struct {
	Registry worker.Registry
	ID, Host string
	Queues   []string
	Interval time.Duration // between beats; 0 means worker.DefaultHeartbeat
	Version  string
}

// Register lists the listener and beats until the returned stop, which removes the entry: call
// it once Run has returned.
func (l *Listener) Register(r Registration) (stop func()) {
	if r.Interval <= 0 {
		r.Interval = worker.DefaultHeartbeat
	}
	started := l.now()
	quit, done := make(chan struct{}), make(chan struct{})
	held, failing := false, false
	beat := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*max(r.Interval, time.Second))
		defer cancel()
		req, err := r.Registry.Requests(ctx, r.ID, "", nil)
		if err == nil {
			if req.Terminate {
				l.report(worker.Event{Type: worker.EventStopping, Reason: worker.StopInterrupted, Error: "qctl terminate asked this listener to stop"})
				l.Stop()
			}
			if req.Paused != held {
				held = req.Paused
				if held {
					l.Pause()
				} else {
					l.Resume()
				}
			}
		}
		l.statMu.Lock()
		st := l.stat
		l.statMu.Unlock()
		in := worker.Info{
			ID: r.ID, Kind: worker.KindListener, Host: r.Host, PID: os.Getpid(), Name: l.opts.Name,
			Queues: r.Queues, Concurrency: l.opts.Processes, State: worker.StateRunning,
			Running: st.running, Children: st.children, Processed: st.processed, Failed: st.failed,
			StartedAt: started, BeatAt: l.now(), HeartbeatS: r.Interval.Seconds(), Version: r.Version,
		}
		if in.Running == nil {
			in.Running = []worker.RunningJob{}
		}
		if l.memory != nil {
			in.MemoryBytes = l.memory()
		}
		switch {
		case st.stopping:
			in.State = worker.StateStopping
		case st.paused:
			in.State = worker.StatePaused
		}
		if perr := r.Registry.Put(ctx, in, 3*r.Interval); err == nil {
			err = perr
		}
		if err != nil && !failing {
			l.report(worker.Event{Type: worker.EventError, Error: "heartbeat (terminate and pause are not seen until it works): " + err.Error()})
		}
		failing = err != nil
	}
	beat()
	go func() {
		defer close(done)
		t := time.NewTicker(r.Interval)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				beat()
			}
		}
	}()
	return func() {
		close(quit)
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := r.Registry.Remove(ctx, r.ID); err != nil {
			l.report(worker.Event{Type: worker.EventError, Error: "leaving the worker registry (the entry expires by itself): " + err.Error()})
		}
	}
}
