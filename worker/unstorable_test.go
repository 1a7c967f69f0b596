package worker_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// TestFailsJobsTheStoreCannotHoldVerbatim runs jobs whose payload or handler error holds bytes a
// PostgreSQL or MySQL text column refuses (invalid UTF-8, NUL) against a failed store on each
// dialect. Each must be recorded once, with its real reason, and deleted from the queue; before,
// the store's refusal made the worker release the job every minute, forever.
func TestFailsJobsTheStoreCannotHoldVerbatim(t *testing.T) {
	stores := []struct{ dialect, dsn, addr, how string }{
		{"sqlite", "", "", ""},
		{"postgres", "host=127.0.0.1 user=postgres dbname=test sslmode=disable", "127.0.0.1:5432", "pg_ctlcluster 15 main start"},
		{"mysql", "root@tcp(127.0.0.1:3306)/test?parseTime=true", "127.0.0.1:3306", "start-stop-daemon --start --background --exec /usr/sbin/mariadbd"},
	}
	cases := []struct {
		name, data, stderr, reason string
	}{
		{"payload 0xff", "a\xffb", "", "boom"},
		{"payload NUL", "a\x00b", "", "not valid JSON"}, // JSON forbids a raw NUL in a string
		{"exception 0xff and NUL", "ok", "stderr a\xffb\x00c", "boom"},
	}
	for _, st := range stores {
		t.Run(st.dialect, func(t *testing.T) {
			t.Parallel()
			for _, c := range cases {
				b := setup(t)
				b.failed = privateFailedStore(t, st.dialect, st.dsn, st.addr, st.how)
				b.handlers.Register("Bad", func(ctx context.Context, j *jobs.Job) error {
					return errors.New("boom " + c.stderr)
				})
				b.pushRaw("default", []byte(`{"uuid":"`+uuid.NewString()+`","displayName":"Bad","job":"Bad","maxTries":null,"data":"`+c.data+`"}`))
				b.run(b.worker(worker.Options{Tries: 1, StopWhenEmpty: true}))
				recs := b.failedRecords()
				if len(recs) != 1 {
					t.Fatalf("%s: %d failed records, want 1 (events %+v)", c.name, len(recs), b.events.events)
				}
				if ex := recs[0].Exception; !strings.Contains(ex, c.reason) || strings.Contains(ex, "too many times") {
					t.Errorf("%s: exception %q, want the real reason %q", c.name, ex, c.reason)
				}
				if n := b.size("default"); n != 0 {
					t.Errorf("%s: %d jobs left on the queue, want 0", c.name, n)
				}
			}
		})
	}
}

// privateFailedStore opens a failed store on its own table of dialect's database (a temporary
// SQLite file for "sqlite"), dropped when the test ends.
func privateFailedStore(t *testing.T, dialect, dsn, addr, how string) *failed.Store {
	t.Helper()
	if dialect == "sqlite" {
		dsn = t.TempDir() + "/failed.db"
	} else {
		connectortest.RequireService(t, dialect, addr, how)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	table := "failed_jobs_w" + hex.EncodeToString(suffix)
	ctx := context.Background()
	s, err := failed.Open(ctx, failed.Options{Dialect: dialect, DSN: dsn, Table: table, AutoMigrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if dialect != "sqlite" {
			if db, err := sqldb.Open(ctx, dialect, dsn); err == nil {
				db.Exec("DROP TABLE IF EXISTS " + sqldb.Quote(dialect, table))
				db.Exec("DELETE FROM qctl_migrations WHERE table_name = ?", table)
				if sqlDB, err := db.DB(); err == nil {
					sqlDB.Close()
				}
			}
		}
		s.Close()
	})
	return s
}
