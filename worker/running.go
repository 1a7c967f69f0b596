package worker

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qctl/qctl/connectors"
)

// runningSet is the jobs a worker runs now, as its heartbeat entry lists them. Every job adds
// itself when it starts and removes itself when it ends, from its own goroutine, so the set takes
// no lock: a mutex and a map shared by 50 goroutines made these two calls cost more than the rest
// of the heartbeat together (BenchmarkHeartbeatPerJob). A job takes a free slot with a
// compare-and-swap; a job that finds none (more jobs than slots, which the worker's concurrency
// rules out) goes to a locked map instead, so nothing is ever left out of the list. A slot holds
// the job itself and, beside it, its start: no allocation per job.
type runningSet struct {
	slots []atomic.Pointer[connectors.Reserved]
	at    []atomic.Int64 // unix nanoseconds each slot's job started, written once it holds it
	seed  maphash.Seed   // hashes a job to the slot its add and remove look at first

	mu       sync.Mutex
	overflow map[*connectors.Reserved]time.Time
}

// newRunningSet returns a set with room for n jobs without the lock.
func newRunningSet(n int) *runningSet {
	n = max(n, 1)
	return &runningSet{slots: make([]atomic.Pointer[connectors.Reserved], n), at: make([]atomic.Int64, n), seed: maphash.MakeSeed()}
}

// add records r, started at at.
func (s *runningSet) add(r *connectors.Reserved, at time.Time) {
	n, start := s.first(r)
	for i := range n {
		k := (start + i) % n
		if slot := &s.slots[k]; slot.Load() == nil && slot.CompareAndSwap(nil, r) {
			s.at[k].Store(at.UnixNano())
			return
		}
	}
	s.mu.Lock()
	if s.overflow == nil {
		s.overflow = map[*connectors.Reserved]time.Time{}
	}
	s.overflow[r] = at
	s.mu.Unlock()
}

// remove forgets r; a job never added is no error.
func (s *runningSet) remove(r *connectors.Reserved) {
	n, start := s.first(r)
	for i := range n {
		if slot := &s.slots[(start+i)%n]; slot.Load() == r && slot.CompareAndSwap(r, nil) {
			return
		}
	}
	s.mu.Lock()
	delete(s.overflow, r)
	s.mu.Unlock()
}

// first returns the number of slots and the one r's add and remove try first: a hash of the
// job's address, so both usually find their slot at the first try.
func (s *runningSet) first(r *connectors.Reserved) (n, start uint64) {
	n = uint64(len(s.slots))
	return n, maphash.Comparable(s.seed, r) % n
}

// each calls f for every job running now, with its start. A job that starts or ends meanwhile
// may or may not be included, and one that has just started may show the start of the slot's
// previous job.
func (s *runningSet) each(f func(r *connectors.Reserved, at time.Time)) {
	for i := range s.slots {
		if r := s.slots[i].Load(); r != nil {
			f(r, time.Unix(0, s.at[i].Load()))
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for r, at := range s.overflow {
		f(r, at)
	}
}
