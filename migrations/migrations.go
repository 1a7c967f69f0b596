// Package migrations creates qctl's tables from numbered SQL files per dialect, embedded in the
// binary. A file is never edited once released; a schema change is a new file with the next number.
//
// Table names are configurable, so the files say {{table}} where the name goes. Each applied file
// is recorded per table in qctl_migrations, so Apply is cheap to run at every start and a table
// created by Laravel's own migration is adopted, not recreated.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/qctl/qctl/internal/sqldb"
)

//go:embed sql
var files embed.FS

// Kind names one of the tables qctl owns.
type Kind string

// The kinds of table qctl creates.
const (
	Jobs       Kind = "jobs"        // Laravel's jobs table: the database queue
	FailedJobs Kind = "failed_jobs" // Laravel's failed_jobs table: the failed-job store
	Signals    Kind = "signals"     // qctl_signals: the restart broadcast of database connections
	// ThinkFailedJobs is think-queue 3's failed table (integer ids, fail_time): the failed-job
	// store when [failed] uuids = false.
	ThinkFailedJobs Kind = "think_failed_jobs"
	// ThinkJobs is think-queue 3's jobs table (reserve_time, available_time, create_time): the
	// database queue of a format = "think" connection.
	ThinkJobs Kind = "think_jobs"
	// JobsNotify is a PostgreSQL trigger on an existing jobs table (Laravel's columns) that
	// NOTIFYs every row inserted, so jobs PHP pushes wake qctl's waiting workers as qctl's own
	// pushes do (notify_trigger = true). ThinkJobsNotify is the same on think-queue's table.
	JobsNotify      Kind = "jobs_notify"
	ThinkJobsNotify Kind = "think_jobs_notify"
	// JobBatches is Laravel's job_batches table (Bus::batch), kept beside the failed jobs.
	JobBatches Kind = "job_batches"
	// Fleet is qctl_fleet: the live worker registry and fleet flags (queue pause, terminate) of
	// a database connection, or of the failed store's database for a backend with no state.
	Fleet Kind = "fleet"
)

// VersionsTable records which files were applied to which table.
const VersionsTable = "qctl_migrations"

// Target is one table to create: its kind and its name.
type Target struct {
	Kind Kind
	// Table is the table's name; "" means the kind's default (jobs, failed_jobs, qctl_signals, qctl_fleet;
	// think-queue's kinds default to the names of their Laravel counterparts).
	Table string
}

// TableName returns t's table name, the kind's default when Table is empty.
func (t Target) TableName() string {
	if t.Table != "" {
		return t.Table
	}
	switch t.Kind {
	case Signals:
		return "qctl_signals"
	case Fleet:
		return "qctl_fleet"
	case ThinkFailedJobs:
		return "failed_jobs"
	case ThinkJobs:
		return "jobs"
	case JobsNotify, ThinkJobsNotify:
		return "jobs"
	default:
		return string(t.Kind)
	}
}

// step is one numbered file. The first step of a table kind creates its table; later ones alter
// it. A trigger kind's steps add to a table another kind created.
type step struct {
	version string // the file name without .sql
	kind    Kind
	only    string // the one dialect that has this file; "" means every dialect has it
}

// steps lists every file in apply order; a test checks it against the embedded files.
var steps = []step{
	{"0001_jobs", Jobs, ""},
	{"0002_failed_jobs", FailedJobs, ""},
	{"0003_qctl_signals", Signals, ""},
	{"0004_think_failed_jobs", ThinkFailedJobs, ""},
	{"0005_think_jobs", ThinkJobs, ""},
	{"0006_jobs_notify", JobsNotify, sqldb.Postgres},
	{"0007_think_jobs_notify", ThinkJobsNotify, sqldb.Postgres},
	{"0008_job_batches", JobBatches, ""},
	{"0009_qctl_fleet", Fleet, ""},
	{"0010_jobs_state_index", Jobs, ""},
	{"0010_think_jobs_state_index", ThinkJobs, ""},
}

// isTrigger reports whether k adds a trigger to a table rather than creating one.
func (k Kind) isTrigger() bool { return k == JobsNotify || k == ThinkJobsNotify }

