package dashboard_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/dashboard"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/manager"
)

// Secrets that the config of every test holds and no page may show.
const (
	secretPassword = "pw-Xy9-never-shown"
	secretEnv      = "env-value-never-shown"
)

// bundle is one dashboard under test and what it sits on.
type bundle struct {
	t      testing.TB
	m      *manager.Manager
	d      *dashboard.Handler
	srv    *httptest.Server
	client *http.Client
	log    *syncBuffer
	dsn    string // the SQLite file, as the config names it
	store  *failed.Store
}

type setupOptions struct {
	dashboard.Options
	extra string // more config
}

// setup serves a dashboard over a config whose default connection is a fresh SQLite file, with
// a failed store in the same file.
func setup(t testing.TB, so setupOptions) *bundle {
	t.Helper()
	dsn := filepath.Join(t.TempDir(), "q.db")
	toml := fmt.Sprintf(`default = "database"
[connections.database]
driver = "database"
dialect = "sqlite"
dsn = %q
retry_after = 60

[connections.sync]
driver = "sync"

[failed]
dialect = "sqlite"
dsn = %q

[handlers."Noop"]
command = ["true"]
env = { API_TOKEN = %q }
%s`, dsn, dsn, secretEnv, so.extra)
	b := serve(t, toml, so)
	b.dsn = dsn
	return b
}

// serve serves a dashboard over the config toml.
func serve(t testing.TB, toml string, so setupOptions) *bundle {
	t.Helper()
	cfg, err := config.Load([]byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	b := &bundle{t: t, m: manager.New(cfg, manager.Options{Output: io.Discard}), log: &syncBuffer{}}
	so.Options.Log = b.log
	if so.Options.Refresh == 0 {
		so.Options.Refresh = -1 // pages stay still unless a test asks for live refresh
	}
	b.d = dashboard.New(b.m, so.Options)
	b.srv = httptest.NewServer(b.d)
	jar, _ := cookiejar.New(nil)
	b.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if b.store, err = b.m.OpenFailed(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.srv.Close(); b.d.Close(); b.store.Close() })
	return b
}

// get fetches path and returns its status and body.
func (b *bundle) get(path string) (int, string) {
	b.t.Helper()
	resp, err := b.client.Get(b.srv.URL + path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// token loads a page and returns the CSRF token its forms carry.
func (b *bundle) token() string {
	b.t.Helper()
	_, body := b.get("/failed")
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatal("no CSRF token on /failed")
	}
	return m[1]
}

// post submits form to path with a valid token and returns the status and where it redirects.
func (b *bundle) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	form.Set("csrf", b.token())
	return b.postRaw(path, form)
}

func (b *bundle) postRaw(path string, form url.Values) (int, string) {
	b.t.Helper()
	resp, err := b.client.PostForm(b.srv.URL+path, form)
	if err != nil {
		b.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// conn opens a connection of the config for the test's own pushes and checks.
func (b *bundle) conn(name string) *manager.Conn {
	b.t.Helper()
	c, err := b.m.Open(context.Background(), name)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { c.Close() })
	return c
}

// push pushes n SendEmail jobs onto queue of the database connection.
func (b *bundle) push(queue string, n int, delay time.Duration) []string {
	b.t.Helper()
	datas := make([]json.RawMessage, n)
	for i := range datas {
		datas[i] = json.RawMessage(fmt.Sprintf(`{"to":"user%d@example.com"}`, i))
	}
	ids, err := b.conn("database").Push(context.Background(), "App\\Jobs\\SendEmail", datas, manager.PushOptions{Queue: queue, Delay: delay})
	if err != nil {
		b.t.Fatal(err)
	}
	return ids
}

// fail records a failed job of queue with exception text.
func (b *bundle) fail(queue, job, exception string) string {
	b.t.Helper()
	c := b.conn("database")
	payload, err := c.Payload(job, json.RawMessage(`{"n":1}`), manager.PushOptions{})
	if err != nil {
		b.t.Fatal(err)
	}
	id, err := b.store.Log(context.Background(), "database", queue, payload, exception)
	if err != nil {
		b.t.Fatal(err)
	}
	return id
}

func (b *bundle) failedCount(f failed.Filter) int64 {
	b.t.Helper()
	n, err := b.store.Count(context.Background(), f)
	if err != nil {
		b.t.Fatal(err)
	}
	return n
}

func (b *bundle) stats(queue string) manager.QueueStatus {
	b.t.Helper()
	snap, err := b.conn("database").Snapshot(context.Background(), nil, []string{queue})
	if err != nil {
		b.t.Fatal(err)
	}
	return snap.Queues[0]
}

// syncBuffer is the action log, written by the server's goroutines and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s does not contain %q", what, w)
		}
	}
}
