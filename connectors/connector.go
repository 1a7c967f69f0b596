// Package connectors defines the contract between the worker and a queue backend.
//
// A job moves through four states: ready (pushed, possibly delayed), reserved (popped by a worker
// with a lease), and then either deleted (its handler succeeded, or it was moved to the failed store)
// or released (put back, possibly delayed, to run again). A reservation whose lease ends without a
// delete or release makes the job ready again: that is how a crashed worker's jobs come back.
//
// Queue is kept small on purpose; abilities only some backends have (batch pop, blocking wait,
// lease extension, restart broadcast, bulk push, bury) are the optional interfaces below, found by
// type assertion. No backend client type (go-redis, gorm, beanstalk) crosses this package's API.
package connectors

import (
	"context"
	"errors"
	"time"
)

// Queue is the transport contract every backend implements. Every I/O method takes a context; a
// backend that cannot be reached returns an error wrapping ErrUnavailable.
type Queue interface {
	// Push stores payload on queue, ready now or after delay, and returns the backend's job id.
	// The payload is a Laravel/think-queue envelope; backends that keep id and attempts inside the
	// payload (Redis) add them here.
	Push(ctx context.Context, queue string, payload []byte, delay time.Duration) (id string, err error)
	// Pop reserves the next available job of queue for the connection's lease (retry_after) and
	// counts an attempt. It returns nil, nil when the queue has no available job.
	Pop(ctx context.Context, queue string) (*Reserved, error)
	// Delete removes a reserved job for good. It returns an error wrapping ErrLeaseLost when the
	// reservation no longer exists (the lease ran out and another worker took the job).
	Delete(ctx context.Context, job *Reserved) error
	// Release ends the reservation and makes the job ready again after delay, keeping its attempts.
	Release(ctx context.Context, job *Reserved, delay time.Duration) error
	// Size counts every job of queue: ready, delayed and reserved.
	Size(ctx context.Context, queue string) (int64, error)
	// Clear deletes every job of queue and returns how many there were.
	Clear(ctx context.Context, queue string) (int64, error)
	// Close releases the backend's connections. It is safe to call twice.
	Close() error
}

// Reserved is one reservation of a job, as Pop returned it.
type Reserved struct {
	// Queue is the queue the job was popped from.
	Queue string
	// ID is the backend's job id (row id, Redis payload id, beanstalkd job id).
	ID string
	// Attempts counts reservations of this job including this one, so it is 1 on the first run.
	// 0 means the backend has not counted them yet: it implements AttemptCounter, which does.
	Attempts int
	// Payload is the job envelope as the handler should see it and as the failed store keeps it.
	Payload []byte
	// Receipt is whatever the backend needs to delete or release exactly this reservation (Redis
	// keeps the reserved member string byte for byte). Only the backend that made it reads it.
	Receipt string
	// ReadyAt is when the job fell due as the backend records it (a database row's available_at,
	// in whole seconds), for the worker's wait times; zero where the backend keeps no such time.
	// On a job whose earlier reservation lapsed it is the due time before that run.
	ReadyAt time.Time
}

// Sentinel errors backends wrap, so callers decide with errors.Is and never match strings.
var (
	// ErrUnavailable means the backend could not be reached; the caller backs off and tries again.
	ErrUnavailable = errors.New("queue backend unavailable")
	// ErrLeaseLost means a reservation ended before the worker deleted or released it.
	ErrLeaseLost = errors.New("reservation lost")
	// ErrNotMigrated means the backend's tables are missing; the fix is `qctl migrate`.
	ErrNotMigrated = errors.New("queue tables missing: run `qctl migrate`")
	// ErrInvalidQueueName means the backend can never accept the queue name (a beanstalkd tube
	// with a quote in it): a mistake in how qctl was called, not an outage to wait out.
	ErrInvalidQueueName = errors.New("invalid queue name")
)

// QueueNameChecker is a backend that restricts queue names; CheckQueueName returns an error
// wrapping ErrInvalidQueueName for a name it would refuse, before anything is sent.
type QueueNameChecker interface {
	CheckQueueName(queue string) error
}

// BatchPopper reserves several jobs in one round trip, so a worker with free slots fills them at
// once instead of paying a round trip per job.
type BatchPopper interface {
	// PopN reserves up to n available jobs of queue, oldest first; it returns an empty slice when
	// none is available.
	PopN(ctx context.Context, queue string, n int) ([]*Reserved, error)
}

