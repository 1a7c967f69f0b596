package commands_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
)

// groupsJSON is the grouped part of `qctl workers --json`.
type groupsJSON struct {
	Workers []entryJSON
	Groups  []struct {
		ID          string
		Master      *entryJSON
		Supervisors []struct {
			Name    string
			Workers []entryJSON
		}
	}
}

type entryJSON struct {
	ID, Kind, Master, Supervisor, Host, Name, State string
	PID                                             int
	Children                                        int
	Queues                                          []string
	Supervisors                                     []string
	Claims                                          map[string]int
}

func (e *env) groups() groupsJSON {
	e.t.Helper()
	var g groupsJSON
	if out := e.ok("workers", "--json").stdout; json.Unmarshal([]byte(out), &g) != nil {
		e.t.Fatalf("workers --json printed %q", out)
	}
	return g
}

// fleetConfigs are SQL backends (sqlite; PostgreSQL with a connection name and table of the
// test's own, since the qctl_fleet table is shared) and Redis (with a key prefix of the test's
// own), each with a supervisor named uniquely: pause and terminate flags of a supervisor are
// fleet-wide.
func fleetConfigs(t *testing.T, supervisor string) []struct{ name, config string } {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	unique := hex.EncodeToString(b)
	prefix := "qctl-groups-" + unique + ":"
	return []struct{ name, config string }{
		{"postgres", `default = "pg` + unique + `"
[connections.pg` + unique + `]
driver = "database"
dialect = "postgres"
dsn = "host=127.0.0.1 user=postgres dbname=test sslmode=disable"
table = "jobs_groups_` + unique + `"
` + supervisor},
		{"sqlite", `default = "database"
[connections.database]
driver = "database"
dsn = "qctl.db"
` + supervisor},
		{"redis", `default = "redis"
[connections.redis]
driver = "redis"
addr = "127.0.0.1:6379"
prefix = "` + prefix + `"
block_for = 1
` + supervisor},
	}
}

func eachFleetConfig(t *testing.T, supervisor string, fn func(t *testing.T, e *env, name string)) {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	name := "web" + hex.EncodeToString(b)
	for _, tc := range fleetConfigs(t, strings.ReplaceAll(supervisor, "NAME", name)) {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "postgres" {
				connectortest.RequireService(t, "PostgreSQL", "127.0.0.1:5432", "pg_ctlcluster 15 main start")
				table := tc.config[strings.Index(tc.config, `table = "`)+9:]
				table = table[:strings.Index(table, `"`)]
				e := newEnv(t, tc.config)
				e.ok("migrate")
				t.Cleanup(func() { dropTable(t, tc.config[strings.Index(tc.config, "driver"):], table) })
				fn(t, e, name)
				return
			}
			if tc.name == "redis" {
				connectortest.RequireService(t, "Redis", "127.0.0.1:6379", "redis-server --daemonize yes")
				prefix := tc.config[strings.Index(tc.config, `prefix = "`)+10:]
				prefix = prefix[:strings.Index(prefix, `"`)]
				t.Cleanup(func() { deleteRedisKeys(t, prefix+"*") })
			}
			e := newEnv(t, tc.config)
			e.ok("status") // creates the tables
			fn(t, e, name)
		})
	}
}

