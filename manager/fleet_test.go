package manager_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/manager"
	"github.com/qctl/qctl/worker"
)

// fleetBackend is one backend the fleet tests run on: its connection's config (a test-unique
// table, prefix or tube) and the server it needs.
type fleetBackend struct {
	name, toml, addr, how string
}

func fleetBackends(t *testing.T, id string) []fleetBackend {
	return []fleetBackend{
		{name: "sqlite", toml: `driver = "database"` + "\ndsn = \"" + filepath.Join(t.TempDir(), "q.db") + "\""},
		{name: "postgres", toml: `driver = "database"` + "\ndialect = \"postgres\"\ndsn = \"host=127.0.0.1 user=postgres dbname=test sslmode=disable\"\ntable = \"jobs_" + id + "\"",
			addr: "127.0.0.1:5432", how: "pg_ctlcluster 15 main start"},
		{name: "mariadb", toml: `driver = "database"` + "\ndialect = \"mysql\"\ndsn = \"root@tcp(127.0.0.1:3306)/test?parseTime=true\"\ntable = \"jobs_" + id + "\"",
			addr: "127.0.0.1:3306", how: "service mariadb start"},
		{name: "redis", toml: `driver = "redis"` + "\nprefix = \"fleet_" + id + ":\"", addr: "127.0.0.1:6379", how: "redis-server --daemonize yes"},
		{name: "beanstalkd", toml: `driver = "beanstalkd"`, addr: "127.0.0.1:11300", how: "beanstalkd -l 127.0.0.1 &"},
	}
}

// eachFleetBackend runs fn on every backend, with a connection (named by a test-unique name so
// workers of parallel tests never meet) whose tables are migrated, and a test-unique queue.
func eachFleetBackend(t *testing.T, fn func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string)) {
	eachFleetBackendWith(t, manager.Options{}, "", fn)
}

// eachFleetBackendWith is eachFleetBackend with the manager's options and top-level config
// lines of its own.
func eachFleetBackendWith(t *testing.T, o manager.Options, top string, fn func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string)) {
	for _, be := range fleetBackends(t, uniqueID(t)) {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			if be.addr != "" {
				connectortest.RequireService(t, be.name, be.addr, be.how)
			}
			id := uniqueID(t)
			name := "fleet_" + id
			cfg, err := config.Load([]byte(top + "default = \"" + name + "\"\n[connections." + name + "]\n" + be.toml +
				"\n\n[failed]\ndriver = \"database\"\ndialect = \"sqlite\"\ndsn = \"" + filepath.Join(t.TempDir(), "failed.db") + "\"\n"))
			if err != nil {
				t.Fatal(err)
			}
			m := manager.New(cfg, o)
			ctx := context.Background()
			if _, err := m.Migrate(ctx, name); err != nil {
				t.Fatal(err)
			}
			if c, _ := m.Connection(name); c.Dialect != "" && c.Dialect != config.DialectSQLite {
				t.Cleanup(func() { dropTable(t, c.Dialect, c.DSN, c.Table) })
			}
			conn, err := m.Open(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			queue := "q_" + id
			t.Cleanup(func() { conn.Clear(context.Background(), queue) })
			fn(t, conn, m, queue)
		})
	}
}

// dropTable drops a server database's test jobs table.
func dropTable(t *testing.T, dialect, dsn, table string) {
	db, err := sqldb.Open(context.Background(), dialect, dsn)
	if err != nil {
		t.Error(err)
		return
	}
	if err := db.Exec("DROP TABLE " + sqldb.Quote(dialect, table)).Error; err != nil {
		t.Error(err)
	}
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}

func uniqueID(t *testing.T) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// fleetWorker is a worker of conn with a fast heartbeat, running until the test ends.
type fleetWorker struct {
	w    *worker.Worker
	hb   *worker.Heartbeat
	ran  atomic.Int64
	done chan worker.StopReason
}

// testBeat is the tests' heartbeat: pause and terminate take effect within it.
const testBeat = 100 * time.Millisecond

func startFleetWorker(t *testing.T, m *manager.Manager, conn *manager.Conn, name, host string, queues ...string) *fleetWorker {
	t.Helper()
	return startFleetWorkerWith(t, m, conn, manager.HeartbeatOptions{Host: host}, name, queues...)
}