// AttemptCounter is implemented by a backend whose attempt count costs a round trip of its own
// (beanstalkd's stats-job) and that may pop with Attempts left 0, so the worker asks only when it
// needs the number: before running a job whose tries are limited, after a failure, or when the
// handler asks.
type AttemptCounter interface {
	// CountAttemptsAtPop chooses whether Pop and PopN count attempts (true, the default) or
	// leave Attempts 0 for CountAttempts (false). A worker whose jobs all need the count (its
	// tries are limited) keeps it on: counting in the pop's pipeline costs less than a round
	// trip per job.
	CountAttemptsAtPop(on bool)
	// CountAttempts returns job's attempts, counting this reservation. It returns an error
	// wrapping ErrLeaseLost when the reservation is gone.
	CountAttempts(ctx context.Context, job *Reserved) (int, error)
}

// SerialPopper is implemented by a backend whose pops exclude one another (SQLite has a single
// writer): two at once only queue for its lock, so a worker keeps one fetch outstanding, not two.
type SerialPopper interface {
	PopsAreSerial() bool
}

// BatchDeleter deletes several finished jobs in one round trip.
type BatchDeleter interface {
	// DeleteN deletes every job in jobs; a job whose reservation is already gone is skipped.
	DeleteN(ctx context.Context, jobs []*Reserved) error
}

// BulkPusher pushes many payloads in one round trip (pipelined or in one statement).
type BulkPusher interface {
	PushBulk(ctx context.Context, queue string, payloads [][]byte, delay time.Duration) (ids []string, err error)
}

// Waiter blocks until a job may be available on queue, so an idle worker picks new work up within
// milliseconds instead of sleeping. It returns true when woken by a push and false when d passed.
type Waiter interface {
	Wait(ctx context.Context, queue string, d time.Duration) (bool, error)
}

// SleepWaiter is a Waiter whose wait holds nothing on the server that a proxy could mind (the
// database connector LISTENs on PostgreSQL and polls adaptively elsewhere), so the worker waits on
// it for --sleep when the connection sets no block_for: an idle worker wakes on a push instead of
// sleeping its poll interval out. Other Waiters block only when block_for is set, which keeps
// Laravel's meaning of an unset block_for (never block).
type SleepWaiter interface {
	Waiter
	WaitsInPlaceOfSleep()
}

// ReservingWaiter is a Waiter whose Wait reserves the job it woke on and keeps it for the next Pop
// (beanstalkd parks it). The worker waits on it only while none of its jobs runs, so a slot is
// free to pop the parked job at once: a job parked while every slot stays busy would sit reserved,
// its lease running out, and could then run in two workers. The worker waits on other Waiters
// whenever a slot is free, even while jobs run.
type ReservingWaiter interface {
	Waiter
	WaitReserves()
}

// NotifiedWaiter is a Waiter that may be told of pushes by the backend itself. WaitIsNotified
// reports:
//
//   - notified: the wait hears of pushes to every queue its Queue pops (PostgreSQL's
//     LISTEN/NOTIFY), rather than polling or watching one queue, and a batch pop gets fewer jobs
//     than it asked for only when it found all there were. After a short batch the worker then
//     waits instead of popping again: what is pushed later, the wait hears of or its timeout
//     finds.
//   - everyPush: every job made available is notified, including those other programs push
//     (PostgreSQL with the notify trigger). Then, while a wait that began after a pop found every
//     queue empty still runs, another pop could only find a job whose reservation lapsed, which
//     the wait's timeout covers: the worker does not pop when a job finishes while it waits,
//     saving a round trip per job. Without it a busy worker still pops after each job, and so
//     finds un-notified jobs sooner than --sleep.
type NotifiedWaiter interface {
	Waiter
	WaitIsNotified() (notified, everyPush bool)
}

// LeaseExtender keeps a running job's reservation alive, so a job that legitimately runs longer
// than retry_after is never handed to a second worker.
type LeaseExtender interface {
	// Extend makes job's lease end lease from now. It returns an error wrapping ErrLeaseLost when
	// the reservation is already gone.
	Extend(ctx context.Context, job *Reserved, lease time.Duration) error
}

