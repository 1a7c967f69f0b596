package migrations

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"gorm.io/gorm"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
)

var dsns = map[string]string{
	sqldb.Postgres: "host=127.0.0.1 user=postgres dbname=test sslmode=disable",
	sqldb.MySQL:    "root@tcp(127.0.0.1:3306)/test",
}

// open returns a connection for dialect (SQLite: a file in dir), closed when t ends, skipping t
// when the server is not running unless QCTL_REQUIRE_SERVICES=1.
func open(t *testing.T, dialect, dir string) *gorm.DB {
	t.Helper()
	dsn := dsns[dialect]
	switch dialect {
	case sqldb.SQLite:
		dsn = filepath.Join(dir, "q.db")
	case sqldb.Postgres:
		connectortest.RequireService(t, "PostgreSQL", "127.0.0.1:5432", "sudo service postgresql start")
	case sqldb.MySQL:
		connectortest.RequireService(t, "MariaDB", "127.0.0.1:3306", "sudo service mariadb start")
	}
	db, err := sqldb.Open(context.Background(), dialect, dsn)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { sqlDB.Close() })
	return db
}

// uniqueTargets returns one target of each kind with test-unique table names, dropped (with their
// qctl_migrations rows) when t ends.
func uniqueTargets(t *testing.T, dialect, dir string) []Target {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	targets := []Target{
		{Kind: Jobs, Table: "jobs_mt_" + suffix},
		{Kind: FailedJobs, Table: "failed_jobs_mt_" + suffix},
		{Kind: Signals, Table: "qctl_signals_mt_" + suffix},
	}
	t.Cleanup(func() {
		db := open(t, dialect, dir)
		for _, tg := range targets {
			if err := db.Exec("DROP TABLE IF EXISTS " + sqldb.Quote(dialect, tg.Table)).Error; err != nil {
				t.Errorf("drop %s: %v", tg.Table, err)
			}
			db.Exec("DELETE FROM "+sqldb.Quote(dialect, VersionsTable)+" WHERE table_name = ?", tg.Table)
		}
	})
	return targets
}

// columns returns table's column names, sorted.
func columns(t *testing.T, db *gorm.DB, table string) []string {
	t.Helper()
	types, err := db.Migrator().ColumnTypes(table)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range types {
		names = append(names, c.Name())
	}
	sort.Strings(names)
	return names
}

func eachDialect(t *testing.T, fn func(t *testing.T, dialect, dir string)) {
	for _, d := range []string{sqldb.SQLite, sqldb.Postgres, sqldb.MySQL} {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			fn(t, d, t.TempDir())
		})
	}
}

func TestApply(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect, dir string) {
		ctx := context.Background()
		db := open(t, dialect, dir)
		targets := uniqueTargets(t, dialect, dir)

		missing, err := Missing(ctx, db, targets...)
		if err != nil || len(missing) != 3 {
			t.Fatalf("Missing before Apply = %v, %v; want all three", missing, err)
		}
		lines, err := Apply(ctx, db, dialect, targets...)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			fmt.Sprintf("created table %q (0001_jobs, %s)", targets[0].Table, dialect),
			fmt.Sprintf("applied 0010_jobs_state_index to table %q (%s)", targets[0].Table, dialect),
			fmt.Sprintf("created table %q (0002_failed_jobs, %s)", targets[1].Table, dialect),
			fmt.Sprintf("created table %q (0003_qctl_signals, %s)", targets[2].Table, dialect),
		}
		if !slices.Equal(lines, want) {
			t.Errorf("Apply lines = %q, want %q", lines, want)
		}
		wantCols := map[string]string{
			targets[0].Table: "attempts available_at created_at id payload queue reserved_at",
			targets[1].Table: "connection exception failed_at id payload queue uuid",
			targets[2].Table: "name updated_at value",
		}
		for table, cols := range wantCols {
			if got := strings.Join(columns(t, db, table), " "); got != cols {
				t.Errorf("%s columns = %s, want %s", table, got, cols)
			}
		}
		if missing, err := Missing(ctx, db, targets...); err != nil || len(missing) != 0 {
			t.Errorf("Missing after Apply = %v, %v", missing, err)
		}

		// Laravel's failed_jobs: uuid unique, failed_at defaulted by the database.
		ins := "INSERT INTO " + sqldb.Quote(dialect, targets[1].Table) +
			" (uuid, connection, queue, payload, exception) VALUES (?, 'database', 'default', '{}', 'boom')"
		if err := db.Exec(ins, "u-1").Error; err != nil {
			t.Fatalf("insert failed job: %v", err)
		}
		if err := db.Exec(ins, "u-1").Error; !sqldb.IsUniqueViolation(err) {
			t.Errorf("second insert of one uuid = %v, want a unique violation", err)
		}
		var failedAt int64
		if err := db.Raw("SELECT COUNT(*) FROM " + sqldb.Quote(dialect, targets[1].Table) + " WHERE failed_at IS NOT NULL").Scan(&failedAt).Error; err != nil || failedAt != 1 {
			t.Errorf("failed_at defaulted on %d rows, %v", failedAt, err)
		}

		again, err := Apply(ctx, db, dialect, targets...)
		if err != nil || again != nil {
			t.Errorf("second Apply = %q, %v; want nothing applied", again, err)
		}

		// A table dropped by hand is created again, not trusted to the records.
		if err := db.Exec("DROP TABLE " + sqldb.Quote(dialect, targets[0].Table)).Error; err != nil {
			t.Fatal(err)
		}
		again, err = Apply(ctx, db, dialect, targets...)
		if err != nil || len(again) != 2 || again[0] != want[0] || again[1] != want[1] {
			t.Errorf("Apply after dropping %s = %q, %v; want [%q %q]", targets[0].Table, again, err, want[0], want[1])
		}
	})
}