func startFleetWorkerWith(t *testing.T, m *manager.Manager, conn *manager.Conn, o manager.HeartbeatOptions, name string, queues ...string) *fleetWorker {
	t.Helper()
	ctx := context.Background()
	o.Interval = testBeat
	hb, err := conn.Heartbeat(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	fw := &fleetWorker{hb: hb, done: make(chan worker.StopReason, 1)}
	reg := jobs.NewRegistry()
	reg.Register("Count", func(context.Context, *jobs.Job) error { fw.ran.Add(1); return nil })
	reg.Register("Fail", func(context.Context, *jobs.Job) error { return jobs.Fail(errors.New("meant to fail")) })
	store, err := m.OpenFailed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	fw.w = worker.New(worker.Deps{Queue: conn.Backend, Handlers: reg, Heartbeat: hb, Failed: store},
		worker.Options{Connection: conn.Name, Queues: queues, Name: name, Sleep: 10 * time.Millisecond, BlockFor: 50 * time.Millisecond})
	go func() {
		reason, err := fw.w.Run(ctx)
		if err != nil {
			t.Error(err)
		}
		fw.done <- reason
	}()
	t.Cleanup(func() {
		fw.w.Stop()
		select {
		case <-fw.done:
		case <-time.After(10 * time.Second):
			t.Error("worker " + name + " did not stop")
		}
	})
	return fw
}

// waitFor polls cond every testBeat/2 until it holds or d passes: what it waits on is another
// process's view (the registry), which has no signal to wait on.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(testBeat / 2)
	}
}

// listed returns conn's live worker entry of id, if any.
func listed(t *testing.T, conn *manager.Conn, id string) (worker.Info, bool) {
	t.Helper()
	ws, err := conn.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		if w.ID == id {
			return w, true
		}
	}
	return worker.Info{}, false
}

func pushCount(t *testing.T, conn *manager.Conn, queue string, n int) {
	t.Helper()
	data := make([]json.RawMessage, n)
	for i := range data {
		data[i] = json.RawMessage(`{}`)
	}
	if _, err := conn.Push(context.Background(), "Count", data, manager.PushOptions{Queue: queue}); err != nil {
		t.Fatal(err)
	}
}

// TestPausedQueueIsNotPoppedUntilContinued: two workers (as if on two hosts) leave a paused queue
// alone, say so in the registry, keep popping their other queue, and take the paused one's jobs
// within a heartbeat of continue.
func TestPausedQueueIsNotPoppedUntilContinued(t *testing.T) {
	eachFleetBackend(t, func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string) {
		ctx := context.Background()
		other := queue + "_other"
		t.Cleanup(func() { conn.Clear(context.Background(), other) })
		if err := conn.Pause(ctx, []string{queue}, 0); err != nil {
			t.Fatal(err)
		}
		pushCount(t, conn, queue, 3)
		a := startFleetWorker(t, m, conn, "a", "host-a", queue, other)
		b := startFleetWorker(t, m, conn, "b", "host-b", queue)
		for _, fw := range []*fleetWorker{a, b} {
			waitFor(t, 5*time.Second, fw.hb.ID+" listed with its queue paused", func() bool {
				in, ok := listed(t, conn, fw.hb.ID)
				return ok && slices.Equal(in.PausedQueues, []string{queue})
			})
		}
		if in, _ := listed(t, conn, b.hb.ID); in.State != worker.StatePaused || in.Host != "host-b" || in.Name != "b" {
			t.Errorf("b's entry = %+v; want paused, host-b, name b", in)
		}
		// The unpaused queue is still served.
		pushCount(t, conn, other, 1)
		waitFor(t, 5*time.Second, "a ran the job of its unpaused queue", func() bool { return a.ran.Load() == 1 })
		// Beats go on; the paused queue keeps its jobs through several of them.
		first, _ := listed(t, conn, b.hb.ID)
		waitFor(t, 5*time.Second, "three more beats", func() bool {
			in, _ := listed(t, conn, b.hb.ID)
			return in.BeatAt.Sub(first.BeatAt) >= 3*testBeat
		})
		if n, err := conn.Backend.Size(ctx, queue); err != nil || n != 3 || a.ran.Load() != 1 || b.ran.Load() != 0 {
			t.Fatalf("paused queue holds %d (%v), a ran %d, b ran %d; want 3 kept, 1 and 0 run", n, err, a.ran.Load(), b.ran.Load())
		}
		if paused, err := conn.PausedQueues(ctx, []string{queue, other}); err != nil || !slices.Equal(paused, []string{queue}) {
			t.Fatalf("PausedQueues = %v, %v", paused, err)
		}
		if err := conn.Continue(ctx, []string{queue}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the continued queue's jobs run", func() bool { return a.ran.Load()+b.ran.Load() == 4 })
	})
}