// Burier is implemented by a backend that can set a failed job aside on the server itself
// (beanstalkd's bury), where it keeps its place and priority until `qctl kick` brings it back.
// With bury_failed the worker buries a failed job instead of recording it in the failed store.
type Burier interface {
	// Bury ends job's reservation by moving it to its queue's buried list. It returns an error
	// wrapping ErrLeaseLost when the reservation is already gone.
	Bury(ctx context.Context, job *Reserved) error
}

// Restarter stores the restart signal in the backend itself, so `qctl restart` reaches every
// worker that shares the backend and no other store is needed.
type Restarter interface {
	// RestartSignal returns the stored value, or "" when no restart was ever broadcast.
	RestartSignal(ctx context.Context) (string, error)
	// BroadcastRestart stores value for every worker to see. Workers only compare it with the
	// value they read at start; `qctl restart` stores Unix seconds (see NextRestartValue), as
	// Laravel and think-queue do, and any value they stored is accepted as it is.
	BroadcastRestart(ctx context.Context, value string) error
}

// LockReleaser removes a lock from the application's cache store beside the queue (where the
// restart signal lives), the lock a Laravel ShouldBeUnique job holds while it is queued, so a qctl
// worker releases it where Laravel's worker would (Cache::lock(name)->forceRelease()).
type LockReleaser interface {
	// ForceReleaseLock deletes the lock called name (before the cache prefix), whoever owns it.
	// Without a cache store configured it does nothing: the lock is then in no store qctl knows.
	ForceReleaseLock(ctx context.Context, name string) error
}

// QueueStats is one queue's jobs counted by state at one moment, as an Inspector sees them.
type QueueStats struct {
	// Ready counts jobs a pop would take now, including reservations whose lease has lapsed (a
	// crashed worker's jobs) where the backend can tell them apart.
	Ready int64
	// Delayed counts jobs waiting for a delay or a release's backoff to pass.
	Delayed int64
	// Reserved counts jobs a worker holds and has not yet deleted or released.
	Reserved int64
	// Buried counts jobs the backend itself keeps aside as failed (beanstalkd's buried state);
	// other backends move failed jobs to the failed store and report 0.
	Buried int64
	// OldestReady is when the oldest ready job became ready: its available time where the backend
	// records one (database rows, Redis delayed and lapsed jobs), else its push time (Redis
	// createdAt, beanstalkd's job age). It is zero when nothing is ready or the backend cannot tell.
	OldestReady time.Time
}

// Inspector lets operators see a backend's queues without touching their jobs: `qctl status`
// and the worker's queue-depth metrics use it. It reads only; a job's state is never changed.
type Inspector interface {
	// QueueStats counts queue's jobs by state. An unknown or empty queue counts zero.
	QueueStats(ctx context.Context, queue string) (QueueStats, error)
	// Queues lists the names of the queues the backend knows now, sorted: those holding jobs and,
	// where the backend keeps empty ones while clients use them (beanstalkd's tubes), those too.
	Queues(ctx context.Context) ([]string, error)
}

// PriorityPusher pushes a job with a priority of its own (beanstalkd orders ready jobs by it:
// lower is more urgent), for `qctl push --priority`.
type PriorityPusher interface {
	PushPriority(ctx context.Context, queue string, payload []byte, delay time.Duration, priority uint32) (id string, err error)
}

// ErrConflict means a change was refused because the state it depended on had changed (another
// process got there first); nothing was written.
var ErrConflict = errors.New("conflicting change")

// Statement is one SQL statement with its arguments, in the ? placeholder style, run by a
// TxPusher inside its push transaction.
type Statement struct {
	SQL  string
	Args []any
	// Expect is how many rows the statement must change, or -1 for any number.
	Expect int64
}

// TxPusher is a SQL backend that can push jobs and change other tables of its own database in one
// transaction, so `qctl retry` queues a failed job and forgets its record together: a crash in
// between can leave neither state half done.
type TxPusher interface {
	// SharesDatabase reports whether dialect and dsn name the backend's own database.
	SharesDatabase(dialect, dsn string) bool
	// PushBulkWith pushes payloads as PushBulk does and runs also in the same transaction.
	PushBulkWith(ctx context.Context, queue string, payloads [][]byte, delay time.Duration, also ...Statement) ([]string, error)
}

