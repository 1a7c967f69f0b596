package dbqueue

import (
	"context"
	"database/sql"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/qctl/qctl/internal/sqldb"
)

// This file is how an idle worker learns that a job may be available without popping in a loop.
// PostgreSQL pushes NOTIFY in their own transaction and Wait listens (listen.go). SQLite and MySQL
// have no notification, so Wait polls the jobs table's highest id, which every push and release
// raises (ids are never reused): every pollFloor right after work was seen, backing off as the
// queue stays quiet to a cap, which bounds an idle worker's cost. On SQLite a poll first looks
// at the write-ahead log's size and time, a system call that costs far less than a query, and
// queries only when the log changed (any commit, by any process, writes it).
const (
	pollFloor     = time.Millisecond
	pollCapSQLite = 50 * time.Millisecond
	// pollCapMySQL is longer: each probe is a round trip to a server that many workers share.
	pollCapMySQL = 200 * time.Millisecond
)

// wakeup is what Wait waits on: notifications of pushes to the queues this Queue pops (a push to
// another queue of the table does not wake it), the earliest time a delayed job it knows of comes
// due, and when work was last seen, which sets the polling pace.
//
// A notification that arrives while no Wait is running (between a pop and the next Wait) is kept
// per queue until a pop of that queue begins or a Wait returns for it, so it is never lost.
type wakeup struct {
	mu      sync.Mutex
	changed chan struct{}         // closed and replaced at each notification
	queues  map[string]*queueWake // the queues of interest: those popped or waited on
	nextDue int64                 // earliest known available_at still to come (unix s); 0 = none
	active  time.Time             // when work was last seen (a pop found jobs, a push, a change)
	maxID   int64                 // the jobs table's highest id at the last probe (polling dialects)
	probed  bool                  // maxID holds a probe's answer
	wal     walStamp              // SQLite: the write-ahead log when maxID was read
}

// walStamp is what a commit changes in SQLite's write-ahead log: the log file's size and time,
// and the header of its index (the -shm file), whose change counter every commit moves. The
// file's size and time alone miss commits: once the log has been checkpointed a commit writes it
// again from the start (the size stays), and a file's time moves in ticks of a few milliseconds.
type walStamp struct {
	size   int64
	mtime  time.Time
	header [walIndexHeaderSize]byte
}

// walIndexHeaderSize is the size of the WAL-index header SQLite keeps at the start of the -shm
// file (iVersion, iChange, mxFrame, salts, checksums: https://sqlite.org/walformat.html).
const walIndexHeaderSize = 48

// readWALStamp reads the stamp of the log at wal; ok is false when the log or its index cannot
// be read (no commit has made them yet), and the caller then asks the database itself.
func readWALStamp(wal string) (stamp walStamp, ok bool) {
	fi, err := os.Stat(wal)
	if err != nil {
		return stamp, false
	}
	f, err := os.Open(strings.TrimSuffix(wal, "-wal") + "-shm")
	if err != nil {
		return stamp, false
	}
	defer f.Close()
	if _, err := f.ReadAt(stamp.header[:], 0); err != nil {
		return stamp, false
	}
	stamp.size, stamp.mtime = fi.Size(), fi.ModTime()
	return stamp, true
}

// queueWake counts one queue's notifications and how many a pop or a Wait has already covered.
type queueWake struct{ notes, seen uint64 }

func newWakeup() *wakeup {
	return &wakeup{changed: make(chan struct{}), queues: map[string]*queueWake{}}
}

// queue returns queue's counters, making queue one of interest. The caller holds mu.
func (w *wakeup) queue(queue string) *queueWake {
	qw := w.queues[queue]
	if qw == nil {
		qw = &queueWake{}
		w.queues[queue] = qw
	}
	return qw
}

// popping records that a pop of queue begins: it will see every job pushed until now.
func (w *wakeup) popping(queue string) {
	w.mu.Lock()
	qw := w.queue(queue)
	qw.seen = qw.notes
	w.mu.Unlock()
}

// worked records a sign of work (a pop found jobs, a local push), so polling speeds up.
func (w *wakeup) worked(now time.Time) {
	w.mu.Lock()
	w.active = now
	w.mu.Unlock()
}

// notify records a job of queue that becomes available at available (unix s): now or later.
func (w *wakeup) notify(queue string, available, now int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	qw := w.queues[queue]
	if qw == nil {
		return // not a queue this Queue pops
	}
	if available > now {
		if w.nextDue == 0 || available < w.nextDue {
			w.nextDue = available
		}
	} else {
		qw.notes++
	}
	w.broadcast()
}

// notifyAll wakes every wait as if each queue had a push: notifications may have been missed
// (the listening connection was down).
func (w *wakeup) notifyAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, qw := range w.queues {
		qw.notes++
	}
	w.broadcast()
}

// broadcast wakes every Wait to look again. The caller holds mu.
func (w *wakeup) broadcast() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// check reports whether a wait may end now because a job may be available: a notification not yet
// covered by a pop, or a known delayed job come due (both are then taken as covered). Otherwise
// it returns the channel that the next notification closes and the next known due time.
func (w *wakeup) check(now int64) (ready bool, changed <-chan struct{}, nextDue int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, qw := range w.queues {
		if qw.notes != qw.seen {
			qw.seen = qw.notes
			ready = true
		}
	}
	if w.nextDue != 0 && w.nextDue <= now {
		w.nextDue = 0
		ready = true
	}
	return ready, w.changed, w.nextDue
}