// TestPauseForExpires: a pause with --for lifts by itself.
func TestPauseForExpires(t *testing.T) {
	eachFleetBackend(t, func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string) {
		ctx := context.Background()
		if err := conn.Pause(ctx, []string{queue}, time.Second); err != nil {
			t.Fatal(err)
		}
		if paused, err := conn.PausedQueues(ctx, []string{queue}); err != nil || len(paused) != 1 {
			t.Fatalf("PausedQueues right after pause --for = %v, %v", paused, err)
		}
		waitFor(t, 3*time.Second, "the pause to expire", func() bool {
			paused, err := conn.PausedQueues(ctx, []string{queue})
			return err == nil && len(paused) == 0
		})
	})
}

// TestTerminateStopsExactlyThatWorker: of two workers, only the one asked stops, within a beat
// or so, and leaves the registry; the other stays listed.
func TestTerminateStopsExactlyThatWorker(t *testing.T) {
	eachFleetBackend(t, func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string) {
		a := startFleetWorker(t, m, conn, "a", "host-a", queue)
		b := startFleetWorker(t, m, conn, "b", "host-b", queue)
		for _, fw := range []*fleetWorker{a, b} {
			waitFor(t, 5*time.Second, fw.hb.ID+" listed", func() bool { _, ok := listed(t, conn, fw.hb.ID); return ok })
		}
		asked, err := conn.Terminate(context.Background(), manager.Selector{Worker: a.hb.ID})
		if err != nil || len(asked) != 1 || asked[0].ID != a.hb.ID {
			t.Fatalf("Terminate = %v, %v; want a alone", asked, err)
		}
		select {
		case reason := <-a.done:
			a.done <- reason // for the cleanup
			if reason != worker.StopInterrupted {
				t.Errorf("a stopped for %s, want interrupted", reason)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a did not stop after terminate")
		}
		if _, ok := listed(t, conn, a.hb.ID); ok {
			t.Error("a is still listed after a clean exit")
		}
		// b goes on beating and stays listed well past a's request.
		first, _ := listed(t, conn, b.hb.ID)
		waitFor(t, 5*time.Second, "b beats on", func() bool {
			in, ok := listed(t, conn, b.hb.ID)
			return ok && in.BeatAt.Sub(first.BeatAt) >= 3*testBeat
		})
		select {
		case <-b.done:
			t.Fatal("b stopped too")
		default:
		}
		if _, err := conn.Terminate(context.Background(), manager.Selector{}); err == nil {
			t.Error("Terminate with no selector succeeded")
		}
	})
}

// TestKilledWorkerExpires: an entry no longer refreshed (its process was killed) leaves the
// registry after its ttl.
func TestKilledWorkerExpires(t *testing.T) {
	eachFleetBackend(t, func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string) {
		ctx := context.Background()
		store, err := conn.Fleet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		entry, _ := json.Marshal(worker.Info{Connection: conn.Name, Host: "gone"})
		if err := store.PutWorker(ctx, "killed", entry, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if _, ok := listed(t, conn, "killed"); !ok {
			t.Fatal("the entry is not listed right after it was put")
		}
		// Database rows count in whole seconds, so an entry outlives its ttl by under a second.
		waitFor(t, 300*time.Millisecond+1500*time.Millisecond, "the killed worker's entry to expire", func() bool {
			_, ok := listed(t, conn, "killed")
			return !ok
		})
	})
}

func TestFleetNotSupportedWithoutAStore(t *testing.T) {
	m, ctx := setup(t, "\n[failed]\ndriver = \"null\"\n")
	conn, err := m.Open(ctx, "now")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Workers(ctx); !errors.Is(err, manager.ErrNotSupported) {
		t.Errorf("Workers on sync = %v, want ErrNotSupported", err)
	}
}

