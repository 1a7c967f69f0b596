package manager

import (
	"context"
	"fmt"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/laravel"
)

// Duties builds what a worker does around Laravel's jobs, as Laravel's own worker does: decrypt
// ShouldBeEncrypted commands with app_key, push the next job of a chain onto its connection,
// keep a batch's job_batches row, release unique locks. It wraps ErrConfig when app_key is not a
// key Laravel would accept. Close the result when the worker is done.
func (m *Manager) Duties(ctx context.Context) (*laravel.Duties, error) {
	o := laravel.Options{Open: func(ctx context.Context, name string) (connectors.Queue, string, error) {
		c, err := m.Open(ctx, name)
		if err != nil {
			return nil, "", err
		}
		return c.Backend, c.Queue, nil
	}, UntilProcessing: map[string]bool{}}
	for name, h := range m.cfg.Handlers {
		o.UntilProcessing[name] = h.UniqueUntilProcessing
	}
	if m.cfg.AppKey != "" {
		key, err := laravel.ParseKey(m.cfg.AppKey)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		o.Key = &key
	}
	if f := m.cfg.Failed; f.Driver == config.DriverDatabase && f.UUIDs {
		if err := laravel.CheckBatchesTable(f.BatchesTable); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		o.OpenBatches = m.OpenBatches // on the first batched job: most workers never run one
	}
	return laravel.New(o), nil
}

// OpenBatches opens Laravel's job_batches table, which lives beside its failed_jobs. It wraps
// ErrConfig when the failed store is not Laravel's uuid table on a database.
func (m *Manager) OpenBatches(ctx context.Context) (*laravel.Batches, error) {
	f := m.cfg.Failed
	if f.Driver != config.DriverDatabase || !f.UUIDs {
		return nil, fmt.Errorf("%w: job batches live beside Laravel's failed_jobs table: [failed] must be a database with uuids", ErrConfig)
	}
	return laravel.OpenBatches(ctx, f.Dialect, f.DSN, f.BatchesTable)
}