// pollEvery is the polling pace: pollFloor right after work was seen, then an eighth of the time
// the queue has been quiet, up to limit.
func (w *wakeup) pollEvery(now time.Time, limit time.Duration) time.Duration {
	w.mu.Lock()
	quiet := now.Sub(w.active)
	w.mu.Unlock()
	return min(max(quiet/8, pollFloor), limit)
}

// moved records a probe's answer and reports whether it differs from the last one. The first
// probe counts as a change, since nothing tells what was pushed before it.
func (w *wakeup) moved(maxID int64, wal walStamp) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := !w.probed || maxID != w.maxID
	w.maxID, w.probed, w.wal = maxID, true, wal
	return changed
}

// pushed tells this process's waits of a job it pushed or released onto queue. On SQLite and
// MySQL a delayed job is remembered as coming due at available, and a ready one quickens polling
// (the probe still has to see it, as it would another process's push). PostgreSQL waits hear of
// both by NOTIFY.
func (q *Queue) pushed(queue string, available, now int64) {
	switch {
	case q.dialect == sqldb.Postgres:
	case available > now:
		q.wake.notify(queue, available, now)
	default:
		q.wake.worked(time.Now())
	}
}

// WaitsInPlaceOfSleep marks Wait as holding nothing on the server for long: the worker waits on
// it for --sleep, so a push wakes an idle worker at once (connectors.SleepWaiter).
func (q *Queue) WaitsInPlaceOfSleep() {}

// WaitIsNotified tells the worker how much Wait hears (connectors.NotifiedWaiter). On PostgreSQL
// it is notified of qctl's pushes and releases to every queue, and of every insert, PHP's too,
// with notify_trigger. The polling dialects are not: they watch the highest id, which MySQL commits
// may raise out of order, and SQLite's log file, whose time a coarse file system may not move.
func (q *Queue) WaitIsNotified() (notified, everyPush bool) {
	if q.dialect != sqldb.Postgres {
		return false, false
	}
	return true, q.notifyTrigger
}

// Wait blocks until a job may be available on queue (or any other queue this Queue pops), or
// until d passes. It returns true when a push, or a delayed job it knows of coming due, woke it,
// false when d passed; the caller pops after it either way, and a true may be spurious (another
// worker won the job). PostgreSQL waits on NOTIFY; SQLite and MySQL poll (see pollFloor). A job
// whose reservation lapsed, or a delayed job pushed by PHP without notify_trigger, is found by
// the pop after d.
func (q *Queue) Wait(ctx context.Context, queue string, d time.Duration) (bool, error) {
	q.wake.mu.Lock()
	q.wake.queue(queue)
	q.wake.mu.Unlock()
	if q.dialect == sqldb.Postgres {
		q.listen()
	}
	deadline := time.Now().Add(d)
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		if q.dialect != sqldb.Postgres {
			moved, err := q.probe(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return false, ctx.Err()
				}
				return false, q.fail("wait", err)
			}
			if moved {
				q.wake.worked(time.Now())
				return true, nil
			}
		}
		ready, changed, nextDue := q.wake.check(q.unix())
		if ready {
			return true, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		if nextDue != 0 {
			left = min(left, time.Unix(nextDue, 0).Sub(q.now()))
		}
		switch q.dialect {
		case sqldb.SQLite:
			left = min(left, q.wake.pollEvery(time.Now(), pollCapSQLite))
		case sqldb.MySQL:
			left = min(left, q.wake.pollEvery(time.Now(), pollCapMySQL))
		}
		timer.Reset(max(left, 0))
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-changed:
		case <-timer.C:
		}
	}
}

// probe reports whether the jobs table's highest id moved since the last probe. On SQLite it
// skips the query while the write-ahead log is unchanged. A file system whose times are coarser
// than the pace may hide a commit that rewrote the log in place (after a checkpoint) in the same
// tick as the last look; the next commit, or the pop after the caller's d, finds that job.
func (q *Queue) probe(ctx context.Context) (bool, error) {
	var stamp walStamp
	if q.dialect == sqldb.SQLite {
		if st, ok := readWALStamp(q.walFile); ok {
			stamp = st
			q.wake.mu.Lock()
			same := q.wake.probed && stamp == q.wake.wal
			q.wake.mu.Unlock()
			if same {
				return false, nil
			}
		}
	}
	var maxID sql.NullInt64
	if err := q.db.QueryRowContext(ctx, q.sql.maxID).Scan(&maxID); err != nil {
		return false, err
	}
	return q.wake.moved(maxID.Int64, stamp), nil
}

// parseNotification splits a NOTIFY payload, "<available_at> <queue>", as qctl's pushes and the
// notify_trigger send it.
func parseNotification(payload string) (queue string, available int64, ok bool) {
	at, queue, ok := strings.Cut(payload, " ")
	if !ok {
		return "", 0, false
	}
	available, err := strconv.ParseInt(at, 10, 64)
	return queue, available, err == nil
}
