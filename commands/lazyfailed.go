package commands

import (
	"context"
	"sync"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/listener"
	"github.com/qctl/qctl/worker"
)

// failedStore is what a worker needs of the failed-job store, and closing it.
type failedStore interface {
	worker.FailedLogger
	Close() error
}

// openFailedFor opens the failed-job store for a worker. A `listen` child opens it only when a
// job fails: its listener has opened and checked the store already, and a child per job should
// not pay a second database connection for a store it rarely needs.
func openFailedFor(ctx context.Context, cfg *config.Config) (failedStore, error) {
	if listener.ChildReporter() == nil {
		return openFailed(ctx, cfg)
	}
	return &lazyFailed{open: func(ctx context.Context) (*failed.Store, error) { return openFailed(ctx, cfg) }}, nil
}

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
