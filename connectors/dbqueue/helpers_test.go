package dbqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
)

const (
	pgDSN    = "host=127.0.0.1 user=postgres dbname=test sslmode=disable"
	mysqlDSN = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
)

var dialects = []string{sqldb.SQLite, sqldb.Postgres, sqldb.MySQL}

// testDB is one test's database: its dialect, DSN, jobs table format and test-unique table
// names, dropped when the test ends.
type testDB struct {
	dialect, dsn   string
	format         string
	table, signals string
}

// setup returns a database of dialect for t, skipping t when its server is not running (unless
// QCTL_REQUIRE_SERVICES=1). SQLite gets a file in t.TempDir(); the servers get tables with a
// random suffix, dropped in t.Cleanup, so tests and packages run in parallel.
func setup(t testing.TB, dialect string) testDB {
	t.Helper()
	return setupFormat(t, dialect, FormatLaravel)
}

// setupFormat is setup for a jobs table in format's layout.
func setupFormat(t testing.TB, dialect, format string) testDB {
	t.Helper()
	suffix := randomHex(5)
	d := testDB{dialect: dialect, format: format, table: "jobs_ct_" + suffix, signals: "qctl_signals_ct_" + suffix}
	switch dialect {
	case sqldb.SQLite:
		d.dsn = filepath.Join(t.TempDir(), "queue.db")
		return d
	case sqldb.Postgres:
		connectortest.RequireService(t, "PostgreSQL", "127.0.0.1:5432", "sudo service postgresql start")
		d.dsn = pgDSN
	case sqldb.MySQL:
		connectortest.RequireService(t, "MariaDB", "127.0.0.1:3306", "sudo service mariadb start")
		d.dsn = mysqlDSN
	}
	t.Cleanup(func() { dropTables(t, d.dialect, d.dsn, d.table, d.signals) })
	return d
}

// options returns Options for d's tables on clock.
func (d testDB) options(clock *connectortest.Clock, retryAfter time.Duration) Options {
	return Options{Dialect: d.dialect, DSN: d.dsn, Table: d.table, SignalsTable: d.signals,
		RetryAfter: retryAfter, Now: clock.Now, AutoMigrate: true, Format: d.format}
}

// open opens a Queue on d, closed when t ends.
func (d testDB) open(t testing.TB, clock *connectortest.Clock, retryAfter time.Duration) *Queue {
	t.Helper()
	q, err := Open(context.Background(), d.options(clock, retryAfter))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func dropTables(t testing.TB, dialect, dsn string, tables ...string) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, dialect, dsn)
	if err != nil {
		t.Errorf("drop test tables: %v", err)
		return
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	for _, table := range tables {
		if _, err := sqlDB.ExecContext(ctx, "DROP TABLE IF EXISTS "+sqldb.Quote(dialect, table)); err != nil {
			t.Errorf("drop %s: %v", table, err)
		}
		del := "DELETE FROM " + sqldb.Quote(dialect, migrations.VersionsTable) + " WHERE table_name = ?"
		if dialect == sqldb.Postgres {
			del = "DELETE FROM " + sqldb.Quote(dialect, migrations.VersionsTable) + " WHERE table_name = $1"
		}
		_, _ = sqlDB.ExecContext(ctx, del, table)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