// TestPauseWorkersHoldsWholeWorkers: a pause of one worker, or of one supervisor's children, stops
// those workers popping any queue (the queues themselves are not paused) until continued, and
// leaves the others alone.
func TestPauseWorkersHoldsWholeWorkers(t *testing.T) {
	eachFleetBackend(t, func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string) {
		ctx := context.Background()
		other := queue + "_other"
		t.Cleanup(func() { conn.Clear(context.Background(), other) })
		sup := "sup-" + uniqueID(t)
		a := startFleetWorker(t, m, conn, "a", "host-a", queue)
		b := startFleetWorkerWith(t, m, conn, manager.HeartbeatOptions{Host: "host-b", Master: "master-" + sup, Supervisor: sup}, "b", other)
		for _, fw := range []*fleetWorker{a, b} {
			waitFor(t, 5*time.Second, fw.hb.ID+" listed", func() bool { _, ok := listed(t, conn, fw.hb.ID); return ok })
		}
		if in, _ := listed(t, conn, b.hb.ID); in.Master != "master-"+sup || in.Supervisor != sup {
			t.Errorf("b's entry = %+v; want its master and supervisor", in)
		}
		if _, err := conn.PauseWorkers(ctx, manager.Selector{Worker: a.hb.ID}, 0); err != nil {
			t.Fatal(err)
		}
		if got, err := conn.PauseWorkers(ctx, manager.Selector{Supervisor: sup}, 0); err != nil || len(got) != 1 || got[0].ID != b.hb.ID {
			t.Fatalf("PauseWorkers(supervisor) = %v, %v; want b", got, err)
		}
		for _, fw := range []*fleetWorker{a, b} {
			waitFor(t, 5*time.Second, fw.hb.ID+" paused", func() bool {
				in, _ := listed(t, conn, fw.hb.ID)
				return in.State == worker.StatePaused && len(in.PausedQueues) == 0
			})
		}
		pushCount(t, conn, queue, 2)
		pushCount(t, conn, other, 2)
		first, _ := listed(t, conn, b.hb.ID)
		waitFor(t, 5*time.Second, "three more beats", func() bool {
			in, _ := listed(t, conn, b.hb.ID)
			return in.BeatAt.Sub(first.BeatAt) >= 3*testBeat
		})
		if a.ran.Load() != 0 || b.ran.Load() != 0 {
			t.Fatalf("paused workers ran jobs: a %d, b %d", a.ran.Load(), b.ran.Load())
		}
		if _, err := conn.ContinueWorkers(ctx, manager.Selector{Supervisor: sup}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "b to run its jobs after continue", func() bool { return b.ran.Load() == 2 })
		if a.ran.Load() != 0 {
			t.Fatalf("a ran %d jobs: continuing the supervisor continued a standalone worker", a.ran.Load())
		}
		if _, err := conn.ContinueWorkers(ctx, manager.Selector{Worker: a.hb.ID}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "a to run its jobs after continue", func() bool { return a.ran.Load() == 2 })
		if _, err := conn.PauseWorkers(ctx, manager.Selector{Master: "no-such-master"}, 0); !errors.Is(err, manager.ErrNoMatch) {
			t.Errorf("pausing an unknown master: %v; want ErrNoMatch", err)
		}
		if _, err := conn.PauseWorkers(ctx, manager.Selector{All: true}, 0); err == nil {
			t.Errorf("pausing all workers as a whole succeeded; it must name queues instead")
		}
	})
}

func TestGroupByMasterAndSupervisor(t *testing.T) {
	ws := []worker.Info{
		{ID: "s1", Host: "h1"},
		{ID: "c2", Master: "m2", Supervisor: "mail", Host: "h2"},
		{ID: "m1", Kind: worker.KindMaster, Master: "m1", Host: "h1", Supervisors: []string{"web", "idle"}},
		{ID: "c1", Master: "m1", Supervisor: "web", Host: "h1"},
		{ID: "l1", Kind: worker.KindListener, Host: "h3"},
	}
	got := manager.Group(ws)
	var shape []string
	for _, g := range got {
		line := g.ID + fmt.Sprintf("(master %v):", g.Master != nil)
		for _, s := range g.Supervisors {
			line += " " + s.Name + "["
			for _, w := range s.Workers {
				line += w.ID + " "
			}
			line += "]"
		}
		shape = append(shape, line)
	}
	want := []string{"m1(master true): idle[] web[c1 ]", "m2(master false): mail[c2 ]", "(master false): [s1 l1 ]"}
	if !slices.Equal(shape, want) {
		t.Errorf("Group = %q\nwant %q", shape, want)
	}
}

// TestSnapshotShowsTheQueuesWorkersPop: status without --queue lists an empty queue that live
// workers pop, with its worker count, beside the queues the backend lists.
func TestSnapshotShowsTheQueuesWorkersPop(t *testing.T) {
	eachFleetBackend(t, func(t *testing.T, conn *manager.Conn, m *manager.Manager, queue string) {
		fw := startFleetWorker(t, m, conn, "idle", "host-s", queue)
		waitFor(t, 5*time.Second, "the worker listed", func() bool { _, ok := listed(t, conn, fw.hb.ID); return ok })
		snap, err := conn.Snapshot(context.Background(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range snap.Queues {
			if q.Queue == queue {
				if q.Workers == nil || *q.Workers != 1 || q.Ready != 0 {
					t.Errorf("queue %s: %+v, want empty with 1 worker", queue, q)
				}
				return
			}
		}
		t.Errorf("the empty queue %s its worker pops is missing from the snapshot: %+v", queue, snap.Queues)
	})
}