// TestApplyAdoptsExistingTable checks that a table made by Laravel's own migration is recorded,
// not recreated, and gets the state index.
func TestApplyAdoptsExistingTable(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect, dir string) {
		ctx := context.Background()
		db := open(t, dialect, dir)
		target := uniqueTargets(t, dialect, dir)[0]
		// Laravel's jobs migration: its columns and an index on queue alone.
		table := sqldb.Quote(dialect, target.Table)
		if err := db.Exec("CREATE TABLE " + table + " (id bigint, queue varchar(255) NOT NULL, payload text NOT NULL," +
			" attempts smallint NOT NULL, reserved_at integer, available_at integer NOT NULL, created_at integer NOT NULL)").Error; err != nil {
			t.Fatal(err)
		}
		if err := db.Exec("CREATE INDEX " + sqldb.Quote(dialect, target.Table+"_queue_index") + " ON " + table + " (queue)").Error; err != nil {
			t.Fatal(err)
		}
		lines, err := Apply(ctx, db, dialect, target)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			fmt.Sprintf("found existing table %q (0001_jobs, %s)", target.Table, dialect),
			fmt.Sprintf("applied 0010_jobs_state_index to table %q (%s)", target.Table, dialect),
		}
		if !slices.Equal(lines, want) {
			t.Errorf("Apply = %q, want %q", lines, want)
		}
		if !hasIndex(t, db, dialect, target.Table, target.Table+"_queue_state_index") {
			t.Errorf("no state index on the adopted table")
		}
	})
}

