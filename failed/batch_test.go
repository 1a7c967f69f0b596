package failed_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/qctl/qctl/failed"
)

// payload builds a Laravel string-job payload for name with a fresh uuid.
func payload(name, data string) []byte {
	display, _, _ := strings.Cut(name, "@")
	j := func(s string) string { return strconv.Quote(s) } // no non-ASCII or HTML here
	return []byte(`{"uuid":"` + uuid.NewString() + `","displayName":` + j(display) + `,"job":` + j(name) + `,"maxTries":null,"data":` + data + `}`)
}

func ids(recs []failed.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

// TestFiltersPagesAndForgetN covers what `failed` and `retry` select with, on both layouts and
// every dialect: --job (by displayName, job, job@method, a PHP class name with backslashes; LIKE's
// wildcards taken literally), --since/--before, --range, keyset pages and batch deletes.
func TestFiltersPagesAndForgetN(t *testing.T) {
	for _, d := range dialects {
		for _, layout := range []failed.Layout{failed.LayoutLaravel, failed.LayoutThink} {
			t.Run(d.name+"/"+string(layout), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				c := &clock{now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
				s, _ := openLayout(t, d, c, layout)
				if s.Layout() != layout {
					t.Fatalf("Layout() = %q, want %q", s.Layout(), layout)
				}
				log := func(queue string, p []byte) failed.Record {
					t.Helper()
					id, err := s.Log(ctx, "database", queue, p, "boom")
					if err != nil {
						t.Fatal(err)
					}
					rec, err := s.Find(ctx, id)
					if err != nil {
						t.Fatalf("Find(%q) after Log: %v", id, err)
					}
					c.now = c.now.Add(time.Hour)
					return *rec
				}
				send := log("mail", payload("SendEmail@handle", `{"to":"a"}`))        // 10:00
				class := log("mail", payload(`App\Jobs\Send_Report`, `null`))         // 11:00
				percent := log("default", payload("Send%Email", `null`))              // 12:00
				nested := log("default", payload("Other", `{"job":"SendEmail"}`))     // 13:00, matches by its data
				think := log("default", []byte(`{"job":"SendEmail","data":{"n":1}}`)) // 14:00

				if layout == failed.LayoutThink {
					if _, err := strconv.ParseInt(send.ID, 10, 64); err != nil || send.ID != strconv.FormatInt(send.RowID, 10) {
						t.Fatalf("think-queue id = %q (row %d), want the integer row id", send.ID, send.RowID)
					}
				} else if uuid.Validate(send.ID) != nil {
					t.Fatalf("Laravel id = %q, want a uuid", send.ID)
				}

				cases := []struct {
					name string
					f    failed.Filter
					want []failed.Record // newest first
				}{
					{"job by name and name@method", failed.Filter{Job: "SendEmail"}, []failed.Record{think, nested, send}},
					{"job by class with backslashes and _", failed.Filter{Job: `App\Jobs\Send_Report`}, []failed.Record{class}},
					{"_ is not a wildcard", failed.Filter{Job: `App\Jobs\SendXReport`}, nil},
					{"% is not a wildcard", failed.Filter{Job: "Send%"}, nil},
					{"% in a name", failed.Filter{Job: "Send%Email"}, []failed.Record{percent}},
					{"job and queue", failed.Filter{Job: "SendEmail", Queue: "mail"}, []failed.Record{send}},
					{"since", failed.Filter{Since: c.now.Add(-2 * time.Hour)}, []failed.Record{think, nested}},
					{"before", failed.Filter{Before: time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC)}, []failed.Record{send}},
					{"since and before", failed.Filter{Since: time.Date(2026, 11, 21, 11, 0, 0, 0, time.UTC), Before: time.Date(2026, 11, 21, 13, 0, 0, 0, time.UTC)}, []failed.Record{percent, class}},
					{"ranges", failed.Filter{Ranges: []failed.Range{{send.RowID, class.RowID}, {think.RowID, think.RowID}}}, []failed.Record{think, class, send}},
				}
				for _, tc := range cases {
					recs, total, err := s.List(ctx, tc.f)
					if err != nil {
						t.Fatalf("%s: %v", tc.name, err)
					}
					if !slices.Equal(ids(recs), ids(tc.want)) || total != int64(len(tc.want)) {
						t.Errorf("%s: List = %v (total %d), want %v", tc.name, ids(recs), total, ids(tc.want))
					}
				}

				// Pages walk oldest first from after, and skip rows deleted between pages.
				page, err := s.Page(ctx, failed.Filter{}, 0, 2)
				if err != nil || !slices.Equal(ids(page), []string{send.ID, class.ID}) {
					t.Fatalf("first page = %v, %v", ids(page), err)
				}
				if n, err := s.ForgetN(ctx, []int64{percent.RowID, nested.RowID, 999999}); err != nil || n != 2 {
					t.Fatalf("ForgetN = %d, %v; want 2 (the unknown id skipped)", n, err)
				}
				page, err = s.Page(ctx, failed.Filter{}, page[1].RowID, 2)
				if err != nil || !slices.Equal(ids(page), []string{think.ID}) {
					t.Fatalf("second page = %v, %v; want only the row not forgotten", ids(page), err)
				}
				page, err = s.Page(ctx, failed.Filter{Queue: "mail"}, send.RowID, 10)
				if err != nil || !slices.Equal(ids(page), []string{class.ID}) {
					t.Fatalf("filtered page = %v, %v", ids(page), err)
				}
				if n, err := s.Count(ctx, failed.Filter{}); err != nil || n != 3 {
					t.Fatalf("Count = %d, %v; want 3", n, err)
				}
			})
		}
	}
}

