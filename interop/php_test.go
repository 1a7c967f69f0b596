package interop

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/qctl/qctl/connectors/connectortest"
)

// phpPackages are the Debian packages of the PHP side: the CLI with its Redis and PDO drivers, and
// Laravel 8.83's queue components with what they need to run without a full application.
const phpPackages = "php-cli php-redis php-sqlite3 php-pgsql php-mysql php-illuminate-queue " +
	"php-illuminate-redis php-illuminate-database php-illuminate-events php-illuminate-cache " +
	"php-illuminate-bus php-illuminate-console php-illuminate-encryption"

var (
	phpOnce    sync.Once
	phpMissing string
)

// requirePHP skips t when PHP or one of Laravel's components is not installed, with the command
// that installs them, unless QCTL_REQUIRE_SERVICES=1, where it fails t.
func requirePHP(t testing.TB) {
	t.Helper()
	phpOnce.Do(func() {
		if _, err := exec.LookPath("php"); err != nil {
			phpMissing = "php is not installed"
			return
		}
		probe := `foreach (['Queue','Redis','Database','Events','Cache','Bus','Console','Encryption'] as $c) {
			if (!stream_resolve_include_path("Illuminate/$c/autoload.php")) { echo "Illuminate/$c "; } }
			foreach (['redis','pdo_sqlite','pdo_pgsql'] as $x) { if (!extension_loaded($x)) { echo "ext-$x "; } }`
		out, err := exec.Command("php", "-r", probe).CombinedOutput()
		switch {
		case err != nil:
			phpMissing = "php does not run: " + err.Error() + ": " + string(out)
		case strings.TrimSpace(string(out)) != "":
			phpMissing = "missing PHP pieces: " + strings.TrimSpace(string(out))
		}
	})
	if phpMissing == "" {
		return
	}
	msg := phpMissing + "; install them with: apt-get install -y " + phpPackages
	connectortest.Missing(t, msg)
}

// phpCmd returns a command running testdata/php/<script> with the env's backend settings.
func (e *env) phpCmd(script string, args ...string) *exec.Cmd {
	path, err := filepath.Abs(filepath.Join("testdata", "php", script))
	if err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command("php", append([]string{path}, args...)...)
	cmd.Dir = e.dir
	cmd.Env = append(os.Environ(), e.b.phpEnv...)
	cmd.Env = append(cmd.Env, "QCTL_PHP_RECORD="+e.phpRec)
	return cmd
}

// php runs a PHP script to completion and fails the test unless it exits 0.
func (e *env) php(stdin string, script string, args ...string) result {
	e.t.Helper()
	cmd := e.phpCmd(script, args...)
	cmd.Stdin = strings.NewReader(stdin)
	r := run(e.t, cmd)
	if r.code != 0 {
		e.t.Fatalf("php %s %s: %s", script, strings.Join(args, " "), r)
	}
	return r
}

// artisan runs one of Laravel's queue commands (artisan.php) to completion.
func (e *env) artisan(args ...string) result {
	e.t.Helper()
	return run(e.t, e.phpCmd("artisan.php", args...))
}

// startArtisan starts one of Laravel's queue commands in the background.
func (e *env) startArtisan(args ...string) *proc {
	e.t.Helper()
	return start(e.t, e.phpCmd("artisan.php", args...))
}

// pushed is what push.php reports for one job.
type pushed struct {
	ID   string `json:"id"`
	UUID string `json:"uuid"`
}

// laravelPush pushes jobs with Laravel's queue (push.php operations) and returns their ids and uuids.
func (e *env) laravelPush(ops ...map[string]any) []pushed {
	e.t.Helper()
	in, err := json.Marshal(ops)
	if err != nil {
		e.t.Fatal(err)
	}
	r := e.php(string(in), "push.php")
	var out []pushed
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var p pushed
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			e.t.Fatalf("push.php printed %q: %v\n%s", line, err, r)
		}
		out = append(out, p)
	}
	if len(out) != len(ops) {
		e.t.Fatalf("push.php pushed %d jobs, want %d\n%s", len(out), len(ops), r)
	}
	return out
}

// failedJob is a record of Laravel's failed-job provider, as failed.php prints it.
type failedJob struct {
	ID         string `json:"id"`
	Connection string `json:"connection"`
	Queue      string `json:"queue"`
	Payload    string `json:"payload"`
	Exception  string `json:"exception"`
	FailedAt   string `json:"failed_at"`
}

// laravelFailed returns DatabaseUuidFailedJobProvider::all(), or ::find(id) when ids are given.
func (e *env) laravelFailed(ids ...string) []failedJob {
	e.t.Helper()
	r := e.php("", "failed.php", ids...)
	var out []failedJob
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		e.t.Fatalf("failed.php printed: %v\n%s", err, r)
	}
	return out
}
