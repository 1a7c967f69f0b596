package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/qctl/qctl/commands"
	"github.com/qctl/qctl/jobs"
)

// TestMain lets the test binary stand in for a Go program that embeds qctl: run with
// QCTL_TEST_AS_QCTL=1 it is qctl with the Go handlers below registered (and the exec handlers of
// its queue.toml). Everything else runs the real qctl binary that qctlBinary builds.
func TestMain(m *testing.M) {
	if os.Getenv("QCTL_TEST_AS_QCTL") == "1" {
		signals := make(chan os.Signal, 8)
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)
		os.Exit(commands.Run(os.Args, commands.Program{Handlers: goHandlers(), Signals: signals}))
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// goRecord is one line a Go handler appends to $INTEROP_GO_RECORD.
type goRecord struct {
	Handler  string          `json:"handler"`
	Job      string          `json:"job"`
	UUID     string          `json:"uuid"`
	Queue    string          `json:"queue"`
	Attempts int             `json:"attempts"`
	Data     json.RawMessage `json:"data"`
}

// report is the data of the Reports@build jobs the Laravel side pushes, as a Go handler declares it.
type report struct {
	Title  string             `json:"title"`
	Year   int                `json:"year"`
	Tags   []string           `json:"tags"`
	Totals map[string]float64 `json:"totals"`
	Owner  struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	} `json:"owner"`
}

// invoice is the object job Interop\SendInvoice as a Go handler declares it: the constructor
// arguments Laravel serialized, by property name.
type invoice struct {
	InvoiceID int              `json:"invoiceId"`
	Email     string           `json:"email"`
	Lines     []map[string]any `json:"lines"`
	Discount  *float64         `json:"discount"`
}

// goHandlers are the handlers of the embedding program: each binds the job's data into its own
// struct and records what it got. $INTEROP_GO_HANDLERS (comma-separated) says which are
// registered, since a Go handler takes precedence over an exec handler of the same name.
func goHandlers() *jobs.Registry {
	all := map[string]jobs.Handler{
		"Reports":             bindAndRecord("go:Reports", func() any { return new(report) }),
		`Interop\SendInvoice`: bindAndRecord("go:SendInvoice", func() any { return new(invoice) }),
		`Interop\BatchStep`:   refuseWhenAsked(bindAndRecord("go:BatchStep", func() any { return new(batchStep) })),
	}
	reg := jobs.NewRegistry()
	for _, name := range strings.Split(os.Getenv("INTEROP_GO_HANDLERS"), ",") {
		if h, ok := all[name]; ok {
			reg.Register(name, h)
		}
	}
	return reg
}

// batchStep is the object job Interop\BatchStep as a Go handler declares it.
type batchStep struct {
	N    int  `json:"n"`
	Fail bool `json:"fail"`
}

// refuseWhenAsked runs h, then fails a job whose command says fail = true, as BatchStep's PHP
// handler does.
func refuseWhenAsked(h jobs.Handler) jobs.Handler {
	return func(ctx context.Context, j *jobs.Job) error {
		if err := h(ctx, j); err != nil {
			return err
		}
		var s batchStep
		if err := j.Bind(&s); err != nil {
			return err
		}
		if s.Fail {
			return fmt.Errorf("batch step %d refused", s.N)
		}
		return nil
	}
}

