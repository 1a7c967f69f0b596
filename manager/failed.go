package manager

import (
	"context"
	"fmt"
	"sync"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
	"github.com/qctl/qctl/worker"
)

// OpenFailed opens the failed-job store in the layout the config names (Laravel's uuid table, or
// think-queue's with `uuids = false`); on SQLite it creates its table on first use. It returns
// ErrFailedDisabled when the config discards failed jobs.
func (m *Manager) OpenFailed(ctx context.Context) (*failed.Store, error) {
	f := m.cfg.Failed
	if f.Driver == config.DriverNull {
		return nil, ErrFailedDisabled
	}
	return failed.Open(ctx, failed.Options{
		Dialect: f.Dialect, DSN: f.DSN, Table: f.Table, Layout: m.failedLayout(), AutoMigrate: f.Dialect == config.DialectSQLite,
		Location: m.cfg.Timezone,
	})
}

// FailedDiscarded reports whether the config discards failed jobs ([failed] driver = "null"),
// as Laravel's null failer does: workers run, and a job that fails is dropped.
func (m *Manager) FailedDiscarded() bool { return m.cfg.Failed.Driver == config.DriverNull }

// FailedLogger is what a worker records failed jobs with, and closing it.
type FailedLogger interface {
	worker.FailedLogger
	Close() error
}

// FailedLogger opens the failed store for a worker. With lazy, the store is opened only when a
// job fails (a `listen` child should not pay a database connection for a store it rarely needs).
// A store on SQLite is always opened that way, after checking that its file can be written
// (sqldb.CheckSQLiteFile): it creates its own table, so opening it early would find nothing
// more, and a worker whose queue is on another backend then never loads the SQLite engine at all
// (about 2 MB of a worker's memory) unless a job fails. When the config discards failed jobs it returns a logger that drops them.
func (m *Manager) FailedLogger(ctx context.Context, lazy bool) (FailedLogger, error) {
	switch f := m.cfg.Failed; {
	case m.FailedDiscarded():
		return discard{}, nil
	case f.Dialect == config.DialectSQLite:
		if err := sqldb.CheckSQLiteFile(f.DSN); err != nil {
			return nil, fmt.Errorf("failed-job store: %w", err)
		}
		return &lazyFailed{open: m.OpenFailed}, nil
	case lazy:
		return &lazyFailed{open: m.OpenFailed}, nil
	}
	return m.OpenFailed(ctx)
}

func (m *Manager) failedLayout() failed.Layout {
	if m.cfg.Failed.UUIDs {
		return failed.LayoutLaravel
	}
	return failed.LayoutThink
}

// failedTables is the failed-job table's migration, or nil when failed jobs are discarded.
func (m *Manager) failedTables() *Tables {
	f := m.cfg.Failed
	if f.Driver != config.DriverDatabase {
		return nil
	}
	if !f.UUIDs {
		return &Tables{Dialect: f.Dialect, DSN: f.DSN, Targets: []migrations.Target{{Kind: migrations.ThinkFailedJobs, Table: f.Table}, {Kind: migrations.Fleet}}}
	}
	// Laravel's job_batches lives beside its failed_jobs; so does the fleet table of a connection
	// whose backend keeps no state (beanstalkd keeps its worker registry and flags here, see
	// Conn.Fleet).
	return &Tables{Dialect: f.Dialect, DSN: f.DSN, Targets: []migrations.Target{
		{Kind: migrations.FailedJobs, Table: f.Table}, {Kind: migrations.JobBatches, Table: f.BatchesTable}, {Kind: migrations.Fleet},
	}}
}

// discard is the failed store of [failed] driver = "null".
type discard struct{}

func (discard) Log(context.Context, string, string, []byte, string) (string, error) { return "", nil }
func (discard) Close() error                                                        { return nil }

// lazyFailed opens the store on the first Log.
type lazyFailed struct {
	open  func(context.Context) (*failed.Store, error)
	mu    sync.Mutex
	store *failed.Store
}

func (l *lazyFailed) Log(ctx context.Context, connection, queue string, payload []byte, exception string) (string, error) {
	l.mu.Lock()
	if l.store == nil {
		s, err := l.open(ctx)
		if err != nil {
			l.mu.Unlock()
			return "", err
		}
		l.store = s
	}
	store := l.store
	l.mu.Unlock()
	return store.Log(ctx, connection, queue, payload, exception)
}

func (l *lazyFailed) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.store == nil {
		return nil
	}
	return l.store.Close()
}
