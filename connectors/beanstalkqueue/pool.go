package beanstalkqueue

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"

	"github.com/qctl/qctl/connectors"
)

const (
	// probeAfter is how long a connection may sit idle before it is checked for a server that went
	// away meanwhile (restart, idle timeout), so the first call after a restart does not fail.
	probeAfter = time.Second
	// idleTimeout closes connections nobody has used for this long.
	idleTimeout = 2 * time.Minute
)

// server is the connection pool for one beanstalkd address.
//
// Every conn of the server is in conns until it is discarded. A conn is in exactly one of three
// states: idle (in idle, nobody touches it), borrowed by one operation (taken out of idle by
// acquire), or bound to the reservations it holds (len(c.held) > 0) until Delete, Release or
// Bury of the last one gives it back with release. mu guards idle, conns, nextID and closed; it is never held during I/O.
type server struct {
	index int
	addr  string

	nextNudge atomic.Int64 // unix nanoseconds before which nudgeExpired does nothing

	mu     sync.Mutex
	idle   []*conn // most recently used last
	conns  map[uint64]*conn
	nextID uint64
	closed bool
}

func newServer(index int, addr string) *server {
	return &server{index: index, addr: addr, conns: map[uint64]*conn{}}
}

// acquire lends the caller a connection holding no reservation: the most recently used idle one,
// else one whose abandoned reservation has certainly expired, else a new one.
func (s *server) acquire(ctx context.Context) (*conn, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, errClosed
		}
		if n := len(s.idle); n > 0 {
			c := s.idle[n-1]
			s.idle[n-1] = nil
			s.idle = s.idle[:n-1]
			stale := time.Since(c.idleSince) > probeAfter
			s.mu.Unlock()
			if stale && peerClosed(c.nc) {
				s.discard(c, false)
				continue
			}
			return c, nil
		}
		c := s.reclaimLocked()
		s.mu.Unlock()
		if c != nil {
			return c, nil
		}
		return s.dial(ctx)
	}
}

// reclaimLocked takes back a bound connection whose reservations' TTRs have all certainly run out:
// the server has handed those jobs back already, and the holder's later Delete or Extend finds the
// reservation number changed and reports ErrLeaseLost. Called with s.mu held; conns busy with I/O
// are skipped (TryLock), so this never waits.
func (s *server) reclaimLocked() *conn {
	now := time.Now()
	for _, c := range s.conns {
		if !c.mu.TryLock() {
			continue
		}
		if c.expiredBefore(now) {
			clear(c.held)
			c.mu.Unlock()
			return c
		}
		c.mu.Unlock()
	}
	return nil
}

// nudgeMargin is how far past a reservation's local deadline nudgeExpired waits.
const nudgeMargin = 100 * time.Millisecond

// nudgeExpired makes the server notice reservations whose TTR has run out. beanstalkd (1.12 and
// earlier; beanstalkd issues #262 and #334) can drop a connection from its timer heap when the
// timer fires a little before the job's deadline, and then hands the job back only once that
// connection sends its next command: a job abandoned on an idle connection would stay reserved
// for ever. So a connection whose reservations are all past their local deadlines drops them from
// our books and sends one harmless command (stats-job), which reschedules it on the server. Pop calls
// this when it finds a tube empty, and Wait between polls, so the cost falls on idle workers and
// the job soon comes back. It looks at most once per nudgeMargin: many goroutines popping empty
// tubes at once then do not take turns scanning every connection under s.mu while busy ones
// wait for it to hand out and take back connections.
func (s *server) nudgeExpired(ctx context.Context) {
	now := time.Now()
	next := s.nextNudge.Load()
	if now.UnixNano() < next || !s.nextNudge.CompareAndSwap(next, now.Add(nudgeMargin).UnixNano()) {
		return
	}
	var expired []*conn
	s.mu.Lock()
	for _, c := range s.conns {
		if c.mu.TryLock() {
			if c.expiredBefore(now.Add(-nudgeMargin)) {
				expired = append(expired, c)
			}
			c.mu.Unlock()
		}
	}
	s.mu.Unlock()
	for _, c := range expired {
		if !c.mu.TryLock() {
			continue
		}
		if !c.expiredBefore(now.Add(-nudgeMargin)) {
			c.mu.Unlock()
			continue
		}
		var job uint64
		for _, res := range c.held {
			job = res.job
		}
		clear(c.held)
		_ = c.do(ctx, "stats-job", func() error { _, err := c.bc.StatsJob(job); return err })
		c.mu.Unlock()
		if !c.broken.Load() {
			s.release(c)
		}
	}
}

// dial opens a new connection and registers it.
func (s *server) dial(ctx context.Context) (*conn, error) {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("beanstalkd %s: connect: %w", s.addr, ctx.Err())
		}
		return nil, s.unavailable("connect", err)
	}
	c := &conn{srv: s, nc: nc, bc: beanstalk.NewConn(nc)}
	c.watch = beanstalk.TubeSet{Conn: c.bc, Name: map[string]bool{"default": true}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		nc.Close()
		return nil, errClosed
	}
	s.nextID++
	c.id = s.nextID
	s.conns[c.id] = c
	return c, nil
}

// release returns a connection that holds no reservation to the idle list, and closes idle
// connections unused for idleTimeout.
func (s *server) release(c *conn) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.nc.Close()
		return
	}
	c.idleSince = now
	s.idle = append(s.idle, c)
	old := 0
	for old < len(s.idle)-1 && now.Sub(s.idle[old].idleSince) > idleTimeout {
		s.idle[old].nc.Close()
		delete(s.conns, s.idle[old].id)
		old++
	}
	if old > 0 {
		n := copy(s.idle, s.idle[old:])
		clear(s.idle[n:])
		s.idle = s.idle[:n]
	}
}

// discard closes a connection that can no longer be trusted (I/O failed, or its protocol state is
// unknown); beanstalkd hands back whatever it had reserved. When the server itself failed, the
// idle connections are dropped too: they almost certainly died with the same server.
func (s *server) discard(c *conn, serverFailed bool) {
	c.broken.Store(true)
	c.nc.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c.id)
	if serverFailed {
		for _, d := range s.idle {
			d.nc.Close()
			delete(s.conns, d.id)
		}
		clear(s.idle)
		s.idle = s.idle[:0]
	}
}

// lookup finds a registered connection by id; false when it was discarded.
func (s *server) lookup(id uint64) (*conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.conns[id]
	return c, ok
}

// close closes every connection without waiting for the I/O running on them, which then fails.
func (s *server) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.conns {
		c.nc.Close()
	}
	s.conns = map[uint64]*conn{}
	s.idle = nil
}

// unavailable wraps a connection failure so that it names the server and matches ErrUnavailable.
func (s *server) unavailable(op string, err error) error {
	return fmt.Errorf("beanstalkd %s: %s: %w: %w", s.addr, op, connectors.ErrUnavailable, err)
}
