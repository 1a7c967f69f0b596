package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
)

func TestOpenSQLiteSetsPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, err := Open(context.Background(), SQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"busy_timeout": "10000",
		"synchronous":  "1", // NORMAL
	} {
		var got string
		if err := db.Raw("PRAGMA " + pragma).Scan(&got).Error; err != nil {
			t.Fatalf("PRAGMA %s: %v", pragma, err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
		}
	}
	if n := sqlDB.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("SQLite pool allows %d connections, want 1", n)
	}
}

// TestSQLiteImmediateTransactions checks that BEGIN takes the write lock at once: a writer that
// does not wait (busy_timeout 0) is refused while another connection's transaction is merely open.
// With deferred transactions it would get in, and the open transaction's first write after a read
// could then fail with SQLITE_BUSY without waiting.
func TestSQLiteImmediateTransactions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	ctx := context.Background()
	a, err := Open(ctx, SQLite, path)
	if err != nil {
		t.Fatal(err)
	}
	adb, _ := a.DB()
	defer adb.Close()
	if _, err := adb.Exec("CREATE TABLE t (n integer)"); err != nil {
		t.Fatal(err)
	}
	impatient, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()

	tx, err := adb.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = impatient.Exec("INSERT INTO t VALUES (2)")
	if err == nil {
		t.Fatal("a write got in while another connection's transaction was open: BEGIN is not IMMEDIATE")
	}
	if !IsConnectionError(err) {
		t.Errorf("IsConnectionError(%v) = false for SQLITE_BUSY", err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if _, err := impatient.Exec("INSERT INTO t VALUES (2)"); err != nil {
		t.Fatalf("write after the transaction ended: %v", err)
	}
}

func TestOpenServers(t *testing.T) {
	for _, tc := range []struct{ name, dialect, addr, dsn string }{
		{"PostgreSQL", Postgres, "127.0.0.1:5432", "host=127.0.0.1 user=postgres dbname=test sslmode=disable"},
		{"MariaDB", MySQL, "127.0.0.1:3306", "root@tcp(127.0.0.1:3306)/test"},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			connectortest.RequireService(t, tc.name, tc.addr, "sudo service "+strings.ToLower(tc.name)+" start")
			db, err := Open(context.Background(), tc.dialect, tc.dsn)
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, _ := db.DB()
			defer sqlDB.Close()
			if db.Dialector.Name() != tc.dialect {
				t.Errorf("gorm dialect = %q, want %q", db.Dialector.Name(), tc.dialect)
			}
			var one int
			if err := db.Raw("SELECT 1").Scan(&one).Error; err != nil || one != 1 {
				t.Fatalf("SELECT 1 = %d, %v", one, err)
			}
			if tc.dialect == MySQL {
				var iso string
				if err := db.Raw("SELECT @@tx_isolation").Scan(&iso).Error; err != nil || iso != "READ-COMMITTED" {
					t.Errorf("isolation = %q, %v; want READ-COMMITTED", iso, err)
				}
			}
		})
	}
}

func TestOpenUnreachable(t *testing.T) {
	for _, tc := range []struct{ dialect, dsn, host string }{
		{Postgres, "postgres://qctl:pa55word@127.0.0.1:1/test?sslmode=disable", "127.0.0.1:1"},
		{MySQL, "qctl:pa55word@tcp(127.0.0.1:1)/test", "127.0.0.1:1"},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			start := time.Now()
			_, err := Open(context.Background(), tc.dialect, tc.dsn)
			if !errors.Is(err, ErrUnreachable) {
				t.Fatalf("Open = %v, want ErrUnreachable", err)
			}
			if time.Since(start) > 10*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			msg := err.Error()
			if strings.Contains(msg, "pa55word") || !strings.Contains(msg, tc.host) || !strings.Contains(msg, tc.dialect) {
				t.Errorf("error %q: want dialect and host, never the password", msg)
			}
			if !IsConnectionError(err) {
				t.Errorf("IsConnectionError(%v) = false", err)
			}
		})
	}
}

func TestOpenUnknownDialect(t *testing.T) {
	if _, err := Open(context.Background(), "oracle", "x"); err == nil || !strings.Contains(err.Error(), "oracle") {
		t.Fatalf("Open(oracle) = %v", err)
	}
}

func TestCheckTable(t *testing.T) {
	for name, ok := range map[string]bool{
		"jobs": true, "jobs_2": true, "_x": true, "": false, "2jobs": false, "jobs;drop": false,
		`jo"bs`: false, "public.jobs": false, strings.Repeat("a", 64): true, strings.Repeat("a", 65): false,
	} {
		if err := CheckTable(name); (err == nil) != ok {
			t.Errorf("CheckTable(%q) = %v, want ok=%v", name, err, ok)
		}
	}
}

// A server that answers but refuses the login or has no such database is no outage: waiting would
// not fix it, so a worker must report it at once rather than wait for the server.
func TestOpenRefusedIsNotUnavailable(t *testing.T) {
	for _, tc := range []struct{ name, dialect, addr, dsn string }{
		{"PostgreSQL", Postgres, "127.0.0.1:5432", "host=127.0.0.1 user=qctl_no_such_role dbname=test sslmode=disable"},
		{"PostgreSQL", Postgres, "127.0.0.1:5432", "host=127.0.0.1 user=postgres dbname=qctl_no_such_db sslmode=disable"},
		{"MariaDB", MySQL, "127.0.0.1:3306", "qctl_no_such_user:x@tcp(127.0.0.1:3306)/test"},
		{"MariaDB", MySQL, "127.0.0.1:3306", "root@tcp(127.0.0.1:3306)/qctl_no_such_db"},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			connectortest.RequireService(t, tc.name, tc.addr, "sudo service "+strings.ToLower(tc.name)+" start")
			_, err := Open(context.Background(), tc.dialect, tc.dsn)
			if err == nil || errors.Is(err, ErrUnreachable) {
				t.Fatalf("Open(%s) = %v, want an error that is not ErrUnreachable", tc.dsn, err)
			}
		})
	}
}

// TestCheckSQLiteFileNamesTheProblem: what SQLite reports as "out of memory" is named before the
// database is opened: a missing directory, a "directory" that is a file, and (for a user other
// than root, whom access(2) lets write anything) a directory or file that cannot be written.
func TestCheckSQLiteFileNamesTheProblem(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for dsn, want := range map[string]string{
		filepath.Join(dir, "nodir", "q.db"): "nodir does not exist",
		filepath.Join(file, "q.db"):         "plain is not a directory",
		filepath.Join(dir, "q.db") + "?x=1": "",
		"file::memory:?cache=shared":        "",
	} {
		err := CheckSQLiteFile(dsn)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckSQLiteFile(%q) = %v, want %q", dsn, err, want)
		}
	}
	if _, err := Open(context.Background(), SQLite, filepath.Join(file, "q.db")); err == nil || !strings.Contains(err.Error(), "is not a directory") {
		t.Errorf("Open under a file: %v, want the check's error", err)
	}
	if os.Geteuid() == 0 {
		t.Log("running as root: access(2) grants writing everything, so the unwritable cases are not checked")
		return
	}
	ro := filepath.Join(dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if err := CheckSQLiteFile(filepath.Join(ro, "q.db")); err == nil || !strings.Contains(err.Error(), "is not writable") {
		t.Errorf("a database to create in a read-only directory: %v, want it named not writable", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ro.db"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	if err := CheckSQLiteFile(filepath.Join(dir, "ro.db")); err == nil || !strings.Contains(err.Error(), "ro.db is not writable") {
		t.Errorf("a read-only database file: %v, want it named not writable", err)
	}
}