// A master and its children are listed grouped by master and supervisor, a standalone worker in
// a group of its own; pause --supervisor stops the children popping within a heartbeat and
// continue resumes them; terminate --master makes the master exit 0 with no child left.
func TestSuperviseMasterGroupedPausedAndTerminated(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	eachFleetConfig(t, `
[supervisors.NAME]
queues = ["a"]
balance = "off"
max_processes = 2
sleep = 1
timeout = 5
`, func(t *testing.T, e *env, sup string) {
		m := e.start("supervise", "--host", "host-m", "--heartbeat", "0.2")
		alone := e.start("work", "--host", "host-w", "--name", "alone", "--queue", "other", "--heartbeat", "0.2")
		var master entryJSON
		var children []entryJSON
		waitFor(t, 20*time.Second, "the master, its 2 children and the standalone worker grouped", func() bool {
			g := e.groups()
			if len(g.Groups) != 2 || g.Groups[0].Master == nil || g.Groups[1].ID != "" {
				return false
			}
			mg, sg := g.Groups[0], g.Groups[1]
			if len(mg.Supervisors) != 1 || mg.Supervisors[0].Name != sup || len(mg.Supervisors[0].Workers) != 2 {
				return false
			}
			if len(sg.Supervisors) != 1 || len(sg.Supervisors[0].Workers) != 1 || sg.Supervisors[0].Workers[0].Name != "alone" {
				return false
			}
			master, children = *mg.Master, mg.Supervisors[0].Workers
			return master.Children == 2
		})
		if master.Kind != "master" || master.Host != "host-m" || master.PID != m.cmd.Process.Pid || master.ID != master.Master ||
			len(master.Supervisors) != 1 || master.Supervisors[0] != sup {
			t.Fatalf("master entry %+v", master)
		}
		for _, c := range children {
			if c.Master != master.ID || c.Supervisor != sup || c.Host != "host-m" {
				t.Errorf("child entry %+v: want master %s, supervisor %s, host host-m", c, master.ID, sup)
			}
		}

		// pause --supervisor: its children stop popping (the standalone worker pops "other").
		paused := time.Now()
		e.ok("pause", "--supervisor", sup)
		waitFor(t, 10*time.Second, "the children to report paused", func() bool {
			n := 0
			for _, w := range e.groups().Workers {
				if w.Supervisor == sup && w.State == "paused" {
					n++
				}
			}
			return n == 2
		})
		t.Logf("pause --supervisor took effect in %s (heartbeat 0.2s)", time.Since(paused).Round(time.Millisecond))
		for i := range 3 {
			e.ok("push", "Record", strconv.Itoa(i), "--queue", "a")
		}
		time.Sleep(1500 * time.Millisecond)
		if got := e.records(); len(got) != 0 {
			t.Fatalf("a paused supervisor's children ran %d jobs", len(got))
		}
		continued := time.Now()
		e.ok("continue", "--supervisor", sup)
		waitFor(t, 10*time.Second, "the jobs to run after continue", func() bool { return len(e.records()) == 3 })
		t.Logf("continue --supervisor took effect in %s", time.Since(continued).Round(time.Millisecond))

		e.ok("terminate", "--master", master.ID)
		if code := m.exitWithin(20 * time.Second); code != 0 {
			t.Fatalf("the master exited %d after terminate --master\n%s", code, m.stderr)
		}
		for _, c := range children {
			if alive(c.PID) {
				t.Errorf("child %d outlived its terminated master", c.PID)
			}
		}
		for _, pid := range workerPIDs(m.stderr.String()) {
			if alive(pid) {
				t.Errorf("worker %d outlived its terminated master", pid)
			}
		}
		if ws := e.groups().Workers; len(ws) != 1 || ws[0].Name != "alone" {
			t.Errorf("after the master's exit, workers lists %+v; want the standalone worker alone", ws)
		}
		alone.signal(syscall.SIGTERM)
		alone.exitWithin(10 * time.Second)
	})
}

// Two masters with fleet_max_processes = 3 and max_processes = 3 each, started at once, never run
// more than 3 children together, by the registry and by their processes, sampled while both run
// and while one stops and the other takes the freed slots.
func TestFleetMaxProcessesHoldsAcrossTwoMasters(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	eachFleetConfig(t, `
[supervisors.NAME]
queues = ["a"]
balance = "off"
max_processes = 3
fleet_max_processes = 3
sleep = 1
timeout = 5
`, func(t *testing.T, e *env, sup string) {
		a := e.start("supervise", "--host", "host-a", "--heartbeat", "0.2")
		b := e.start("supervise", "--host", "host-b", "--heartbeat", "0.2")
		var (
			mu              sync.Mutex
			samples, maxReg int
			maxProcs        int
			over            []string
		)
		sample := func() {
			g := e.groups()
			reg, claimed := 0, 0
			for _, w := range g.Workers {
				if w.Kind == "" && w.Supervisor == sup {
					reg++
				}
				if w.Kind == "master" {
					claimed += w.Claims[sup]
				}
			}
			procs := 0
			for _, pid := range append(workerPIDs(a.stderr.String()), workerPIDs(b.stderr.String())...) {
				if alive(pid) && !zombie(pid) {
					procs++
				}
			}
			mu.Lock()
			defer mu.Unlock()
			samples++
			maxReg, maxProcs = max(maxReg, reg), max(maxProcs, procs)
			if reg > 3 || procs > 3 || claimed > 3 {
				over = append(over, fmt.Sprintf("%d listed, %d processes, %d claimed", reg, procs, claimed))
			}
		}
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) {
			sample()
		}
		if len(over) > 0 {
			t.Fatalf("fleet_max_processes 3 was passed with both masters running, in %d of %d samples: %s", len(over), samples, strings.Join(over, "; "))
		}
		total := func() int {
			n := 0
			for _, w := range e.groups().Workers {
				if w.Kind == "" && w.Supervisor == sup {
					n++
				}
			}
			return n
		}
		waitFor(t, 10*time.Second, "3 children in all", func() bool { sample(); return total() == 3 })
		// Stop the master with more children: the other one takes the freed slots, never before
		// they are free.
		ids := map[string]int{}
		for _, w := range e.groups().Workers {
			if w.Kind == "master" {
				ids[w.Host] = w.Children
			}
		}
		stop, keep, keepHost := a, b, "host-b"
		if ids["host-b"] > ids["host-a"] {
			stop, keep, keepHost = b, a, "host-a"
		}
		var stopID string
		for _, w := range e.groups().Workers {
			if w.Kind == "master" && w.Host != keepHost {
				stopID = w.ID
			}
		}
		e.ok("terminate", "--master", stopID)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if code := stop.exitWithin(20 * time.Second); code != 0 {
				t.Errorf("the terminated master exited %d", code)
			}
		}()
		waitFor(t, 20*time.Second, "the remaining master to run 3 children", func() bool {
			sample()
			n := 0
			for _, w := range e.groups().Workers {
				if w.Kind == "" && w.Supervisor == sup && w.Host == keepHost {
					n++
				}
			}
			return n == 3
		})
		<-done
		for range 10 {
			sample()
		}
		mu.Lock()
		t.Logf("%d samples: at most %d children listed, %d processes alive", samples, maxReg, maxProcs)
		if len(over) > 0 {
			t.Errorf("fleet_max_processes 3 was passed in %d of %d samples: %s", len(over), samples, strings.Join(over, "; "))
		}
		mu.Unlock()
		keep.signal(syscall.SIGTERM)
		if code := keep.exitWithin(20 * time.Second); code != 0 {
			t.Fatalf("master exited %d", code)
		}
	})
}

