package deploy_test

import (
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
	verifyUnit(t, "qctl-supervise.service", "qctl-supervise.service")
}

// Under a real supervisord, the shipped program runs a master whose workers take jobs; stopping
// it lets the running job finish, and no worker is left behind.
func TestSupervisorRunsSuperviseAndStopsItGracefully(t *testing.T) {
	supervisord := requireTool(t, "supervisord", "apt-get install -y supervisor")
	supervisorctl := requireTool(t, "supervisorctl", "apt-get install -y supervisor")
	bin := buildQctl(t)
	dir := t.TempDir()
	queueToml := writeFile(t, dir, "queue.toml", `
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
	if out, err := exec.Command(bin, "--config", queueToml, "push", "Slow").CombinedOutput(); err != nil {
		t.Fatalf("push: %v\n%s", err, out)
	}
	ctl := supervise(t, "supervisor-qctl-supervise.conf", supervisord, supervisorctl, bin, dir, queueToml)
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