// Apply creates whatever of targets is missing in db and returns one line per step applied, such
// as `created table "jobs" (0001_jobs, postgres)`; it returns no lines when everything was already
// there. Several processes may run it at once on one database: PostgreSQL and MySQL runs take a
// database-wide lock, SQLite runs are serialised by its write lock.
func Apply(ctx context.Context, db *gorm.DB, dialect string, targets ...Target) ([]string, error) {
	if err := checkTargets(dialect, targets); err != nil {
		return nil, err
	}
	if upToDate(ctx, db, dialect, targets) {
		return nil, nil
	}
	var lines []string
	run := func(tx *gorm.DB) error {
		if err := tx.Exec(versionsDDL(dialect)).Error; err != nil {
			return fmt.Errorf("create %s: %w", VersionsTable, err)
		}
		for _, t := range dedupe(targets) {
			if err := forgetDropped(tx, dialect, t.TableName()); err != nil {
				return err
			}
			for _, s := range steps {
				if s.kind != t.Kind {
					continue
				}
				line, err := applyStep(tx, dialect, t.TableName(), s)
				if err != nil {
					return err
				}
				if line != "" {
					lines = append(lines, line)
				}
			}
		}
		return nil
	}
	db = db.WithContext(ctx)
	var err error
	switch dialect {
	case sqldb.Postgres:
		err = db.Transaction(func(tx *gorm.DB) error {
			// Concurrent CREATE TABLE IF NOT EXISTS of one table can fail in PostgreSQL (a
			// unique violation in pg_type), so runs take turns.
			if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", advisoryKey).Error; err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			return run(tx)
		})
	case sqldb.MySQL:
		// MySQL commits DDL implicitly, so a transaction would not hold; a named lock on one
		// connection makes runs take turns instead.
		err = db.Connection(func(conn *gorm.DB) error {
			var got *int
			if err := conn.Raw("SELECT GET_LOCK(CONCAT('qctl_migrate:', DATABASE()), 60)").Scan(&got).Error; err != nil {
				return fmt.Errorf("lock: %w", err)
			}
			if got == nil || *got != 1 {
				return fmt.Errorf("lock: another qctl migrate held the lock for 60s")
			}
			defer conn.Exec("SELECT RELEASE_LOCK(CONCAT('qctl_migrate:', DATABASE()))")
			return run(conn)
		})
	default:
		// SQLite: the transaction begins IMMEDIATE (see sqldb), holding the write lock.
		err = db.Transaction(run)
	}
	if err != nil {
		return nil, fmt.Errorf("migrations (%s): %w", dialect, err)
	}
	return lines, nil
}

// advisoryKey is PostgreSQL's advisory lock id for migrations: "qctl" in ASCII.
const advisoryKey = 0x7163746c

// applyStep applies s to table unless qctl_migrations already records it, and returns the line to
// show, or "" when nothing was done (also when a racing process recorded it first).
func applyStep(tx *gorm.DB, dialect, table string, s step) (string, error) {
	var n int64
	q := "SELECT COUNT(*) FROM " + sqldb.Quote(dialect, VersionsTable) + " WHERE table_name = ? AND version = ?"
	if err := tx.Raw(q, table, s.version).Scan(&n).Error; err != nil {
		return "", fmt.Errorf("read %s: %w", VersionsTable, err)
	}
	if n > 0 {
		return "", nil
	}
	creates := s.version == firstStep(s.kind) && !s.kind.isTrigger()
	line := fmt.Sprintf("applied %s to table %q (%s)", s.version, table, dialect)
	if creates && tx.Migrator().HasTable(table) {
		line = fmt.Sprintf("found existing table %q (%s, %s)", table, s.version, dialect)
	} else {
		if creates {
			line = fmt.Sprintf("created table %q (%s, %s)", table, s.version, dialect)
		}
		stmts, err := statements(dialect, s.version, table)
		if err != nil {
			return "", err
		}
		for _, stmt := range stmts {
			if err := tx.Exec(stmt).Error; err != nil {
				if !indexExisted(dialect, stmt, err) {
					return "", fmt.Errorf("%s on table %q: %w", s.version, table, err)
				}
				tx.Error = nil // MySQL's run holds one gorm instance, which keeps the error
			}
		}
	}
	ins := "INSERT INTO " + sqldb.Quote(dialect, VersionsTable) + " (table_name, version, kind, applied_at) VALUES (?, ?, ?, ?)"
	if err := tx.Exec(ins, table, s.version, string(s.kind), time.Now().Unix()).Error; err != nil {
		if sqldb.IsUniqueViolation(err) {
			return "", nil
		}
		return "", fmt.Errorf("record %s for table %q: %w", s.version, table, err)
	}
	return line, nil
}

