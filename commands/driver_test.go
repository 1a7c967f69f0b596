package commands_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/manager"
)

// A driver registered from outside qctl's packages, as a new backend would be: a queue kept as
// one file per job in a folder. This file is all it takes; push, work and status use it through
// the manager without any other file knowing it exists.
func init() {
	manager.Register(manager.Driver{
		Config: config.DriverSpec{Name: "folder", Keys: []string{"path", "retry_after"},
			Decode: func(t *config.Table, c *config.Connection) {
				path := t.String("path")
				if path == "" {
					t.Fail("path", "required: the folder that holds the jobs")
				}
				c.Settings = path
			}},
		Open: func(_ context.Context, conn config.Connection, _ manager.Env) (connectors.Queue, error) {
			return &folderQueue{dir: conn.Settings.(string)}, nil
		},
	})
}

// folderQueue keeps each job as a file <dir>/<queue>/<state>/<available unix ns>-<n>-<attempts>;
// a pop is a rename from ready to reserved, so two processes never take the same job.
type folderQueue struct{ dir string }

var folderSeq atomic.Int64

func (f *folderQueue) path(queue, state string) string { return filepath.Join(f.dir, queue, state) }

func (f *folderQueue) Push(_ context.Context, queue string, payload []byte, delay time.Duration) (string, error) {
	if err := os.MkdirAll(f.path(queue, "ready"), 0o755); err != nil {
		return "", err
	}
	if err := os.MkdirAll(f.path(queue, "reserved"), 0o755); err != nil {
		return "", err
	}
	id := fmt.Sprintf("%d.%d", os.Getpid(), folderSeq.Add(1))
	name := fmt.Sprintf("%020d-%s-0", time.Now().Add(delay).UnixNano(), id)
	return id, os.WriteFile(filepath.Join(f.path(queue, "ready"), name), payload, 0o644)
}

func (f *folderQueue) Pop(_ context.Context, queue string) (*connectors.Reserved, error) {
	names, _ := os.ReadDir(f.path(queue, "ready"))
	now := time.Now().UnixNano()
	for _, e := range names {
		at, id, attempts, ok := parseFolderName(e.Name())
		if !ok || at > now {
			continue
		}
		reserved := fmt.Sprintf("%020d-%s-%d", at, id, attempts+1)
		if os.Rename(filepath.Join(f.path(queue, "ready"), e.Name()), filepath.Join(f.path(queue, "reserved"), reserved)) != nil {
			continue // another worker took it
		}
		payload, err := os.ReadFile(filepath.Join(f.path(queue, "reserved"), reserved))
		if err != nil {
			return nil, err
		}
		return &connectors.Reserved{Queue: queue, ID: id, Attempts: attempts + 1, Payload: payload, Receipt: reserved}, nil
	}
	return nil, nil
}

func parseFolderName(name string) (at int64, id string, attempts int, ok bool) {
	parts := strings.Split(name, "-")
	if len(parts) != 3 {
		return 0, "", 0, false
	}
	at, err1 := strconv.ParseInt(parts[0], 10, 64)
	attempts, err2 := strconv.Atoi(parts[2])
	return at, parts[1], attempts, err1 == nil && err2 == nil
}

func (f *folderQueue) Delete(_ context.Context, job *connectors.Reserved) error {
	return os.Remove(filepath.Join(f.path(job.Queue, "reserved"), job.Receipt))
}

func (f *folderQueue) Release(_ context.Context, job *connectors.Reserved, delay time.Duration) error {
	_, id, attempts, _ := parseFolderName(job.Receipt)
	ready := fmt.Sprintf("%020d-%s-%d", time.Now().Add(delay).UnixNano(), id, attempts)
	return os.Rename(filepath.Join(f.path(job.Queue, "reserved"), job.Receipt), filepath.Join(f.path(job.Queue, "ready"), ready))
}

func (f *folderQueue) Size(ctx context.Context, queue string) (int64, error) {
	st, err := f.QueueStats(ctx, queue)
	return st.Ready + st.Delayed + st.Reserved, err
}

func (f *folderQueue) Clear(_ context.Context, queue string) (int64, error) {
	n := int64(0)
	for _, state := range []string{"ready", "reserved"} {
		names, _ := os.ReadDir(f.path(queue, state))
		for _, e := range names {
			if os.Remove(filepath.Join(f.path(queue, state), e.Name())) == nil {
				n++
			}
		}
	}
	return n, nil
}

func (f *folderQueue) Close() error { return nil }

func (f *folderQueue) QueueStats(_ context.Context, queue string) (connectors.QueueStats, error) {
	var st connectors.QueueStats
	ready, _ := os.ReadDir(f.path(queue, "ready"))
	now := time.Now().UnixNano()
	for _, e := range ready {
		if at, _, _, ok := parseFolderName(e.Name()); ok && at > now {
			st.Delayed++
		} else {
			st.Ready++
		}
	}
	reserved, _ := os.ReadDir(f.path(queue, "reserved"))
	st.Reserved = int64(len(reserved))
	return st, nil
}

func (f *folderQueue) Queues(context.Context) ([]string, error) {
	entries, _ := os.ReadDir(f.dir)
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

var _ connectors.Inspector = (*folderQueue)(nil)

func TestAFakeDriverRegisteredInATestFileWorksForPushWorkAndStatus(t *testing.T) {
	e := newEnv(t, `
default = "files"

[connections.files]
driver = "folder"
path = "jobs"
`)
	e.ok("push", "Record", `{"n":1}`)
	e.ok("push", "Record", `{"n":2}`, "--queue", "mail", "--connection", "files")
	expect(t, e.ok("status", "--queue", "default,mail"), 0, "default   1", "mail      1")
	expect(t, e.ok("work", "files", "--queue", "default,mail", "--stop-when-empty"), 0, "Record")
	e.expectEachRanOnce(2)
	expect(t, e.ok("status", "--queue", "default,mail"), 0, "default   0", "mail      0")

	// The driver's keys are checked as every built-in driver's are.
	bad := newEnv(t, "[connections.files]\ndriver = \"folder\"\ndialect = \"sqlite\"\n")
	expect(t, bad.qctl("status"), 2, `connections.files.dialect: not used by driver "folder"`, "connections.files.path: required: the folder that holds the jobs")
}

// Every command that acts on one connection names it the same way in its help: artisan's
// positional [connection] where the command has no other positional argument, and --connection.
func TestEveryConnectionCommandTakesTheConnectionTheSameWay(t *testing.T) {
	e := newEnv(t, "")
	const flag = "--connection NAME  the connection NAME (default: the config's default); the same as the [connection] argument"
	positional := []string{"work", "listen", "migrate", "restart", "status", "clear", "bench"}
	for _, cmd := range append(positional, "push", "kick", "peek") {
		help := e.ok(cmd, "--help").stdout
		if !strings.Contains(strings.Join(strings.Fields(help), " "), strings.Join(strings.Fields(flag), " ")) {
			t.Errorf("qctl %s --help lacks %q:\n%s", cmd, flag, help)
		}
		if slices.Contains(positional, cmd) && !strings.Contains(help, "qctl "+cmd+" [command options] [connection]") {
			t.Errorf("qctl %s --help does not show the [connection] argument:\n%s", cmd, help)
		}
	}
	// Naming two different connections is a usage error, not a silent choice.
	expect(t, e.qctl("status", "database", "--connection", "other"), 2, "given twice")
}
