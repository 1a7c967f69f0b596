package commands_test

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"

	"github.com/qctl/qctl/commands"
)

func TestDashboardRefusesAnExposedAddressWithoutAuth(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	expect(t, e.qctl("dashboard", "--listen", "0.0.0.0:0"), commands.ExitUsage, "refusing to serve the dashboard beyond loopback", "--auth")
	expect(t, e.qctl("dashboard", "--listen", ":0"), commands.ExitUsage, "refusing")
	expect(t, e.qctl("dashboard", "--auth", "nopassword"), commands.ExitUsage, "--auth wants user:password")
}

func TestDashboardServesUntilTerminated(t *testing.T) {
	e := newEnv(t, sqliteConfig)
	cmd := e.command("dashboard", "--listen", "127.0.0.1:0")
	cmd.Env = append(cmd.Env, "QCTL_DASHBOARD_AUTH=ops:s3cret")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v; stderr: %s", err, stderr.String())
	}
	_, url, ok := strings.Cut(strings.TrimSpace(line), " on ")
	if !ok {
		t.Fatalf("first line %q does not say where the dashboard is", line)
	}
	req, _ := http.NewRequest("GET", url+"queues", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without credentials (from QCTL_DASHBOARD_AUTH): %v, %v; want 401", resp, err)
	}
	req.SetBasicAuth("ops", "s3cret")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "Queues") {
		t.Fatalf("GET /queues: %d\n%s", resp.StatusCode, body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("after TERM: %v; stderr: %s", err, stderr.String())
	}
}