// hasIndex reports whether table has an index named index.
func hasIndex(t *testing.T, db *gorm.DB, dialect, table, index string) bool {
	t.Helper()
	var n int64
	var err error
	switch dialect {
	case sqldb.SQLite:
		err = db.Raw("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name = ?", table, index).Scan(&n).Error
	case sqldb.Postgres:
		err = db.Raw("SELECT COUNT(*) FROM pg_indexes WHERE tablename = ? AND indexname = ?", table, index).Scan(&n).Error
	case sqldb.MySQL:
		err = db.Raw("SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?", table, index).Scan(&n).Error
	}
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

// TestStateIndexOnExistingDatabase: a database migrated before 0010 gets the state index on both
// jobs formats from the next Apply, and on MySQL (no CREATE INDEX IF NOT EXISTS) an index that is
// there already without its record (a run that died after the DDL) is recorded, not an error.
func TestStateIndexOnExistingDatabase(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect, dir string) {
		ctx := context.Background()
		db := open(t, dialect, dir)
		jobs := uniqueTargets(t, dialect, dir)[0]
		think := Target{Kind: ThinkJobs, Table: jobs.Table + "_think"}
		t.Cleanup(func() {
			db.Exec("DROP TABLE IF EXISTS " + sqldb.Quote(dialect, think.Table))
			db.Exec("DELETE FROM "+sqldb.Quote(dialect, VersionsTable)+" WHERE table_name = ?", think.Table)
		})
		if _, err := Apply(ctx, db, dialect, jobs, think); err != nil {
			t.Fatal(err)
		}
		for _, tg := range []Target{jobs, think} {
			index := tg.Table + "_queue_state_index"
			if !hasIndex(t, db, dialect, tg.Table, index) {
				t.Fatalf("%s: no %s after Apply", tg.Kind, index)
			}
			// As before 0010: no index and no record of it.
			drop := "DROP INDEX " + sqldb.Quote(dialect, index)
			if dialect == sqldb.MySQL {
				drop += " ON " + sqldb.Quote(dialect, tg.Table)
			}
			if err := db.Exec(drop).Error; err != nil {
				t.Fatal(err)
			}
			db.Exec("DELETE FROM "+sqldb.Quote(dialect, VersionsTable)+" WHERE table_name = ? AND version LIKE '0010%'", tg.Table)
		}
		lines, err := Apply(ctx, db, dialect, jobs, think)
		want := []string{
			fmt.Sprintf("applied 0010_jobs_state_index to table %q (%s)", jobs.Table, dialect),
			fmt.Sprintf("applied 0010_think_jobs_state_index to table %q (%s)", think.Table, dialect),
		}
		if err != nil || !slices.Equal(lines, want) {
			t.Fatalf("Apply on a database from before 0010 = %q, %v; want %q", lines, err, want)
		}
		if !hasIndex(t, db, dialect, jobs.Table, jobs.Table+"_queue_state_index") || !hasIndex(t, db, dialect, think.Table, think.Table+"_queue_state_index") {
			t.Errorf("state index missing after Apply")
		}
		// The index is there, its record is not.
		db.Exec("DELETE FROM "+sqldb.Quote(dialect, VersionsTable)+" WHERE table_name = ? AND version LIKE '0010%'", jobs.Table)
		if lines, err := Apply(ctx, db, dialect, jobs); err != nil || len(lines) != 1 || lines[0] != want[0] {
			t.Errorf("Apply with the index present but unrecorded = %q, %v; want [%q]", lines, err, want[0])
		}
	})
}

// TestApplyConcurrently runs Apply from four connections at once, as several processes starting
// together do: none fails and the steps are applied once between them.
func TestApplyConcurrently(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect, dir string) {
		targets := uniqueTargets(t, dialect, dir)
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			lines []string
		)
		for i := 0; i < 4; i++ {
			db := open(t, dialect, dir)
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := Apply(context.Background(), db, dialect, targets...)
				if err != nil {
					t.Errorf("Apply: %v", err)
				}
				mu.Lock()
				lines = append(lines, got...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(lines) != 4 {
			t.Errorf("4 concurrent Applys reported %d steps, want 4: %q", len(lines), lines)
		}
	})
}

// TestApplyThinkJobs creates think-queue 3's jobs table: Laravel's shape with its own names for
// the time columns, reserve_time nullable as think-queue's pop needs.
func TestApplyThinkJobs(t *testing.T) {
	eachDialect(t, func(t *testing.T, dialect, dir string) {
		ctx := context.Background()
		db := open(t, dialect, dir)
		target := Target{Kind: ThinkJobs, Table: uniqueTargets(t, dialect, dir)[0].Table}
		lines, err := Apply(ctx, db, dialect, target)
		want := []string{
			fmt.Sprintf("created table %q (0005_think_jobs, %s)", target.Table, dialect),
			fmt.Sprintf("applied 0010_think_jobs_state_index to table %q (%s)", target.Table, dialect),
		}
		if err != nil || !slices.Equal(lines, want) {
			t.Fatalf("Apply = %q, %v; want %q", lines, err, want)
		}
		if got := strings.Join(columns(t, db, target.Table), " "); got != "attempts available_time create_time id payload queue reserve_time" {
			t.Errorf("columns = %s", got)
		}
		ins := "INSERT INTO " + sqldb.Quote(dialect, target.Table) +
			" (queue, payload, attempts, reserve_time, available_time, create_time) VALUES ('default', '{}', 0, NULL, 1, 1)"
		if err := db.Exec(ins).Error; err != nil {
			t.Errorf("insert as think-queue does: %v", err)
		}
		if again, err := Apply(ctx, db, dialect, target); err != nil || again != nil {
			t.Errorf("second Apply = %q, %v; want nothing applied", again, err)
		}
	})
}

