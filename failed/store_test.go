package failed_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/internal/sqldb"
)

type dialect struct{ name, dsn, addr, how string }

var dialects = []dialect{
	{"sqlite", "", "", ""},
	{"postgres", "host=127.0.0.1 user=postgres dbname=test sslmode=disable", "127.0.0.1:5432", "pg_ctlcluster 15 main start"},
	{"mysql", "root@tcp(127.0.0.1:3306)/test?parseTime=true", "127.0.0.1:3306", "start-stop-daemon --start --background --exec /usr/sbin/mariadbd"},
}

// clock is a settable time for failed_at.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

// open returns a store on its own table, dropped when the test ends.
func open(t *testing.T, d dialect, c *clock) *failed.Store {
	t.Helper()
	s, _ := openLayout(t, d, c, failed.LayoutDetect)
	return s
}

// openLayout returns a store of layout on its own table, dropped when the test ends, and a
// place for the test to reach that table directly.
func openLayout(t *testing.T, d dialect, c *clock, layout failed.Layout) (*failed.Store, tableRef) {
	t.Helper()
	ref := newTable(t, d)
	s, err := failed.Open(context.Background(), failed.Options{Dialect: d.name, DSN: ref.dsn, Table: ref.table, Layout: layout, AutoMigrate: true, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ref
}

// tableRef is a test's table: its database and name.
type tableRef struct {
	dialect, dsn, table string
}

// newTable picks a unique table name in d's database and drops the table (and its
// qctl_migrations rows) when the test ends.
func newTable(t *testing.T, d dialect) tableRef {
	t.Helper()
	dsn := d.dsn
	if d.name == "sqlite" {
		dsn = filepath.Join(t.TempDir(), "failed.db")
	} else {
		connectortest.RequireService(t, d.name, d.addr, d.how)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ref := tableRef{d.name, dsn, "failed_jobs_t" + hex.EncodeToString(b)}
	t.Cleanup(func() {
		if d.name == "sqlite" {
			return
		}
		db, err := sqldb.Open(context.Background(), d.name, dsn)
		if err != nil {
			t.Errorf("dropping %s: %v", ref.table, err)
			return
		}
		if err := db.Exec("DROP TABLE IF EXISTS " + sqldb.Quote(d.name, ref.table)).Error; err != nil {
			t.Errorf("dropping %s: %v", ref.table, err)
		}
		db.Exec("DELETE FROM qctl_migrations WHERE table_name = ?", ref.table)
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return ref
}

// exec runs statements on ref's database.
func (ref tableRef) exec(t *testing.T, stmts ...string) {
	t.Helper()
	for _, st := range stmts {
		ref.execArgs(t, st)
	}
}

// db connects to ref's database for the rest of the test.
func (ref tableRef) db(t *testing.T) *gorm.DB {
	t.Helper()
	db, err := sqldb.Open(context.Background(), ref.dialect, ref.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			sqlDB.Close()
		}
	})
	return db
}

// execArgs runs one statement with arguments on ref's database.
func (ref tableRef) execArgs(t *testing.T, stmt string, args ...any) {
	t.Helper()
	if err := ref.db(t).Exec(strings.ReplaceAll(stmt, "{{table}}", sqldb.Quote(ref.dialect, ref.table)), args...).Error; err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func TestStore(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			s := open(t, d, c)

			id := uuid.NewString()
			payload := []byte(`{"uuid":"` + id + `","displayName":"SendEmail","job":"SendEmail","data":{"to":"<a@b.c>"}}`)
			got, err := s.Log(ctx, "redis", "emails", payload, "smtp refused\nstack line")
			if err != nil || got != id {
				t.Fatalf("Log = %q, %v; want the payload's uuid %q", got, err, id)
			}
			rec, err := s.Find(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Connection != "redis" || rec.Queue != "emails" || string(rec.Payload) != string(payload) ||
				rec.Exception != "smtp refused\nstack line" || !rec.FailedAt.Equal(c.now) {
				t.Fatalf("Find = %+v", rec)
			}

			// The same job failing twice keeps both records; a payload that is not JSON gets an id.
			again, err := s.Log(ctx, "redis", "emails", payload, "again")
			if err != nil || again == id || again == "" {
				t.Fatalf("second Log of the same uuid = %q, %v", again, err)
			}
			c.now = c.now.Add(2 * time.Hour)
			garbage, err := s.Log(ctx, "database", "default", []byte("not json"), "bad payload")
			if err != nil || uuid.Validate(garbage) != nil {
				t.Fatalf("Log of a non-JSON payload = %q, %v", garbage, err)
			}

			recs, total, err := s.List(ctx, failed.Filter{Limit: 2})
			if err != nil || total != 3 || len(recs) != 2 || recs[0].ID != garbage || recs[1].ID != again {
				t.Fatalf("List(limit 2) = %d of %d, first %v; want newest first", len(recs), total, recs)
			}
			recs, total, _ = s.List(ctx, failed.Filter{Queue: "emails"})
			if total != 2 || len(recs) != 2 {
				t.Fatalf("List(queue emails) = %d of %d, want 2", len(recs), total)
			}

			if err := s.Forget(ctx, again); err != nil {
				t.Fatal(err)
			}
			if err := s.Forget(ctx, again); !errors.Is(err, failed.ErrNotFound) {
				t.Fatalf("second Forget = %v, want ErrNotFound", err)
			}
			if _, err := s.Find(ctx, again); !errors.Is(err, failed.ErrNotFound) {
				t.Fatalf("Find of a forgotten job = %v, want ErrNotFound", err)
			}

			// Flush --hours=1 keeps the job that failed at 14:00 and deletes the one from 12:00.
			c.now = c.now.Add(30 * time.Minute)
			n, err := s.Flush(ctx, time.Hour)
			if err != nil || n != 1 {
				t.Fatalf("Flush(1h) = %d, %v; want 1", n, err)
			}
			if _, err := s.Find(ctx, garbage); err != nil {
				t.Fatalf("Flush(1h) deleted a job 30 minutes old: %v", err)
			}
			if n, err := s.Flush(ctx, 0); err != nil || n != 1 {
				t.Fatalf("Flush(all) = %d, %v; want 1", n, err)
			}
		})
	}
}