// TestForgetNManyChunks deletes more ids than one statement takes.
func TestForgetNManyChunks(t *testing.T) {
	ctx := context.Background()
	s, _ := openLayout(t, dialects[0], &clock{now: time.Now()}, failed.LayoutLaravel)
	var rows []int64
	for i := 0; i < 2500; i++ {
		id, err := s.Log(ctx, "database", "default", payload("Record", fmt.Sprint(i)), "boom")
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			rec, _ := s.Find(ctx, id)
			rows = append(rows, rec.RowID)
		}
	}
	if n, err := s.ForgetN(ctx, rows); err != nil || n != 1250 {
		t.Fatalf("ForgetN(1250 ids) = %d, %v", n, err)
	}
	if n, _ := s.Count(ctx, failed.Filter{}); n != 1250 {
		t.Fatalf("%d left, want 1250", n)
	}
}

// TestThinkQueueTable reads and writes think-queue 3's failed table: integer ids users type,
// fail_time, no uuid, and refuses a Laravel table opened as think-queue's (and the reverse).
func TestThinkQueueTable(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			c := &clock{now: time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)}
			s, ref := openLayout(t, d, c, failed.LayoutThink)

			// A row as think-queue's PHP writes it: no fail_time value, the database's default.
			ref.execArgs(t, `INSERT INTO {{table}} (connection, queue, payload, exception) VALUES ('redis', 'emails', ?, ?)`,
				`{"job":"app\\job\\Mail","maxTries":null,"timeout":null,"data":{"to":"x"},"id":"abc","attempts":3}`, `think\exception\ErrorException: boom`)
			recs, total, err := s.List(ctx, failed.Filter{})
			if err != nil || total != 1 {
				t.Fatalf("List of a PHP row = %v, %d, %v", recs, total, err)
			}
			php := recs[0]
			if php.ID != strconv.FormatInt(php.RowID, 10) || php.Connection != "redis" || php.Queue != "emails" || php.FailedAt.IsZero() ||
				!strings.Contains(string(php.Payload), `"attempts":3`) || php.Exception != `think\exception\ErrorException: boom` {
				t.Fatalf("PHP row read as %+v", php)
			}

			id, err := s.Log(ctx, "database", "default", []byte(`{"job":"Mail","data":null}`), "boom")
			if err != nil {
				t.Fatal(err)
			}
			if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= php.RowID {
				t.Fatalf("Log = %q, %v; want the next integer id after %d", id, err, php.RowID)
			}
			rec, err := s.Find(ctx, id)
			if err != nil || !rec.FailedAt.Equal(c.now) || rec.Queue != "default" {
				t.Fatalf("Find(%s) = %+v, %v", id, rec, err)
			}
			for _, bad := range []string{"x", "0", uuid.NewString()} {
				if _, err := s.Find(ctx, bad); !errors.Is(err, failed.ErrNotFound) {
					t.Errorf("Find(%q) = %v, want ErrNotFound", bad, err)
				}
				if err := s.Forget(ctx, bad); !errors.Is(err, failed.ErrNotFound) {
					t.Errorf("Forget(%q) = %v, want ErrNotFound", bad, err)
				}
			}
			if err := s.Forget(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Find(ctx, id); !errors.Is(err, failed.ErrNotFound) {
				t.Fatalf("Find after Forget = %v", err)
			}

			// The two layouts are not mixed up.
			if _, err := failed.Open(ctx, failed.Options{Dialect: d.name, DSN: ref.dsn, Table: ref.table, Layout: failed.LayoutLaravel, AutoMigrate: true}); err == nil || !strings.Contains(err.Error(), "uuids = false") {
				t.Errorf("opening think-queue's table as Laravel's = %v, want a refusal naming uuids", err)
			}
			if detected, err := failed.Open(ctx, failed.Options{Dialect: d.name, DSN: ref.dsn, Table: ref.table, AutoMigrate: true}); err != nil || detected.Layout() != failed.LayoutThink {
				t.Errorf("detecting the layout = %v", err)
			} else {
				detected.Close()
			}
			_, laravel := openLayout(t, d, c, failed.LayoutLaravel)
			if _, err := failed.Open(ctx, failed.Options{Dialect: d.name, DSN: laravel.dsn, Table: laravel.table, Layout: failed.LayoutThink, AutoMigrate: true}); err == nil || !strings.Contains(err.Error(), "Laravel's") {
				t.Errorf("opening Laravel's table as think-queue's = %v, want a refusal", err)
			}
		})
	}
}

