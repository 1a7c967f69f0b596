package manager_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/manager"
)

// A worker's failed store on SQLite is opened when the first job fails, not when the worker
// starts: a worker whose queue is on another backend then never loads the SQLite engine. The
// directory is still checked at the start, so a wrong path is reported before any job runs.
func TestWorkersOpenAnSQLiteFailedStoreOnTheFirstFailure(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "failed.db")
	m := manager.New(mustLoad(t, `
[connections.now]
driver = "sync"

[failed]
dialect = "sqlite"
dsn = "`+file+`"
`), manager.Options{})
	ctx := context.Background()
	for _, lazy := range []bool{false, true} {
		store, err := m.FailedLogger(ctx, lazy)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("lazy=%v: the store's file exists before any job failed (stat: %v)", lazy, err)
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
	}

	store, err := m.FailedLogger(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	id, err := store.Log(ctx, "now", "default", []byte(`{"uuid":"u-1","displayName":"Boom","job":"Boom","data":{}}`), "RuntimeException: boom")
	if err != nil {
		t.Fatal(err)
	}
	opened, err := m.OpenFailed(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer opened.Close()
	if _, err := opened.Find(ctx, id); err != nil {
		t.Fatalf("the failure logged through the worker's store is not in %s: %v", file, err)
	}

	missing := manager.New(mustLoad(t, `
[connections.now]
driver = "sync"

[failed]
dialect = "sqlite"
dsn = "`+filepath.Join(dir, "nodir", "failed.db")+`"
`), manager.Options{})
	if _, err := missing.FailedLogger(ctx, false); err == nil || !strings.Contains(err.Error(), "nodir does not exist") {
		t.Fatalf("a failed store in a missing directory: got %v, want an error naming the directory at the start", err)
	}
}

func mustLoad(t *testing.T, toml string) *config.Config {
	t.Helper()
	cfg, err := config.Load([]byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