// TestApplyNotifyTrigger: the trigger steps apply to a jobs table of their layout on PostgreSQL,
// once, and no other dialect takes them.
func TestApplyNotifyTrigger(t *testing.T) {
	ctx := context.Background()
	db := open(t, sqldb.Postgres, "")
	jobs := uniqueTargets(t, sqldb.Postgres, "")[0]
	think := Target{Kind: ThinkJobs, Table: jobs.Table + "_think"}
	t.Cleanup(func() {
		for _, table := range []string{jobs.Table, think.Table} {
			db.Exec(`DROP TABLE IF EXISTS "` + table + `"`)
			db.Exec(`DROP FUNCTION IF EXISTS "` + table + `_qctl_notify"()`)
			db.Exec("DELETE FROM "+VersionsTable+" WHERE table_name = ?", table)
		}
	})
	targets := []Target{jobs, {Kind: JobsNotify, Table: jobs.Table}, think, {Kind: ThinkJobsNotify, Table: think.Table}}
	lines, err := Apply(ctx, db, sqldb.Postgres, targets...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("created table %q (0001_jobs, postgres)", jobs.Table),
		fmt.Sprintf("applied 0010_jobs_state_index to table %q (postgres)", jobs.Table),
		fmt.Sprintf("applied 0006_jobs_notify to table %q (postgres)", jobs.Table),
		fmt.Sprintf("created table %q (0005_think_jobs, postgres)", think.Table),
		fmt.Sprintf("applied 0010_think_jobs_state_index to table %q (postgres)", think.Table),
		fmt.Sprintf("applied 0007_think_jobs_notify to table %q (postgres)", think.Table),
	}
	if !slices.Equal(lines, want) {
		t.Errorf("Apply lines = %q, want %q", lines, want)
	}
	var n int64
	if err := db.Raw("SELECT COUNT(*) FROM pg_trigger WHERE tgname IN (?, ?)", jobs.Table+"_qctl_notify", think.Table+"_qctl_notify").Scan(&n).Error; err != nil || n != 2 {
		t.Errorf("triggers = %d, %v; want 2", n, err)
	}
	if lines, err := Apply(ctx, db, sqldb.Postgres, targets...); err != nil || len(lines) != 0 {
		t.Errorf("second Apply = %q, %v; want nothing to do", lines, err)
	}
	for _, dialect := range []string{sqldb.SQLite, sqldb.MySQL} {
		if _, err := Apply(ctx, open(t, sqldb.SQLite, t.TempDir()), dialect, Target{Kind: JobsNotify}); err == nil {
			t.Errorf("Apply of the notify trigger on %s succeeded", dialect)
		}
	}
}

func TestDefaultTableNames(t *testing.T) {
	for kind, want := range map[Kind]string{Jobs: "jobs", FailedJobs: "failed_jobs", Signals: "qctl_signals", Fleet: "qctl_fleet", ThinkJobs: "jobs", ThinkFailedJobs: "failed_jobs"} {
		if got := (Target{Kind: kind}).TableName(); got != want {
			t.Errorf("default table of %s = %q, want %q", kind, got, want)
		}
	}
}

func TestBadTargets(t *testing.T) {
	db := open(t, sqldb.SQLite, t.TempDir())
	for _, tc := range []struct {
		dialect string
		target  Target
	}{
		{sqldb.SQLite, Target{Kind: "queues"}},
		{sqldb.SQLite, Target{Kind: Jobs, Table: "jobs; DROP TABLE x"}},
		{"oracle", Target{Kind: Jobs}},
	} {
		if _, err := Apply(context.Background(), db, tc.dialect, tc.target); err == nil {
			t.Errorf("Apply(%s, %+v) succeeded", tc.dialect, tc.target)
		}
	}
}

// TestEmbeddedFiles checks that steps lists exactly the embedded files of every dialect, and that
// every file splits into statements that all use the {{table}} placeholder.
func TestEmbeddedFiles(t *testing.T) {
	for _, dialect := range []string{sqldb.SQLite, sqldb.Postgres, sqldb.MySQL} {
		entries, err := fs.ReadDir(files, "sql/"+dialect)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, e := range entries {
			got = append(got, strings.TrimSuffix(e.Name(), ".sql"))
		}
		for _, s := range steps {
			if s.only != "" && s.only != dialect {
				continue
			}
			want = append(want, s.version)
			stmts, err := statements(dialect, s.version, "tbl")
			if err != nil || len(stmts) == 0 {
				t.Errorf("%s/%s: %d statements, %v", dialect, s.version, len(stmts), err)
			}
			for _, st := range stmts {
				if !strings.Contains(st, "tbl") || strings.Contains(st, "{{") {
					t.Errorf("%s/%s: statement without the table: %s", dialect, s.version, st)
				}
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s files %v, steps %v", dialect, got, want)
		}
	}
}
