package dbqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
)

// fallback is the Wait bound of these tests: long enough that a Wait returning true before it
// was woken by a push, never by its time running out (which returns false).
const fallback = 30 * time.Second

// waitSetup opens a waiting Queue and a pushing one on d: two pools, as a worker and a producer in
// separate processes have. The waiter has popped the queue once and woken once, so what woke it
// at start (the listener connecting, the first probe) is behind it.
func waitSetup(t *testing.T, d testDB, trigger bool) (waiter, pusher *Queue) {
	t.Helper()
	clock := connectortest.NewClock()
	o := d.options(clock, time.Minute)
	o.Now, o.NotifyTrigger = nil, trigger
	open := func() *Queue {
		q, err := Open(context.Background(), o)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { q.Close() })
		return q
	}
	waiter, pusher = open(), open()
	mustWake(t, waiter, "first Wait")
	return waiter, pusher
}

// mustWake pops q's queue empty, then waits for a wake: it must come well before the fallback.
func mustWake(t *testing.T, q *Queue, what string) {
	t.Helper()
	if r, err := q.Pop(context.Background(), "default"); err != nil || r != nil {
		t.Fatalf("%s: Pop = %v, %v; want an empty queue", what, r, err)
	}
	mustWakeNow(t, q, what)
}

// mustWakeNow waits on q without popping first.
func mustWakeNow(t *testing.T, q *Queue, what string) {
	t.Helper()
	start := time.Now()
	ok, err := q.Wait(context.Background(), "default", fallback)
	if err != nil || !ok {
		t.Fatalf("%s: Wait = %v, %v after %v; want woken", what, ok, err, time.Since(start).Round(time.Millisecond))
	}
}

// waitInBackground starts a Wait on q and returns what it will report.
func waitInBackground(q *Queue) <-chan error {
	done := make(chan error, 1)
	go func() {
		start := time.Now()
		ok, err := q.Wait(context.Background(), "default", fallback)
		if err == nil && !ok {
			err = fmt.Errorf("Wait returned false after %v: the push did not wake it", time.Since(start).Round(time.Millisecond))
		}
		done <- err
	}()
	return done
}

// TestWaitWakesOnPush: a job pushed through another connection wakes a waiting Queue, by NOTIFY on
// PostgreSQL and by polling elsewhere.
func TestWaitWakesOnPush(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			waiter, pusher := waitSetup(t, setup(t, dialect), false)
			for round := range 3 {
				if r, err := waiter.Pop(context.Background(), "default"); err != nil || r != nil {
					t.Fatalf("round %d: Pop = %v, %v; want an empty queue", round, r, err)
				}
				woke := waitInBackground(waiter)
				if _, err := pusher.Push(context.Background(), "default", []byte(`{"job":"Wake"}`), 0); err != nil {
					t.Fatal(err)
				}
				if err := <-woke; err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if r, err := waiter.Pop(context.Background(), "default"); err != nil || r == nil {
					t.Fatalf("round %d: Pop after the wake = %v, %v; want the job", round, r, err)
				}
			}
		})
	}
}

// TestWaitIgnoresOtherQueues: on PostgreSQL a push to a queue this Queue never popped wakes no one.
func TestWaitIgnoresOtherQueues(t *testing.T) {
	waiter, pusher := waitSetup(t, setup(t, sqldb.Postgres), false)
	if _, err := pusher.Push(context.Background(), "elsewhere", []byte(`{"job":"Other"}`), 0); err != nil {
		t.Fatal(err)
	}
	if ok, err := waiter.Wait(context.Background(), "default", time.Second); ok || err != nil {
		t.Fatalf("Wait = %v, %v after a push to another queue; want a timeout", ok, err)
	}
}

// TestWaitWakesOnTriggerInsert: with notify_trigger, a row inserted by plain SQL, as PHP's
// database queue does, wakes a waiting Queue.
func TestWaitWakesOnTriggerInsert(t *testing.T) {
	d := setup(t, sqldb.Postgres)
	waiter, _ := waitSetup(t, d, true)
	db, err := sql.Open("pgx", d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		defer db.Close()
		if _, err := db.Exec(`DROP FUNCTION IF EXISTS "` + d.table + `_qctl_notify"() CASCADE`); err != nil {
			t.Errorf("drop the trigger's function: %v", err)
		}
	})
	woke := waitInBackground(waiter)
	now := time.Now().Unix()
	_, err = db.Exec(`INSERT INTO "`+d.table+`" (queue, payload, attempts, reserved_at, available_at, created_at) VALUES ($1, $2, 0, NULL, $3, $3)`,
		"default", `{"job":"FromPHP"}`, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatal(err)
	}
}

