package commands_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/qctl/qctl/connectors/connectortest"
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

// TestHandlerTimeoutNamesItsLimit: an exec handler stopped by its own `timeout = 1` fails saying
// 1s, not the worker's --timeout.
func TestHandlerTimeoutNamesItsLimit(t *testing.T) {
	e := newEnv(t, sqliteConfig+`
[handlers."Slow"]
command = ["sleep", "30"]
timeout = 1
`)
	e.ok("push", "Slow", "{}")
	r := e.qctl("work", "--stop-when-empty")
	expect(t, r, 0, "job has timed out after 1s")
	if strings.Contains(r.stdout+r.stderr, "1m0s") {
		t.Errorf("the worker's limit is named:\n%s%s", r.stdout, r.stderr)
	}
}

// TestMessagesThatMisled: a SQLite file in a directory that does not exist, and a job larger than
// MySQL's max_allowed_packet, say so instead of "out of memory (14)" and a bare error 1153.
func TestMessagesThatMisled(t *testing.T) {
	e := newEnv(t, `default = "d"
[connections.d]
driver = "database"
dialect = "sqlite"
dsn = "nodir/qctl.db"
`)
	expect(t, e.qctl("push", "Shell", "{}"), 1, "the directory nodir does not exist")

	connectortest.RequireService(t, "MariaDB", "127.0.0.1:3306", "start-stop-daemon --start --background --exec /usr/sbin/mariadbd")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	table := "jobs_big_" + hex.EncodeToString(b)
	conn := `driver = "database"
dialect = "mysql"
dsn = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
table = "` + table + `"`
	e = newEnv(t, "default = \"m\"\n[connections.m]\n"+conn+"\n")
	e.ok("migrate")
	t.Cleanup(func() { dropTable(t, conn, table) })
	big := filepath.Join(e.dir, "big.json")
	if err := os.WriteFile(big, []byte(`"`+strings.Repeat("x", 20<<20)+`"`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.qctl("push", "Shell", "--data-file", big)
	if r.code == 0 {
		t.Skip("this MariaDB's max_allowed_packet is above 20 MB")
	}
	expect(t, r, 1, "(its max_allowed_packet): ", "the server's limit is 16777216: raise max_allowed_packet on the server")
}