func bindAndRecord(name string, newValue func() any) jobs.Handler {
	return func(_ context.Context, j *jobs.Job) error {
		v := newValue()
		if err := j.Bind(v); err != nil {
			return jobs.Fail(err)
		}
		data, err := json.Marshal(v)
		if err != nil {
			return err
		}
		line, err := json.Marshal(goRecord{Handler: name, Job: j.Payload.Job, UUID: j.Payload.UUID, Queue: j.Queue, Attempts: j.Attempts(), Data: data})
		if err != nil {
			return err
		}
		f, err := os.OpenFile(os.Getenv("INTEROP_GO_RECORD"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = f.Write(append(line, '\n'))
		return err
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildPath string
	buildErr  error
)

// qctlBinary builds the real qctl (the module's main package) once per test run.
func qctlBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "qctl-interop-bin-")
		if buildErr != nil {
			return
		}
		buildPath = filepath.Join(buildDir, "qctl")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/qctl/qctl")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build github.com/qctl/qctl: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// result is a finished process.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// proc is a process started in the background.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan struct{}
	res            result
}

// lockedBuffer is a bytes.Buffer a process writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs cmd in the background; the test's cleanup kills it if it is still running.
func start(t testing.TB, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{cmd: cmd, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() {
		err := cmd.Wait()
		p.res = result{stdout: p.stdout.String(), stderr: p.stderr.String()}
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			p.res.code = exit.ExitCode()
		case err != nil:
			p.res.code, p.res.stderr = -1, p.res.stderr+"\n"+err.Error()
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait waits up to d for the process to exit and returns what it did; past d it kills the process
// and fails the test.
func (p *proc) wait(t testing.TB, d time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
		return p.res
	case <-time.After(d):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%v did not exit within %v\n%s", p.cmd.Args, d, p.res)
		return result{}
	}
}

// run runs cmd to completion, at most a minute.
func run(t testing.TB, cmd *exec.Cmd) result {
	t.Helper()
	return start(t, cmd).wait(t, time.Minute)
}

// waitFor polls cond every 20 ms until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// env is one test's sandbox: a folder with its queue.toml, the backend both sides share, and
// the files handlers record into.
type env struct {
	t        testing.TB
	dir      string
	b        *backend
	config   string
	record   string // exec handlers' lines (record.sh)
	goRecord string // Go handlers' lines
	phpRec   string // PHP handlers' lines (jobs.php)
}

// newEnv sets up backend kind for one test and writes a queue.toml with its connection, its
// failed store and the given handler sections.
func newEnv(t *testing.T, kind string, handlers string) *env {
	t.Helper()
	requirePHP(t)
	dir := t.TempDir()
	e := &env{t: t, dir: dir, record: filepath.Join(dir, "record.tsv"),
		goRecord: filepath.Join(dir, "go-record.jsonl"), phpRec: filepath.Join(dir, "php-record.jsonl")}
	e.b = newBackend(t, kind, dir)
	e.config = filepath.Join(dir, "queue.toml")
	toml := "default = \"" + e.b.conn + "\"\n\n" + e.b.toml + "\n" + handlers
	if err := os.WriteFile(e.config, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	// The tables are made as a Laravel app makes them: by its queue:table and queue:failed-table
	// migrations. qctl adopts them; on PostgreSQL `qctl migrate` adds only its qctl_signals and the jobs state index.
	e.php("", "migrate.php")
	if kind == kindMySQL {
		e.qctlOK("migrate") // qctl_signals, shared by the tests on this database
	}
	if kind == kindPostgres {
		r := e.qctlOK("migrate")
		for _, want := range []string{`found existing table "` + e.b.jobsTable + `"`, `created table "qctl_signals"`} {
			if !strings.Contains(r.stdout+r.stderr, want) {
				t.Fatalf("qctl migrate over Laravel's tables did not say %q:\n%s", want, r)
			}
		}
	}
	return e
}

// execHandler returns a [handlers."name"] section that runs record.sh, with extra env entries
// such as `INTEROP_REFUSE_UNLESS = "..."`.
func (e *env) execHandler(name string, extraEnv ...string) string {
	script, err := filepath.Abs("testdata/record.sh")
	if err != nil {
		e.t.Fatal(err)
	}
	envs := []string{fmt.Sprintf("INTEROP_HANDLER = %q", "exec:"+name), fmt.Sprintf("INTEROP_RECORD = %q", e.record)}
	envs = append(envs, extraEnv...)
	return fmt.Sprintf("[handlers.%q]\ncommand = [\"sh\", %q]\nenv = { %s }\n\n", name, script, strings.Join(envs, ", "))
}

// addHandlers appends handler sections to the env's queue.toml.
func (e *env) addHandlers(sections ...string) {
	e.t.Helper()
	f, err := os.OpenFile(e.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("\n" + strings.Join(sections, "")); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) qctlCmd(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = e.dir
	// GORACE: under -race the embedded program would sleep a second at exit.
	cmd.Env = append(os.Environ(), "QCTL_CONFIG="+e.config, "INTEROP_GO_RECORD="+e.goRecord, "GORACE=atexit_sleep_ms=0")
	return cmd
}

// qctl runs the real qctl binary to completion.
func (e *env) qctl(args ...string) result {
	e.t.Helper()
	return run(e.t, e.qctlCmd(qctlBinary(e.t), args...))
}

// qctlOK runs the real qctl binary and fails the test unless it exits 0.
func (e *env) qctlOK(args ...string) result {
	e.t.Helper()
	r := e.qctl(args...)
	if r.code != 0 {
		e.t.Fatalf("qctl %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// startQctl starts the real qctl binary in the background.
func (e *env) startQctl(args ...string) *proc {
	e.t.Helper()
	return start(e.t, e.qctlCmd(qctlBinary(e.t), args...))
}

// embedded runs the test binary as a Go program embedding qctl, with the named goHandlers.
func (e *env) embedded(goHandlers []string, args ...string) result {
	e.t.Helper()
	cmd := e.qctlCmd(os.Args[0], args...)
	cmd.Env = append(cmd.Env, "QCTL_TEST_AS_QCTL=1", "INTEROP_GO_HANDLERS="+strings.Join(goHandlers, ","))
	return run(e.t, cmd)
}

// execRecord is one line of record.sh.
type execRecord struct {
	Handler, Job, Queue, UUID string
	Attempts                  string
	At                        int64
	Payload                   map[string]any
	RawPayload                string
}

// execRecords returns what the exec handlers recorded, in order.
func (e *env) execRecords() []execRecord {
	e.t.Helper()
	var out []execRecord
	for _, line := range readLines(e.t, e.record) {
		f := strings.SplitN(line, "\t", 7)
		if len(f) != 7 {
			e.t.Fatalf("record.sh line has %d fields: %q", len(f), line)
		}
		r := execRecord{Handler: f[0], Job: f[1], Queue: f[2], Attempts: f[3], UUID: f[4], RawPayload: f[6]}
		fmt.Sscan(f[5], &r.At)
		if err := decodeJSON([]byte(f[6]), &r.Payload); err != nil {
			e.t.Fatalf("exec handler got a payload that is not JSON: %v\n%s", err, f[6])
		}
		out = append(out, r)
	}
	return out
}

// goRecords returns what the Go handlers recorded, in order.
func (e *env) goRecords() []goRecord {
	e.t.Helper()
	var out []goRecord
	for _, line := range readLines(e.t, e.goRecord) {
		var r goRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			e.t.Fatalf("go record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// phpRecord is one line the PHP handlers in jobs.php append.
type phpRecord struct {
	Job, Display, UUID, Queue, ID string
	Attempts                      int
	At                            int64
	MaxTries                      *int `json:"maxTries"`
	Failed                        bool
	Data                          json.RawMessage
}

// phpRecords returns what the PHP handlers recorded, in order.
func (e *env) phpRecords() []phpRecord {
	e.t.Helper()
	var out []phpRecord
	for _, line := range readLines(e.t, e.phpRec) {
		var r phpRecord
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			e.t.Fatalf("php record %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func readLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func countLines(t testing.TB, path string) int { return len(readLines(t, path)) }

// decodeJSON decodes with json.Number, so numbers compare by their digits, not as float64.
func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}

// sameJSON reports whether a and b hold the same JSON value (key order, escaping and number
// spelling such as 1.0e+20 aside).
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := decodeJSON(a, &va); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, a)
	}
	if err := decodeJSON(b, &vb); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return bytes.Equal(ja, jb)
}
