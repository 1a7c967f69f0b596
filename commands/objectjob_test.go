package commands_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qctl/qctl/connectors/dbqueue"
)

// objectJobConfig routes Laravel's SendEmail object job and a closure-holding one to exec
// handlers that keep what they read with stdin = "data".
const objectJobConfig = `
default = "database"

[connections.database]
driver = "database"
dialect = "sqlite"
dsn = "qctl.db"

[handlers.'App\Jobs\SendEmail']
command = ["sh", "-c", "cat > \"$QCTL_TEST_RECORD.stdin\""]
stdin = "data"

# SendEmail's chain: Laravel's dispatchNextJobInChain, done by qctl after SendEmail succeeds.
[handlers.'App\Jobs\AfterEmail']
command = ["sh", "-c", "echo chained >> \"$QCTL_TEST_RECORD.chain\""]

[handlers.WithClosure]
command = ["sh", "-c", "echo ran >> \"$QCTL_TEST_RECORD\""]
stdin = "data"
`

// TestExecStdinDataGetsObjectJobProperties pushes payloads Laravel made (jobs/testdata/laravel) and
// runs the real worker: the exec handler reads the command's properties as JSON, the job chained
// after SendEmail is dispatched and run, and the job whose command holds a closure is failed
// without running, naming its class.
func TestExecStdinDataGetsObjectJobProperties(t *testing.T) {
	t.Parallel()
	e := newEnv(t, objectJobConfig)
	q, err := dbqueue.Open(context.Background(), dbqueue.Options{Dialect: "sqlite", DSN: filepath.Join(e.dir, "qctl.db"), AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"send_email", "closure"} {
		payload, err := os.ReadFile(filepath.Join("..", "jobs", "testdata", "laravel", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Push(context.Background(), "default", payload, 0); err != nil {
			t.Fatal(err)
		}
	}
	q.Close()

	e.ok("work", "--stop-when-empty", "--tries=3")
	stdin, err := os.ReadFile(e.record + ".stdin")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"@class":"App\\Jobs\\SendEmail",`, `"class":"App\\Models\\User","id":42,`, `"subject":"Welcome, Ada"`, `"tags":["welcome","onboarding"]`} {
		if !strings.Contains(string(stdin), want) {
			t.Errorf("the handler read %s\nwant it to contain %s", stdin, want)
		}
	}
	if got := e.records(); len(got) != 0 {
		t.Errorf("the closure job's command ran: %q", got)
	}
	if chained, err := os.ReadFile(e.record + ".chain"); err != nil || string(chained) != "chained\n" {
		t.Errorf("the job chained after SendEmail ran %q (%v), want once", chained, err)
	}
	var rec struct{ Job, Exception string }
	if err := json.Unmarshal([]byte(e.ok("failed", "--json").stdout), &rec); err != nil {
		t.Fatal(err)
	}
	want := `cannot decode the command of WithClosure: callback: Opis\Closure\SerializableClosure was written by the class's own serializer (C:)`
	if rec.Job != "WithClosure" || !strings.HasPrefix(rec.Exception, want) {
		t.Errorf("failed job %q: %q\nwant the exception to start %q", rec.Job, rec.Exception, want)
	}
}
