package dashboard

import (
	"context"
	"sync"
	"time"
)

// sampler keeps the latest snapshot of every connection, read in the background while pages are
// being viewed, so a page renders from memory however long the backends take to count their
// queues: counting a million-row SQLite queue reads every row and takes seconds, and a page that
// waited for it on each refresh would be unusable. A page shows when its numbers were read.
//
// The loop runs only while someone looks: it stops after idleAfter without a read and starts
// again with the next one, which waits for a fresh sample only when the last is older than
// staleAfter (or an action invalidated it).
type sampler struct {
	read  func(ctx context.Context) ([]connView, string) // reads every connection once
	every time.Duration                                  // pause between samples, at least
	ctx   context.Context                                // ends with the dashboard

	mu       sync.Mutex
	views    []connView
	note     string
	at       time.Time     // when the sample was taken
	took     time.Duration // how long it took
	dirty    time.Time     // when an action last changed the queues; zero once sampled after
	kick     chan struct{} // wakes the loop early after an action
	running  bool
	lastRead time.Time
	fresh    chan struct{} // closed when the sample in progress is stored
}

const idleAfter = time.Minute

// sample is one reading of every connection, as pages show it.
type sample struct {
	Conns []connView
	Note  string
	At    time.Time
	Took  time.Duration
}

// get returns the latest sample. It waits for a new one when there is none, or the last is older
// than staleAfter or was invalidated by an action; otherwise it returns at once, and keeps the
// background loop running.
func (s *sampler) get(ctx context.Context) sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastRead = time.Now()
	for {
		if !s.running {
			s.running = true
			s.fresh = make(chan struct{})
			go s.loop()
		}
		staleAfter := max(2*s.every, 2*s.took)
		if s.views != nil && s.dirty.IsZero() && time.Since(s.at) <= staleAfter {
			break
		}
		wait := s.fresh
		s.mu.Unlock()
		select {
		case <-wait:
			s.mu.Lock()
		case <-ctx.Done():
			s.mu.Lock()
			return sample{Conns: s.views, Note: s.note, At: s.at, Took: s.took}
		}
	}
	return sample{Conns: s.views, Note: s.note, At: s.at, Took: s.took}
}

// invalidate makes the next get wait for a sample taken after now.
func (s *sampler) invalidate() {
	s.mu.Lock()
	s.dirty = time.Now()
	s.mu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// loop samples until nobody has read for idleAfter or the dashboard closes.
func (s *sampler) loop() {
	for {
		start := time.Now()
		views, note := s.read(s.ctx)
		s.mu.Lock()
		s.views, s.note, s.at, s.took = views, note, start, time.Since(start)
		// An action that ran during this sample may not be in it: stay dirty until the next.
		if !s.dirty.IsZero() && start.After(s.dirty) {
			s.dirty = time.Time{}
		}
		close(s.fresh)
		s.fresh = make(chan struct{})
		idle := time.Since(s.lastRead) > idleAfter || s.ctx.Err() != nil
		if idle {
			s.running = false
			close(s.fresh)
		}
		pause := max(s.every, s.took)
		s.mu.Unlock()
		if idle {
			return
		}
		select {
		case <-time.After(pause):
		case <-s.kick:
		case <-s.ctx.Done():
		}
	}
}

// peek returns the latest sample without waiting; its Conns are nil before the first.
func (s *sampler) peek() sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return sample{Conns: s.views, Note: s.note, At: s.at, Took: s.took}
}
