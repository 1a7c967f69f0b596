// Package deploy_test checks the shipped supervisor and systemd configs: systemd-analyze verifies
// the unit, and the supervisor program runs real qctl workers under a real supervisord, which must
// stop them gracefully (a running job finishes, exit status 0).
package deploy_test

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
)

// requireTool skips when a tool is missing, unless QCTL_REQUIRE_SERVICES=1 (CI), where it fails.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	msg := name + " is not installed; install it with: " + install
	connectortest.Missing(t, msg)
	return ""
}

func buildQctl(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "qctl")
	if out, err := exec.Command("go", "build", "-o", bin, "..").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func TestSystemdUnitVerifies(t *testing.T) {
	verifyUnit(t, "qctl-worker@.service", "qctl-worker@1.service")
}

// verifyUnit runs systemd-analyze verify on the shipped unit file, installed under name.
func verifyUnit(t *testing.T, file, name string) {
	requireTool(t, "systemd-analyze", "apt-get install -y systemd")
	unit, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// verify insists that ExecStart's binary exists; everything else is checked as shipped.
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/qctl", buildQctl(t))
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	// verify exits 0 on many problems and only prints them, so any output is a failure.
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestSupervisorStopsWorkersGracefully(t *testing.T) {
	supervisord := requireTool(t, "supervisord", "apt-get install -y supervisor")
	supervisorctl := requireTool(t, "supervisorctl", "apt-get install -y supervisor")
	bin := buildQctl(t)
	dir := t.TempDir()
	queueToml := writeFile(t, dir, "queue.toml", `
[connections.database]
driver = "database"
dialect = "sqlite"
dsn = "`+filepath.Join(dir, "qctl.db")+`"

[handlers."Slow"]
command = ["sh", "-c", "echo x >> `+dir+`/started; sleep 2; echo x >> `+dir+`/done"]
`)
	if out, err := exec.Command(bin, "--config", queueToml, "push", "Slow").CombinedOutput(); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	ctl := supervise(t, "supervisor-qctl.conf", supervisord, supervisorctl, bin, dir, queueToml)
	waitFor(t, 30*time.Second, "4 RUNNING workers", func() bool { return strings.Count(ctl("status"), "RUNNING") == 4 })
	waitFor(t, 30*time.Second, "a worker to start the job", func() bool { return fileExists(filepath.Join(dir, "started")) })

	ctl("stop", "all") // returns once every worker has exited
	if !fileExists(filepath.Join(dir, "done")) {
		t.Fatal("stopping the workers interrupted the running job")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "supervisord.log"))
	if n := strings.Count(string(log), "(exit status 0"); n != 4 {
		t.Fatalf("%d of 4 workers stopped with exit status 0:\n%s", n, log)
	}
}

// supervise runs the shipped supervisor program file (its paths pointed into dir) under a private
// supervisord, stopped when the test ends, and returns a supervisorctl for it.
func supervise(t *testing.T, file, supervisord, supervisorctl, bin, dir, queueToml string) (ctl func(args ...string) string) {
	t.Helper()
	program, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	prog := string(program)
	prog = strings.ReplaceAll(prog, "/usr/local/bin/qctl", bin)
	prog = strings.ReplaceAll(prog, "/etc/qctl/queue.toml", queueToml)
	prog = strings.ReplaceAll(prog, "/srv/app", dir)
	prog = strings.ReplaceAll(prog, "/var/log/qctl", dir)
	prog = strings.ReplaceAll(prog, "user=www-data\n", "")
	sock := filepath.Join(dir, "supervisor.sock")
	conf := writeFile(t, dir, "supervisord.conf", `
[unix_http_server]
file=`+sock+`

[supervisord]
nodaemon=true
logfile=`+dir+`/supervisord.log
pidfile=`+dir+`/supervisord.pid
childlogdir=`+dir+`

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://`+sock+`
`+prog)

	sup := exec.Command(supervisord, "-c", conf)
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command(supervisorctl, "-c", conf, "shutdown").Run()
		done := make(chan struct{})
		go func() { sup.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			sup.Process.Kill()
		}
	})
	return func(args ...string) string {
		out, _ := exec.Command(supervisorctl, append([]string{"-c", conf}, args...)...).CombinedOutput()
		return string(out)
	}
}

// writeFile writes text to dir/name and returns its path.
func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A worker started while its backend is down waits for it rather than exiting at once, so
// supervisor counts it as started (RUNNING after startsecs) instead of retrying it into FATAL.
func TestSupervisorKeepsWorkersWaitingForADownBackend(t *testing.T) {
	supervisord := requireTool(t, "supervisord", "apt-get install -y supervisor")
	supervisorctl := requireTool(t, "supervisorctl", "apt-get install -y supervisor")
	bin := buildQctl(t)
	dir := t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := l.Addr().String() // nothing listens here once l is closed
	l.Close()
	queueToml := writeFile(t, dir, "queue.toml", `
default = "redis"

[connections.redis]
driver = "redis"
addr = "`+down+`"
`)
	ctl := supervise(t, "supervisor-qctl.conf", supervisord, supervisorctl, bin, dir, queueToml)
	waitFor(t, 30*time.Second, "4 RUNNING workers while their Redis is down", func() bool {
		status := ctl("status")
		if strings.Contains(status, "FATAL") {
			t.Fatalf("a worker went FATAL during the outage:\n%s", status)
		}
		return strings.Count(status, "RUNNING") == 4
	})
	ctl("stop", "all")
	log, _ := os.ReadFile(filepath.Join(dir, "supervisord.log"))
	if n := strings.Count(string(log), "(exit status 0"); n != 4 {
		t.Fatalf("%d of 4 waiting workers stopped with exit status 0:\n%s", n, log)
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

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
