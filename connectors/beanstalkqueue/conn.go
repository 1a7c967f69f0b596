package beanstalkqueue

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"
)

// conn is one TCP connection to a server, with the go-beanstalk client on it. go-beanstalk's Conn
// is not safe for concurrent use, and a bound conn is reached from several goroutines (the jobs'
// holders deleting them, lease extenders touching them), so mu serializes every command on it.
//
// Batch operations (batch.go) bypass go-beanstalk to write several commands at once and read the
// replies through rd. The two never interleave: both run under mu, and each reads exactly the
// replies to what it sent, so neither reader is left holding bytes meant for the other.
type conn struct {
	id  uint64 // set once by dial
	srv *server
	nc  net.Conn
	bc  *beanstalk.Conn

	broken    atomic.Bool // discarded; set once, read without mu
	idleSince time.Time   // guarded by srv.mu

	mu       sync.Mutex
	watching string                 // the one tube watch makes reserve look at; "" = beanstalkd's "default"
	watch    beanstalk.TubeSet      // bc's watch list; go-beanstalk sends watch/ignore only on change
	watched  string                 // the tube the server is known to watch for c alone (after a reserve through go-beanstalk)
	used     string                 // the tube the server is known to use for c's puts (after a put through go-beanstalk)
	held     map[uint64]reservation // the reservations this conn holds, by reservation number
	rd       *bufio.Reader          // reads pipelined replies; nil until the first batch
}

// reservation is one job a bound conn holds reserved, filed under a Queue-unique reservation
// number (the receipt's gen).
type reservation struct {
	known    bool // pri, ttr and deadline are known (stats-job was read); see CountAttemptsAtPop
	job      uint64
	pri      uint32        // the job's priority, kept on release and bury
	ttr      time.Duration // the job's own TTR (its producer chose it), restarted by touch
	deadline time.Time     // local; never earlier than the server's, so reclaiming is safe
}

// hold files res under reservation number gen.
func (c *conn) hold(gen uint64, res reservation) {
	if c.held == nil {
		c.held = make(map[uint64]reservation)
	}
	c.held[gen] = res
}

// expiredBefore reports whether c holds reservations and every one of them ended before t: the
// server has handed all of them back, so the connection can be taken for other work. A
// reservation whose TTR was never read is never taken to have ended: its holder ends it.
func (c *conn) expiredBefore(t time.Time) bool {
	if len(c.held) == 0 {
		return false
	}
	for _, res := range c.held {
		if !res.known || !t.After(res.deadline) {
			return false
		}
	}
	return true
}

// put puts body on tube through go-beanstalk, which sends `use` first when c used another tube,
// and notes that c now uses tube, so PushBulk may pipeline more puts there without `use`. Every
// put on a conn goes through here, so that note is never stale.
func (c *conn) put(tube string, body []byte, pri uint32, delay, ttr time.Duration) (uint64, error) {
	id, err := (&beanstalk.Tube{Conn: c.bc, Name: tube}).Put(body, pri, delay, ttr)
	if err == nil || isReply(err) {
		c.used = tube
	}
	return id, err
}

// describe reads what a lazily counted reservation lacks (priority, TTR) with stats-job on c
// (the caller holds c.mu, inside conn.do) and returns the job's attempts.
func (c *conn) describe(res *reservation) (int, error) {
	st, err := c.bc.StatsJob(res.job)
	if err != nil {
		return 0, err
	}
	attempts, stats, err := parseJobStats(st)
	if err != nil {
		return 0, err
	}
	if !res.known {
		// Counted from now, the TTR ends no earlier than on the server: safe for reclaiming.
		res.known, res.pri, res.ttr, res.deadline = true, stats.pri, stats.ttr, time.Now().Add(stats.ttr)
	}
	return attempts, nil
}

// learn describes res if it was never described: release, bury and put must restate the
// job's priority (and put its TTR), which a reservation counted on demand has not read yet.
func (c *conn) learn(res *reservation) error {
	if res.known {
		return nil
	}
	_, err := c.describe(res)
	return err
}

// watchTube makes reserve on c look at tube only. It is free when c already watches tube: the
// watch list is kept per connection and go-beanstalk pipelines any watch/ignore with the reserve.
func (c *conn) watchTube(tube string) {
	if c.watching != tube {
		c.watch.Name = map[string]bool{tube: true}
		c.watching = tube
	}
}

// do runs one command on c (the caller holds c.mu) and lets ctx interrupt its I/O. A reply from
// the server (NOT_FOUND, TIMED_OUT...) comes back as go-beanstalk's error, with c still usable.
// Any other failure leaves the connection in an unknown state, so c is discarded and the error
// names the server and wraps ErrUnavailable, or the context's error when ctx interrupted it.
func (c *conn) do(ctx context.Context, op string, cmd func() error) error {
	if c.broken.Load() {
		return c.srv.unavailable(op, errors.New("connection was closed"))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("beanstalkd %s: %s: %w", c.srv.addr, op, err)
	}
	stop := c.interruptOn(ctx)
	err := cmd()
	interrupted := stop()
	if err == nil || isReply(err) {
		return err
	}
	c.srv.discard(c, !interrupted)
	if interrupted {
		return fmt.Errorf("beanstalkd %s: %s: %w", c.srv.addr, op, ctx.Err())
	}
	return c.srv.unavailable(op, err)
}

// longAgo is a deadline in the past: setting it makes blocked I/O return at once.
var longAgo = time.Unix(1, 0)

// interruptOn applies ctx's deadline to c's I/O and makes cancelling ctx interrupt it. stop undoes
// both and reports whether ctx ended (the I/O may then have been cut off midway).
func (c *conn) interruptOn(ctx context.Context) (stop func() bool) {
	if ctx.Done() == nil {
		return func() bool { return false }
	}
	if d, ok := ctx.Deadline(); ok {
		c.nc.SetDeadline(d)
	}
	cut := make(chan struct{})
	stopCut := context.AfterFunc(ctx, func() {
		c.nc.SetDeadline(longAgo)
		close(cut)
	})
	return func() bool {
		if !stopCut() {
			<-cut // let it finish, so the reset below is the last word
		}
		c.nc.SetDeadline(time.Time{})
		return ctx.Err() != nil
	}
}

// serverReplies are the errors go-beanstalk returns for a well-formed reply line from the server:
// the command failed but the connection is in step.
var serverReplies = []error{
	beanstalk.ErrNotFound, beanstalk.ErrTimeout, beanstalk.ErrDeadline, beanstalk.ErrBuried,
	beanstalk.ErrDraining, beanstalk.ErrOOM, beanstalk.ErrInternal, beanstalk.ErrJobTooBig,
	beanstalk.ErrBadFormat, beanstalk.ErrUnknown, beanstalk.ErrNoCRLF, beanstalk.ErrNotIgnored,
}

func isReply(err error) bool {
	for _, r := range serverReplies {
		if errors.Is(err, r) {
			return true
		}
	}
	return false
}
