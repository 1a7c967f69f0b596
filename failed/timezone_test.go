package failed_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/qctl/qctl/failed"
	"github.com/qctl/qctl/internal/sqldb"
)

// shanghai is ThinkPHP's default zone and eight hours from UTC, so a time read in the wrong zone
// is far from the right one.
func shanghai(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// storedText reads the time column of the row whose id column is id, as the database prints it.
func (ref tableRef) storedText(t *testing.T, col, idCol, id string) string {
	t.Helper()
	cast := "CAST(" + col + " AS TEXT)"
	if ref.dialect == sqldb.MySQL {
		cast = "CAST(" + col + " AS CHAR)"
	}
	var text string
	if err := ref.db(t).Raw("SELECT "+cast+" FROM "+sqldb.Quote(ref.dialect, ref.table)+" WHERE "+idCol+" = ?", id).Row().Scan(&text); err != nil {
		t.Fatal(err)
	}
	return text
}

// TestTimezone: with Location set to the PHP side's zone, qctl writes failure times as PHP does
// (the wall clock in that zone), reads its own rows and PHP's back as the instants they were,
// and filters and flushes by those instants, in both layouts on every dialect.
func TestTimezone(t *testing.T) {
	loc := shanghai(t)
	for _, d := range dialects {
		for _, layout := range []failed.Layout{failed.LayoutLaravel, failed.LayoutThink} {
			t.Run(d.name+"/"+string(layout), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				// The table: think-queue wrote 16:47:58 Shanghai time, qctl six seconds later.
				phpAt := time.Date(2026, 12, 3, 8, 47, 58, 0, time.UTC)
				c := &clock{now: phpAt.Add(6 * time.Second)}
				ref := newTable(t, d)
				s, err := failed.Open(ctx, failed.Options{Dialect: d.name, DSN: ref.dsn, Table: ref.table, Layout: layout, AutoMigrate: true, Now: c.Now, Location: loc})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				timeCol, idCol := "failed_at", "uuid"
				if layout == failed.LayoutThink {
					timeCol, idCol = "fail_time", "id"
				}
				if layout == failed.LayoutThink {
					ref.execArgs(t, `INSERT INTO {{table}} (connection, queue, payload, exception, fail_time) VALUES ('redis', 'php', '{"job":"A","data":null}', 'php', ?)`, "2026-12-03 16:47:58")
				} else {
					ref.execArgs(t, `INSERT INTO {{table}} (uuid, connection, queue, payload, exception, failed_at) VALUES ('9a1b0c2d-0000-4000-8000-000000000001', 'redis', 'php', '{"job":"A","data":null}', 'php', ?)`, "2026-12-03 16:47:58")
				}
				id, err := s.Log(ctx, "redis", "qctl", []byte(`{"job":"B","data":null}`), "qctl")
				if err != nil {
					t.Fatal(err)
				}
				if got := ref.storedText(t, timeCol, idCol, id); got != "2026-12-03 16:48:04" {
					t.Errorf("qctl stored %s = %q, want Shanghai's wall clock %q as PHP writes it", timeCol, got, "2026-12-03 16:48:04")
				}

				recs, _, err := s.List(ctx, failed.Filter{})
				if err != nil || len(recs) != 2 {
					t.Fatalf("List = %+v, %v", recs, err)
				}
				for _, r := range recs {
					want := map[string]time.Time{"php": phpAt, "qctl": c.now}[r.Queue]
					if !r.FailedAt.Equal(want) || r.FailedAt.Location() != loc {
						t.Errorf("%s's row read as %v, want %v in Asia/Shanghai", r.Queue, r.FailedAt, want.In(loc))
					}
				}
				for _, tc := range []struct {
					f    failed.Filter
					want string
				}{
					{failed.Filter{Since: phpAt.Add(time.Second)}, "qctl"},
					{failed.Filter{Before: phpAt.Add(time.Second)}, "php"},
				} {
					if recs, _, err := s.List(ctx, tc.f); err != nil || len(recs) != 1 || recs[0].Queue != tc.want {
						t.Errorf("List(%+v) = %+v, %v; want only %s's row", tc.f, recs, err, tc.want)
					}
				}

				// An hour and three seconds after PHP's failure, flush --hours=1 deletes its row only.
				c.now = phpAt.Add(time.Hour + 3*time.Second)
				if n, err := s.Flush(ctx, time.Hour); err != nil || n != 1 {
					t.Fatalf("Flush(1h) = %d, %v; want PHP's row only", n, err)
				}
				if _, err := s.Find(ctx, id); err != nil {
					t.Errorf("Flush(1h) deleted qctl's row 59 minutes old: %v", err)
				}
			})
		}
	}
}

// TestTimezoneUnixFailTime: unix seconds carry no zone, so a think-queue table with an integer
// fail_time stores the same number whatever Location is, and reads it back in Location.
func TestTimezoneUnixFailTime(t *testing.T) {
	loc := shanghai(t)
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ref := unixFailTimeTable(t, d)
			c := &clock{now: time.Unix(1796287684, 0)}
			s, err := failed.Open(ctx, failed.Options{Dialect: d.name, DSN: ref.dsn, Table: ref.table, Layout: failed.LayoutThink, Now: c.Now, Location: loc})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			id, err := s.Log(ctx, "redis", "default", []byte(`{"job":"C","data":null}`), "e")
			if err != nil {
				t.Fatal(err)
			}
			if got := ref.storedText(t, "fail_time", "id", id); got != strconv.FormatInt(c.now.Unix(), 10) {
				t.Errorf("fail_time stored as %q, want unix seconds %d", got, c.now.Unix())
			}
			if rec, err := s.Find(ctx, id); err != nil || !rec.FailedAt.Equal(c.now) || rec.FailedAt.Location() != loc {
				t.Errorf("Find(%s) = %+v, %v; want %v", id, rec, err, c.now.In(loc))
			}
		})
	}
}