// indexExisted reports whether err is MySQL refusing stmt, a CREATE INDEX, because the index is
// already there: MySQL has no CREATE INDEX IF NOT EXISTS (MariaDB has), and its DDL commits at
// once, so a run that created the index but died before recording the step must not fail on
// the next. The other dialects' files say IF NOT EXISTS.
func indexExisted(dialect, stmt string, err error) bool {
	return dialect == sqldb.MySQL && strings.HasPrefix(stmt, "CREATE INDEX ") && sqldb.IsDuplicateKeyName(err)
}

// forgetDropped deletes the records of a table that no longer exists (someone dropped it to
// start over), so Apply creates it again instead of believing it is there.
func forgetDropped(tx *gorm.DB, dialect, table string) error {
	if tx.Migrator().HasTable(table) {
		return nil
	}
	del := "DELETE FROM " + sqldb.Quote(dialect, VersionsTable) + " WHERE table_name = ?"
	if err := tx.Exec(del, table).Error; err != nil {
		return fmt.Errorf("forget dropped table %q: %w", table, err)
	}
	return nil
}

// Missing returns the targets whose tables do not exist in db, so a caller can say which tables
// `qctl migrate` would create.
func Missing(ctx context.Context, db *gorm.DB, targets ...Target) ([]Target, error) {
	var missing []Target
	m := db.WithContext(ctx).Migrator()
	for _, t := range targets {
		if err := sqldb.CheckTable(t.TableName()); err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		if !m.HasTable(t.TableName()) {
			missing = append(missing, t)
		}
	}
	// HasTable hides its query's error; a dead connection must not read as "missing".
	if len(missing) > 0 {
		if err := pingDB(ctx, db); err != nil {
			return nil, fmt.Errorf("migrations: check tables: %w", err)
		}
	}
	return missing, nil
}

func pingDB(ctx context.Context, db *gorm.DB) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

func firstStep(k Kind) string {
	for _, s := range steps {
		if s.kind == k {
			return s.version
		}
	}
	return ""
}

func checkTargets(dialect string, targets []Target) error {
	switch dialect {
	case sqldb.SQLite, sqldb.Postgres, sqldb.MySQL:
	default:
		return fmt.Errorf("migrations: unknown dialect %q (want sqlite, postgres or mysql)", dialect)
	}
	for _, t := range targets {
		if firstStep(t.Kind) == "" {
			return fmt.Errorf("migrations: unknown kind %q (want jobs, failed_jobs, think_jobs, think_failed_jobs, signals, jobs_notify, think_jobs_notify, job_batches or fleet)", t.Kind)
		}
		if err := sqldb.CheckTable(t.TableName()); err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		if t.Kind.isTrigger() && dialect != sqldb.Postgres {
			return fmt.Errorf("migrations: %s is a PostgreSQL trigger; dialect %s has no NOTIFY", t.Kind, dialect)
		}
	}
	return nil
}

func dedupe(targets []Target) []Target {
	seen := map[Target]bool{}
	var out []Target
	for _, t := range targets {
		t.Table = t.TableName()
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// statements reads one file for dialect, puts table in for {{table}} (and its NOTIFY channel for
// {{channel}}) and splits it into statements at semicolons that end a line (other semicolons in
// the files are inside a line).
func statements(dialect, version, table string) ([]string, error) {
	b, err := files.ReadFile("sql/" + dialect + "/" + version + ".sql")
	if err != nil {
		return nil, fmt.Errorf("embedded %s/%s.sql: %w", dialect, version, err)
	}
	fill := strings.NewReplacer("{{table}}", table, "{{channel}}", sqldb.NotifyChannel(table))
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		cur.WriteString("\n")
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, fill.Replace(strings.TrimSpace(cur.String())))
			cur.Reset()
		}
	}
	if strings.TrimSpace(cur.String()) != "" {
		return nil, fmt.Errorf("embedded %s/%s.sql: last statement has no semicolon", dialect, version)
	}
	return out, nil
}

// versionsDDL creates qctl_migrations, the one table not made from a numbered file (it records
// them). Like the files, it never changes.
func versionsDDL(dialect string) string {
	q := func(s string) string { return sqldb.Quote(dialect, s) }
	ddl := "CREATE TABLE IF NOT EXISTS " + q(VersionsTable) + " (" +
		q("table_name") + " varchar(64) NOT NULL, " +
		q("version") + " varchar(64) NOT NULL, " +
		q("kind") + " varchar(32) NOT NULL, " +
		q("applied_at") + " bigint NOT NULL, " +
		"PRIMARY KEY (" + q("table_name") + ", " + q("version") + "))"
	if dialect == sqldb.MySQL {
		ddl += " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
	}
	return ddl
}
