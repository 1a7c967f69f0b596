package commands_test

import (
	"runtime"
	"strings"
	"testing"
)

// TestHelpAndTypos: `qctl help`, `qctl help work` and a mistyped command show help or the nearest
// command, instead of "No help topic".
func TestHelpAndTypos(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	expect(t, e.qctl("help"), 0, "USAGE:", "work")
	expect(t, e.qctl("help", "work"), 0, "qctl work", "--stop-when-empty")
	expect(t, e.qctl(), 0, "USAGE:")
	r := e.qctl("wrok")
	expect(t, r, 2, `unknown command "wrok"`, `Did you mean "work"?`)
	if strings.Contains(r.stderr, "qctl qctl") {
		t.Errorf("the hint names qctl twice: %s", r.stderr)
	}
	r = e.qctl("--bogus")
	expect(t, r, 2, "see `qctl --help`")
	if strings.Contains(r.stderr, "qctl qctl") {
		t.Errorf("the hint names qctl twice: %s", r.stderr)
	}
}

// TestVersion: --version and `qctl version` print the version and the Go toolchain.
func TestVersion(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := e.qctl(args...)
		expect(t, r, 0, "qctl ", "commit ", runtime.Version())
	}
}

// TestDaemonIsANoOp: `work --daemon`, a habit from `queue:work --daemon`, runs with a note.
func TestDaemonIsANoOp(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	expect(t, e.qctl("work", "--daemon", "--stop-when-empty"), 0, "--daemon is not needed")
}

// TestStatusHelpWatch: the --watch flag's help names its value once.
func TestStatusHelpWatch(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	r := e.ok("status", "--help")
	if strings.Contains(r.stdout, "--watch --watch") || !strings.Contains(r.stdout, "--watch INTERVAL") {
		t.Fatalf("status --help:\n%s", r.stdout)
	}
}

// TestMonitor: `monitor [connection:]queue,... --max=N` exits 1 naming the queue over the limit,
// 0 when every queue is within it, and 2 for an unknown connection.
func TestMonitor(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	e.ok("push", "Shell", "{}")
	e.ok("push", "Shell", "{}", "--queue", "mail")
	e.ok("push", "Shell", "{}", "--queue", "mail")
	r := e.qctl("monitor", "default,database:mail", "--max=1")
	expect(t, r, 1, "database:mail (2)")
	if strings.Contains(r.stderr, "default") {
		t.Errorf("a queue within the limit is named as over it: %s", r.stderr)
	}
	expect(t, e.qctl("monitor", "default,database:mail", "--max=2"), 0, "mail")
	expect(t, e.qctl("monitor", "nope:mail"), 2, `unknown connection "nope"`)
}

// TestPushEmptyData: an empty data argument is refused rather than pushed as null.
func TestPushEmptyData(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	expect(t, e.qctl("push", "Shell", ""), 2, "the data argument is empty")
	expect(t, e.qctl("monitor", "default", "--max=0"), 0)
}