// OncePusher pushes each job at most once per token, remembered by the backend itself, so a
// retry repeated after a crash queues no failed job twice where no transaction can cover the
// queue and the failed store together (Redis).
type OncePusher interface {
	// PushOnce pushes payloads[i] unless tokens[i] was pushed before, and returns the ids in
	// order, "" for each payload skipped.
	PushOnce(ctx context.Context, queue string, payloads [][]byte, tokens []string) ([]string, error)
}

// Fleet keeps what a fleet of workers shares besides jobs: the registry of live workers, and the
// flags operators set for them (a queue's pause, a worker's terminate request). Workers write
// their entry and read their flags once per heartbeat, from any machine, so `qctl workers`,
// `pause` and `terminate` reach every worker that shares the backend.
type Fleet interface {
	// PutWorker stores or refreshes one worker's entry (opaque to the backend), which expires ttl
	// from now unless put again: a killed worker disappears after its ttl.
	PutWorker(ctx context.Context, id string, entry []byte, ttl time.Duration) error
	// RemoveWorker deletes a worker's entry at once: a clean exit. An unknown id is not an error.
	RemoveWorker(ctx context.Context, id string) error
	// Workers returns every entry that has not expired, keyed by worker id.
	Workers(ctx context.Context) (map[string][]byte, error)
	// SetFlag stores value under key, expiring after ttl (0 keeps it until DeleteFlag). Flags
	// live where the connection's restart signal lives, Laravel's cache store when it has one,
	// so a key written by `php artisan queue:pause` is a flag too. value is stored as given: a
	// caller sharing keys with Laravel passes it PHP-serialized, as Laravel's cache stores it.
	SetFlag(ctx context.Context, key, value string, ttl time.Duration) error
	// Flags returns the value of each key, "" for one absent or expired, in one round trip
	// where the backend can.
	Flags(ctx context.Context, keys []string) ([]string, error)
	// DeleteFlag removes key; an absent key is not an error.
	DeleteFlag(ctx context.Context, key string) error
}

// JobState names the states a Browser lists.
type JobState string

const (
	StateReady    JobState = "ready"    // a pop would take it (due, or its lease lapsed)
	StateDelayed  JobState = "delayed"  // waiting for its delay or a release's backoff
	StateReserved JobState = "reserved" // a worker holds it
)

// ErrJobNotFound means no job of the queue matched in a state the change applies to: it ran, was
// deleted, or changed state since it was listed.
var ErrJobNotFound = errors.New("job not found in that state")

// BrowsedJob is one job as a Browser lists it.
type BrowsedJob struct {
	// ID is the backend's job id, as Reserved.ID.
	ID string
	// Ref finds this job again for DeleteJob and ReadyNow; only the backend that made it reads it.
	Ref      string
	Attempts int
	Payload  []byte
	// Available is when a ready or delayed job is or was due; for a reserved one, when its lease
	// ends. Zero when the backend does not know.
	Available time.Time
}

// Browser lets an operator look through a queue's jobs a page at a time and act on one of them,
// for the dashboard's Jobs page. Listing never reads a whole queue: each page costs about what its
// own jobs cost, however long the queue.
type Browser interface {
	// Browse lists up to n jobs of queue in state, starting at cursor ("" = the first); next is
	// the cursor of the following page, "" when there is none. Ready jobs come in the order
	// workers take them, delayed ones in the order they fall due; a backend that can see only
	// the next job of a state (beanstalkd) lists that one and no cursor.
	Browse(ctx context.Context, queue string, state JobState, cursor string, n int) (jobs []BrowsedJob, next string, err error)
	// DeleteJob deletes a ready or delayed job found by ref. A reserved job belongs to the worker
	// running it and is refused. It returns an error wrapping ErrJobNotFound when the job is no
	// longer in state.
	DeleteJob(ctx context.Context, queue string, state JobState, ref string) error
	// ReadyNow makes a delayed job due now; workers take it as the backend takes any job that
	// has just fallen due. It returns an error wrapping ErrJobNotFound when the job is no longer
	// delayed.
	ReadyNow(ctx context.Context, queue string, ref string) error
}

// NextJobOnly marks a Browser that sees only the next job of a state and no reserved job
// (beanstalkd: peek-ready, peek-delayed): its Browse lists at most one job and never a cursor, and
// refuses the reserved state. The dashboard says so on the Jobs page.
type NextJobOnly interface {
	NextJobOnly()
}