// unixFailTimeTable makes a think-queue failed table by hand with fail_time as unix seconds.
func unixFailTimeTable(t *testing.T, d dialect) tableRef {
	t.Helper()
	ref := newTable(t, d)
	idCol := map[string]string{
		"sqlite":   "id integer PRIMARY KEY AUTOINCREMENT NOT NULL",
		"postgres": "id serial PRIMARY KEY",
		"mysql":    "id int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY",
	}[d.name]
	ref.exec(t, "CREATE TABLE {{table}} ("+idCol+", connection text NOT NULL, queue text NOT NULL, payload text NOT NULL, exception text NOT NULL, fail_time int NOT NULL)")
	return ref
}

// TestThinkQueueUnixFailTime reads a think-queue table made by hand with fail_time as unix
// seconds (an integer column), the other shape teams have in production.
func TestThinkQueueUnixFailTime(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ref := unixFailTimeTable(t, d)
			ref.exec(t,
				`INSERT INTO {{table}} (connection, queue, payload, exception, fail_time) VALUES ('redis', 'old', '{"job":"A","data":null}', 'e1', 1795000000)`,
				`INSERT INTO {{table}} (connection, queue, payload, exception, fail_time) VALUES ('redis', 'new', '{"job":"B","data":null}', 'e2', 1795007200)`)
			c := &clock{now: time.Unix(1795007200+1800, 0)}
			s, err := failed.Open(ctx, failed.Options{Dialect: d.name, DSN: ref.dsn, Table: ref.table, Layout: failed.LayoutThink, Now: c.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			recs, _, err := s.List(ctx, failed.Filter{Since: time.Unix(1795003600, 0)})
			if err != nil || len(recs) != 1 || recs[0].Queue != "new" || !recs[0].FailedAt.Equal(time.Unix(1795007200, 0)) {
				t.Fatalf("List(since) = %+v, %v", recs, err)
			}
			id, err := s.Log(ctx, "database", "default", []byte(`{"job":"C","data":null}`), "e3")
			if err != nil {
				t.Fatal(err)
			}
			if rec, err := s.Find(ctx, id); err != nil || !rec.FailedAt.Equal(c.now) {
				t.Fatalf("Find(%s) = %+v, %v; want fail_time %v", id, rec, err, c.now)
			}
			if n, err := s.Flush(ctx, time.Hour); err != nil || n != 1 {
				t.Fatalf("Flush(1h) = %d, %v; want the one older than an hour", n, err)
			}
		})
	}
}
