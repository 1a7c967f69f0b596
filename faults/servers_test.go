package faults

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/beanstalkqueue"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/connectors/redisqueue"
)

// lease is the retry_after of every scenario: short, so a job whose delete was lost in a fault
// comes back (and is counted) within the scenario.
const lease = 5 * time.Second

// server is a private backend the scenarios kill, restart, freeze and thaw.
type server struct {
	kind string // redis, beanstalkd, postgres, mariadb
	port int
	// connection is the body of the scenario's [connections.q] table.
	connection string
	// open connects the test itself, to push jobs and count what is left.
	open func(ctx context.Context) (connectors.Queue, error)
	d    *daemon
}

func (s *server) addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// kill kills every process of the server with SIGKILL, as a crash would.
func (s *server) kill(t *testing.T) { s.d.kill(t) }

// restart starts the server again on the same port and data, and waits until it accepts
// connections (recovery may still be running then; the workers must cope).
func (s *server) restart(t *testing.T) {
	t.Helper()
	s.d.start(t)
	waitListening(t, s.kind, s.port)
}

// freeze stops every process of the server (SIGSTOP): connections stay open, nothing answers.
func (s *server) freeze() { s.d.signal(syscall.SIGSTOP) }

// thaw resumes a frozen server.
func (s *server) thaw() { s.d.signal(syscall.SIGCONT) }

// daemon is one server process of the test's own, in its own process group, so a signal reaches
// every process of the server (PostgreSQL forks one per connection).
type daemon struct {
	argv   []string
	dir    string
	cred   *syscall.Credential // nil: run as the test's user
	cmd    *exec.Cmd
	exited chan struct{}
}

func (d *daemon) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(d.dir, "server.log"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(d.argv[0], d.argv[1:]...)
	cmd.Dir = d.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: d.cred}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", d.argv[0], err)
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { cmd.Wait(); close(exited) }(d.exited)
}

// signal sends sig to the server's process group and to every descendant of the server process.
// The group is not enough: PostgreSQL's backends each call setsid(), so they are in groups of
// their own. The leader is signalled first, so a stopped server forks no new process meanwhile.
func (d *daemon) signal(sig syscall.Signal) {
	if d.cmd == nil {
		return
	}
	leader := d.cmd.Process.Pid
	syscall.Kill(-leader, sig)
	for _, pid := range descendants(leader) {
		syscall.Kill(pid, sig)
	}
}

// descendants lists the processes below pid, read from /proc.
func descendants(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	children := map[int][]int{}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// The fields after the command's closing parenthesis: state, ppid, ...
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 {
			continue
		}
		parent, _ := strconv.Atoi(fields[1])
		children[parent] = append(children[parent], child)
	}
	var out []int
	for queue := children[pid]; len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, children[queue[0]]...)
	}
	return out
}

// kill sends SIGKILL to the group and waits until its leader is gone.
func (d *daemon) kill(t *testing.T) {
	t.Helper()
	d.signal(syscall.SIGKILL)
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s did not die of SIGKILL", d.argv[0])
	}
}

// newDaemon registers the cleanup that kills whatever the daemon runs when the test ends.
func newDaemon(t *testing.T, dir string, cred *syscall.Credential, argv ...string) *daemon {
	d := &daemon{argv: argv, dir: dir, cred: cred}
	t.Cleanup(func() {
		d.signal(syscall.SIGCONT)
		d.signal(syscall.SIGKILL)
		if d.exited != nil {
			<-d.exited
		}
	})
	return d
}

