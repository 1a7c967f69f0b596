package manager

import (
	"context"
	"fmt"

	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
)

// Migrate creates the tables that are missing for the named connection ("" = the default) and
// for the failed-job store, and returns a line per migration it applied (none when all exist).
func (m *Manager) Migrate(ctx context.Context, name string) ([]string, error) {
	conn, err := m.Connection(name)
	if err != nil {
		return nil, err
	}
	var steps []*Tables
	if d, ok := driver(conn.Driver); ok && d.Tables != nil {
		steps = append(steps, d.Tables(conn))
	}
	steps = append(steps, m.failedTables())
	var applied []string
	for _, s := range steps {
		if s == nil {
			continue
		}
		lines, err := migrate(ctx, s)
		if err != nil {
			return applied, err
		}
		applied = append(applied, lines...)
	}
	return applied, nil
}

func migrate(ctx context.Context, s *Tables) ([]string, error) {
	db, err := sqldb.Open(ctx, s.Dialect, s.DSN)
	if err != nil {
		return nil, err
	}
	lines, err := migrations.Apply(ctx, db, s.Dialect, s.Targets...)
	if sqlDB, e := db.DB(); e == nil {
		sqlDB.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("migrating the %s database: %w", s.Dialect, err)
	}
	return lines, nil
}