// TestWaitSurvivesLostListener: when the listening connection is killed, a job pushed meanwhile
// is still found at once (the listener reconnects and wakes every wait, since notifications were
// lost), and notifications arrive on the new connection.
func TestWaitSurvivesLostListener(t *testing.T) {
	d := setup(t, sqldb.Postgres)
	waiter, pusher := waitSetup(t, d, false)
	old := waiter.listenPID.Load()
	db, err := sql.Open("pgx", d.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var killed bool
	if err := db.QueryRow("SELECT pg_terminate_backend($1)", int64(old)).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", old, killed, err)
	}
	if _, err := pusher.Push(context.Background(), "default", []byte(`{"job":"Lost"}`), 0); err != nil {
		t.Fatal(err)
	}
	mustWakeNow(t, waiter, "after the kill")
	if r, err := waiter.Pop(context.Background(), "default"); err != nil || r == nil {
		t.Fatalf("Pop after the kill = %v, %v; want the job", r, err)
	}
	// The wake may have been the old connection's last notification; the new one wakes again.
	for pid := waiter.listenPID.Load(); pid == 0 || pid == old; pid = waiter.listenPID.Load() {
		mustWakeNow(t, waiter, "reconnecting")
	}
	if r, err := waiter.Pop(context.Background(), "default"); err != nil || r != nil {
		t.Fatalf("Pop = %v, %v; want an empty queue", r, err)
	}
	woke := waitInBackground(waiter)
	if _, err := pusher.Push(context.Background(), "default", []byte(`{"job":"Again"}`), 0); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("after reconnecting: %v", err)
	}
}

// TestWaitWakesOnBulkPushAndRelease: on PostgreSQL a bulk push wakes a waiting Queue, and a job
// released with a delay wakes it when it comes due, since its notification says when.
func TestWaitWakesOnBulkPushAndRelease(t *testing.T) {
	ctx := context.Background()
	waiter, pusher := waitSetup(t, setup(t, sqldb.Postgres), false)
	woke := waitInBackground(waiter)
	if _, err := pusher.PushBulk(ctx, "default", [][]byte{[]byte(`{"job":"A"}`), []byte(`{"job":"B"}`)}, 0); err != nil {
		t.Fatal(err)
	}
	if err := <-woke; err != nil {
		t.Fatalf("bulk push: %v", err)
	}
	jobs, err := waiter.PopN(ctx, "default", 2)
	if err != nil || len(jobs) != 2 {
		t.Fatalf("PopN = %d jobs, %v; want 2", len(jobs), err)
	}
	// Two seconds, so the job is not due yet when mustWake first pops, whatever the clock's fraction.
	if err := waiter.Release(ctx, jobs[0], 2*time.Second); err != nil {
		t.Fatal(err)
	}
	mustWake(t, waiter, "released job coming due")
	if r, err := waiter.Pop(ctx, "default"); err != nil || r == nil {
		t.Fatalf("Pop after the due wake = %v, %v; want the released job", r, err)
	}
}

// TestPostgresReserveCommitsAsynchronously: PostgreSQL's pop turns synchronous_commit off for its
// own transaction only (asyncReserve); a push keeps it on, and the connection goes back to on
// after the pop commits.
func TestPostgresReserveCommitsAsynchronously(t *testing.T) {
	d := setup(t, sqldb.Postgres)
	clock := connectortest.NewClock()
	q := d.open(t, clock, time.Minute)
	ctx := context.Background()
	conn, err := q.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	setting := func(what string, tx interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) string {
		t.Helper()
		var v string
		if err := tx.QueryRowContext(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
	for _, step := range []struct {
		name, want string
		run        func(tx *sql.Tx) error
	}{
		{"push", "on", func(tx *sql.Tx) error {
			var id int64
			return tx.QueryRowContext(ctx, q.sql.push, "default", `{"job":"x"}`, clock.Now().Unix(), clock.Now().Unix()).Scan(&id)
		}},
		{"pop", "off", func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, q.sql.pop, q.reserveArgs(clock.Now().Unix(), "default", 1)...)
			if err != nil {
				return err
			}
			defer rows.Close()
			if !rows.Next() {
				return errors.New("the pop reserved nothing")
			}
			return rows.Close()
		}},
	} {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := step.run(tx); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := setting(step.name, tx); got != step.want {
			t.Errorf("synchronous_commit inside the %s's transaction = %s, want %s", step.name, got, step.want)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := setting("after "+step.name, conn); got != "on" {
			t.Errorf("synchronous_commit after the %s committed = %s, want on (set_config must be local)", step.name, got)
		}
	}
}

// TestProbeSeesACommitThatKeepsTheLogsSizeAndTime: once SQLite's log has been checkpointed, the
// next commit writes it again from the start, so its size stays, and a file's time moves only in
// ticks of a few milliseconds: a wait that compared only those missed the push until its
// fallback (seen in CI: TestWaitWakesOnPush/sqlite waited 30 s). The log index's header, which
// every commit changes, is compared too.
func TestProbeSeesACommitThatKeepsTheLogsSizeAndTime(t *testing.T) {
	ctx := context.Background()
	waiter, pusher := waitSetup(t, setup(t, sqldb.SQLite), false)
	for i := range 20 { // a log longer than the next commit needs
		if _, err := pusher.Push(ctx, "other", []byte(fmt.Sprintf(`{"job":"Fill","n":%d}`, i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := pusher.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		t.Fatal(err)
	}
	if _, err := waiter.probe(ctx); err != nil { // the baseline
		t.Fatal(err)
	}
	before, err := os.Stat(waiter.walFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pusher.Push(ctx, "default", []byte(`{"job":"Wake"}`), 0); err != nil {
		t.Fatal(err)
	}
	// As if the commit fell in the same tick of the file system's clock.
	if err := os.Chtimes(waiter.walFile, before.ModTime(), before.ModTime()); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(waiter.walFile)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("setup: the log went from %d bytes to %d (want the commit written over its start)", before.Size(), after.Size())
	}
	if moved, err := waiter.probe(ctx); err != nil || !moved {
		t.Fatalf("probe after a push = %v, %v; want it seen", moved, err)
	}
}