// requireBinary returns the path of a server binary (the first of names found), or skips the
// test, unless QCTL_REQUIRE_SERVICES=1, where it fails it.
func requireBinary(t *testing.T, install string, names ...string) string {
	t.Helper()
	for _, name := range names {
		if matches, _ := filepath.Glob(name); len(matches) > 0 {
			sort.Strings(matches)
			return matches[len(matches)-1]
		}
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	msg := fmt.Sprintf("%s is not installed (apt-get install -y %s)", names[0], install)
	if os.Getenv("QCTL_REQUIRE_SERVICES") == "1" {
		t.Fatal(msg + " [QCTL_REQUIRE_SERVICES=1]")
	}
	t.Skip(msg)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func waitListening(t *testing.T, what string, port int) {
	t.Helper()
	waitFor(t, 60*time.Second, what+" to listen on port "+strconv.Itoa(port), func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// openWhenReady opens the test's own connection, retrying while the server is still starting.
func openWhenReady(t *testing.T, s *server) connectors.Queue {
	t.Helper()
	var (
		q   connectors.Queue
		err error
	)
	waitFor(t, 60*time.Second, s.kind+" to answer", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		q, err = s.open(ctx)
		return err == nil
	})
	t.Cleanup(func() { q.Close() })
	return q
}

// privateDir is a fresh directory the server's user owns, removed when the test ends. It is not
// under t.TempDir, whose parents only the test's user may enter.
func privateDir(t *testing.T, kind string, cred *syscall.Credential) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "qctl-faults-"+kind+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func newRedis(t *testing.T) *server {
	bin := requireBinary(t, "redis-server", "redis-server")
	s := &server{kind: "redis", port: freePort(t)}
	dir := privateDir(t, s.kind, nil)
	s.d = newDaemon(t, dir, nil, bin, "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--dir", dir, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "")
	s.connection = fmt.Sprintf("driver = \"redis\"\naddr = %q\nblock_for = 1\n", s.addr())
	s.open = func(ctx context.Context) (connectors.Queue, error) {
		return redisqueue.Open(ctx, redisqueue.Options{Addr: s.addr(), RetryAfter: lease})
	}
	s.restart(t)
	return s
}

func newBeanstalkd(t *testing.T) *server {
	bin := requireBinary(t, "beanstalkd", "beanstalkd")
	s := &server{kind: "beanstalkd", port: freePort(t)}
	dir := privateDir(t, s.kind, nil)
	s.d = newDaemon(t, dir, nil, bin, "-l", "127.0.0.1", "-p", strconv.Itoa(s.port), "-b", dir)
	s.connection = fmt.Sprintf("driver = \"beanstalkd\"\naddr = %q\nblock_for = 1\n", s.addr())
	s.open = func(ctx context.Context) (connectors.Queue, error) {
		return beanstalkqueue.Open(ctx, beanstalkqueue.Options{Addr: s.addr(), RetryAfter: lease})
	}
	s.restart(t)
	return s
}

// serverUser is who runs a server that refuses root (PostgreSQL): the named system user when the
// test runs as root, else the test's own user (nil).
func serverUser(t *testing.T, name string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Skipf("running as root and there is no %q user to run the server as: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func newPostgres(t *testing.T) *server {
	initdb := requireBinary(t, "postgresql", "/usr/lib/postgresql/*/bin/initdb", "initdb")
	postgres := filepath.Join(filepath.Dir(initdb), "postgres")
	cred := serverUser(t, "postgres")
	s := &server{kind: "postgres", port: freePort(t)}
	dir := privateDir(t, s.kind, cred)
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.d = newDaemon(t, dir, cred, postgres, "-D", data, "-p", strconv.Itoa(s.port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "shared_buffers=16MB")
	dsn := fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", s.port)
	s.connection = fmt.Sprintf("driver = \"database\"\ndialect = \"postgres\"\ndsn = %q\n", dsn)
	s.open = func(ctx context.Context) (connectors.Queue, error) {
		return dbqueue.Open(ctx, dbqueue.Options{Dialect: "postgres", DSN: dsn, RetryAfter: lease, AutoMigrate: true})
	}
	s.restart(t)
	return s
}

func newMariaDB(t *testing.T) *server {
	install := requireBinary(t, "mariadb-server", "mariadb-install-db", "mysql_install_db")
	mariadbd := requireBinary(t, "mariadb-server", "mariadbd", "/usr/sbin/mariadbd")
	s := &server{kind: "mariadb", port: freePort(t)}
	dir := privateDir(t, s.kind, nil)
	data := filepath.Join(dir, "data")
	who := []string{}
	if os.Geteuid() == 0 {
		who = []string{"--user=root"}
	}
	cmd := exec.Command(install, append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db"}, who...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	s.d = newDaemon(t, dir, nil, append([]string{mariadbd, "--no-defaults", "--datadir=" + data,
		"--socket=" + filepath.Join(dir, "sock"), "--port=" + strconv.Itoa(s.port), "--bind-address=127.0.0.1",
		"--skip-log-bin", "--innodb-buffer-pool-size=32M", "--pid-file=" + filepath.Join(dir, "pid")}, who...)...)
	s.restart(t)
	waitFor(t, 60*time.Second, "MariaDB to create the database", func() bool {
		db, err := sql.Open("mysql", fmt.Sprintf("root@tcp(%s)/", s.addr()))
		if err != nil {
			return false
		}
		defer db.Close()
		_, err = db.Exec("CREATE DATABASE IF NOT EXISTS faults")
		return err == nil
	})
	dsn := fmt.Sprintf("root@tcp(%s)/faults?parseTime=true", s.addr())
	s.connection = fmt.Sprintf("driver = \"database\"\ndialect = \"mysql\"\ndsn = %q\n", dsn)
	s.open = func(ctx context.Context) (connectors.Queue, error) {
		return dbqueue.Open(ctx, dbqueue.Options{Dialect: "mysql", DSN: dsn, RetryAfter: lease, AutoMigrate: true})
	}
	return s
}
