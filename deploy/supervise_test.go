package deploy_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestSuperviseUnitVerifies(t *testing.T) {
	requireTool(t, "systemd-analyze", "apt-get install -y systemd")
	unit, err := os.ReadFile("qctl-supervise.service")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/qctl", buildQctl(t))
	path := filepath.Join(t.TempDir(), "qctl-supervise.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("systemd-analyze", "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// Under a real supervisord, the shipped program runs a master whose workers take jobs; stopping
// it lets the running job finish, and no worker is left behind.
func TestSupervisorRunsSuperviseAndStopsItGracefully(t *testing.T) {
	supervisord := requireTool(t, "supervisord", "apt-get install -y supervisor")
	supervisorctl := requireTool(t, "supervisorctl", "apt-get install -y supervisor")
	bin := buildQctl(t)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	queueToml := write("queue.toml", `
[connections.database]
driver = "database"
dialect = "sqlite"
dsn = "`+filepath.Join(dir, "qctl.db")+`"

[supervisors.main]
balance = "simple"
max_processes = 2
sleep = 1

[handlers."Slow"]
command = ["sh", "-c", "echo x >> `+dir+`/started; sleep 2; echo x >> `+dir+`/done"]
`)
	program, err := os.ReadFile("supervisor-qctl-supervise.conf")
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
	conf := write("supervisord.conf", `
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
	if out, err := exec.Command(bin, "--config", queueToml, "push", "Slow").CombinedOutput(); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
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
	ctl := func(args ...string) string {
		out, _ := exec.Command(supervisorctl, append([]string{"-c", conf}, args...)...).CombinedOutput()
		return string(out)
	}
	waitFor(t, 30*time.Second, "a worker to start the job", func() bool { return fileExists(filepath.Join(dir, "started")) })
	logText := func() string { b, _ := os.ReadFile(filepath.Join(dir, "supervise.log")); return string(b) }
	pids := startedPIDs(logText())
	if len(pids) != 2 {
		t.Fatalf("the master started %d workers, want 2:\n%s", len(pids), logText())
	}
	ctl("stop", "qctl-supervise") // returns once the master has exited
	if !fileExists(filepath.Join(dir, "done")) {
		t.Fatal("stopping the master interrupted the running job")
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "supervisord.log")); !strings.Contains(string(log), "(exit status 0") {
		t.Fatalf("the master did not exit 0:\n%s", log)
	}
	for _, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("worker %d outlived its master", pid)
		}
	}
}

// startedPIDs reads the pids of the workers a master's log says it started.
func startedPIDs(log string) []int {
	var pids []int
	for _, line := range strings.Split(log, "\n") {
		var pid int
		if i := strings.Index(line, "Started worker "); i >= 0 {
			if _, err := fmt.Sscan(line[i+len("Started worker "):], &pid); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}