// zombie reports whether pid has exited and waits for its parent to reap it.
func zombie(pid int) bool {
	b, err := readProcStat(pid)
	return err == nil && strings.Contains(b, ") Z ")
}

// A `listen` process is listed with its queues, obeys terminate --worker and leaves on exit.
func TestListenIsListedAndTerminated(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	eachFleetConfig(t, "", func(t *testing.T, e *env, _ string) {
		l := e.start("listen", "--host", "host-l", "--heartbeat", "0.2", "--queue", "a,b", "--name", "lsn")
		var entry entryJSON
		waitFor(t, 20*time.Second, "the listener listed", func() bool {
			for _, w := range e.groups().Workers {
				if w.Kind == "listen" {
					entry = w
					return true
				}
			}
			return false
		})
		if entry.Host != "host-l" || entry.Name != "lsn" || strings.Join(entry.Queues, ",") != "a,b" || entry.State != "running" || entry.PID != l.cmd.Process.Pid {
			t.Errorf("listener entry %+v", entry)
		}
		if out := e.ok("workers").stdout; !strings.Contains(out, "lsn (listen") {
			t.Errorf("the workers table does not show the listener:\n%s", out)
		}
		e.ok("terminate", "--worker", entry.ID)
		if code := l.exitWithin(15 * time.Second); code != 0 {
			t.Fatalf("listen exited %d after terminate\n%s%s", code, l.stdout, l.stderr)
		}
		if ws := e.groups().Workers; len(ws) != 0 {
			t.Errorf("the listener's entry outlived it: %+v", ws)
		}
	})
}

func readProcStat(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return string(b), err
}

// terminate --supervisor stops that pool in every master running it (two masters, as on two
// hosts): its children exit and are not restarted, the masters' other pool goes on; once a
// master's last pool is terminated it exits 0.
func TestTerminateSupervisorStopsThatPoolInEveryMaster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	eachFleetConfig(t, `
[supervisors.NAME]
queues = ["a"]
balance = "off"
max_processes = 1
sleep = 1
timeout = 5

[supervisors.NAMEmail]
queues = ["m"]
balance = "off"
max_processes = 1
sleep = 1
timeout = 5
`, func(t *testing.T, e *env, sup string) {
		mail := sup + "mail"
		x := e.start("supervise", "--host", "host-x", "--heartbeat", "0.2")
		y := e.start("supervise", "--host", "host-y", "--heartbeat", "0.2")
		count := func() map[string]int {
			n := map[string]int{}
			for _, w := range e.groups().Workers {
				if w.Kind == "" {
					n[w.Supervisor]++
				}
			}
			return n
		}
		waitFor(t, 20*time.Second, "2 children of each supervisor", func() bool { n := count(); return n[sup] == 2 && n[mail] == 2 })
		var pids []int
		for _, w := range e.groups().Workers {
			if w.Supervisor == sup {
				pids = append(pids, w.PID)
			}
		}
		out := e.ok("terminate", "--supervisor", sup).stdout
		if strings.Count(out, "to stop supervisor "+sup) != 2 {
			t.Fatalf("terminate --supervisor asked:\n%s; want both masters", out)
		}
		waitFor(t, 10*time.Second, "the supervisor's children to exit", func() bool {
			for _, pid := range pids {
				if alive(pid) && !zombie(pid) {
					return false
				}
			}
			return true
		})
		// Several beats later: no child of it came back, the other pool runs on in both masters.
		time.Sleep(time.Second)
		if n := count(); n[sup] != 0 || n[mail] != 2 {
			t.Fatalf("after terminate --supervisor: %v; want 0 of %s and 2 of %s", n, sup, mail)
		}
		for _, w := range e.groups().Workers {
			if w.Kind == "master" && (len(w.Supervisors) != 1 || w.Supervisors[0] != mail) {
				t.Errorf("master %s lists supervisors %v; want %s alone", w.ID, w.Supervisors, mail)
			}
		}
		e.ok("terminate", "--supervisor", mail)
		for _, m := range []*proc{x, y} {
			if code := m.exitWithin(20 * time.Second); code != 0 {
				t.Fatalf("a master left with no pool exited %d\n%s", code, m.stderr)
			}
		}
		if ws := e.groups().Workers; len(ws) != 0 {
			t.Errorf("entries left after both masters exited: %+v", ws)
		}
	})
}
