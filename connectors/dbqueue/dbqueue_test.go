package dbqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
)

// row is a jobs row as PHP sees it.
type row struct {
	id, attempts           int64
	queue, payload         string
	reservedAt             sql.NullInt64
	availableAt, createdAt int64
}

// readRows returns queue's rows in id order, read with plain SQL beside the Queue; the time
// columns are those of q's format.
func readRows(t *testing.T, q *Queue, queue string) []row {
	t.Helper()
	query := "SELECT id, queue, payload, attempts, " + q.cols.reserved + ", " + q.cols.available + ", " + q.cols.created + " FROM " +
		sqldb.Quote(q.dialect, q.table) + " WHERE queue = ? ORDER BY id"
	if q.dialect == sqldb.Postgres {
		query = strings.Replace(query, "?", "$1", 1)
	}
	rows, err := q.db.QueryContext(context.Background(), query, queue)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.queue, &r.payload, &r.attempts, &r.reservedAt, &r.availableAt, &r.createdAt); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func eachDialect(t *testing.T, fn func(t *testing.T, d testDB)) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			fn(t, setup(t, dialect))
		})
	}
}

// TestWireFormat checks the rows PHP workers read: Laravel's columns after push, pop and release.
func TestWireFormat(t *testing.T) {
	eachDialect(t, func(t *testing.T, d testDB) {
		ctx := context.Background()
		clock := connectortest.NewClock()
		q := d.open(t, clock, 90*time.Second)
		start := clock.Now().Unix()
		payload := `{"uuid":"u","displayName":"SendEmail","job":"SendEmail@handle","data":{"to":"a@b"}}`

		id, err := q.Push(ctx, "emails", []byte(payload), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Push(ctx, "emails", []byte(`{"job":"Later"}`), 30*time.Second); err != nil {
			t.Fatal(err)
		}
		rows := readRows(t, q, "emails")
		if len(rows) != 2 {
			t.Fatalf("%d rows after two pushes", len(rows))
		}
		want := row{id: rows[0].id, queue: "emails", payload: payload, attempts: 0, availableAt: start, createdAt: start}
		if fmt.Sprint(rows[0].id) != id || rows[0] != want {
			t.Errorf("pushed row = %+v (id %s), want %+v", rows[0], id, want)
		}
		if r := rows[1]; r.availableAt != start+30 || r.createdAt != start || r.reservedAt.Valid || r.attempts != 0 {
			t.Errorf("delayed row = %+v, want available_at %d created_at %d", r, start+30, start)
		}

		clock.Advance(5 * time.Second)
		job, err := q.Pop(ctx, "emails")
		if err != nil || job == nil || job.ID != id || job.Attempts != 1 || string(job.Payload) != payload {
			t.Fatalf("Pop = %+v, %v", job, err)
		}
		r := readRows(t, q, "emails")[0]
		if r.attempts != 1 || !r.reservedAt.Valid || r.reservedAt.Int64 != start+5 {
			t.Errorf("popped row = %+v, want attempts 1 reserved_at %d", r, start+5)
		}

		clock.Advance(5 * time.Second)
		if err := q.Release(ctx, job, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		rows = readRows(t, q, "emails")
		last := rows[len(rows)-1]
		if len(rows) != 2 || fmt.Sprint(last.id) == id || last.id <= rows[0].id {
			t.Fatalf("after release rows = %+v: want the job under a new, higher id", rows)
		}
		want = row{id: last.id, queue: "emails", payload: payload, attempts: 1, availableAt: start + 20, createdAt: start + 10}
		if last != want {
			t.Errorf("released row = %+v, want %+v", last, want)
		}
	})
}

func TestNotMigrated(t *testing.T) {
	eachDialect(t, func(t *testing.T, d testDB) {
		o := d.options(connectortest.NewClock(), time.Minute)
		o.AutoMigrate = false
		q, err := Open(context.Background(), o)
		if err == nil {
			q.Close()
			t.Fatal("Open of a missing table succeeded")
		}
		if !errors.Is(err, connectors.ErrNotMigrated) {
			t.Fatalf("Open = %v, want ErrNotMigrated", err)
		}
		if msg := err.Error(); !strings.Contains(msg, d.table) || !strings.Contains(msg, "qctl migrate") {
			t.Errorf("error %q should name table %s and say to run qctl migrate", msg, d.table)
		}
	})
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct{ dialect, dsn string }{
		{sqldb.Postgres, "host=127.0.0.1 port=1 user=postgres password=s3cret dbname=test sslmode=disable"},
		{sqldb.MySQL, "root:s3cret@tcp(127.0.0.1:1)/test"},
		{sqldb.SQLite, "/nonexistent-dir/sub/queue.db"},
	} {
		t.Run(tc.dialect, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			q, err := Open(ctx, Options{Dialect: tc.dialect, DSN: tc.dsn, AutoMigrate: true})
			if err == nil {
				q.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, connectors.ErrUnavailable) {
				t.Errorf("Open = %v, want ErrUnavailable", err)
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("Open took %v to fail", took)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.dialect) {
				t.Errorf("error does not name the dialect: %v", err)
			}
		})
	}
}

// TestSQLiteProcesses runs 8 Queues, each with its own connection like separate worker processes,
// on one SQLite file: every job is popped exactly once and no write fails with SQLITE_BUSY.
func TestSQLiteProcesses(t *testing.T) {
	d := setup(t, sqldb.SQLite)
	ctx := context.Background()
	clock := connectortest.NewClock()
	const total, workers = 2000, 8
	var payloads [][]byte
	for i := 0; i < total; i++ {
		payloads = append(payloads, []byte(fmt.Sprintf(`{"job":"N","data":{"n":%d}}`, i)))
	}
	if _, err := d.open(t, clock, time.Minute).PushBulk(ctx, "default", payloads, 0); err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		q := d.open(t, clock, time.Minute)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				var got []*connectors.Reserved
				var err error
				if i%2 == 0 {
					got, err = q.PopN(ctx, "default", 5)
				} else {
					var r *connectors.Reserved
					if r, err = q.Pop(ctx, "default"); r != nil {
						got = append(got, r)
					}
				}
				if err != nil {
					t.Errorf("pop: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, r := range got {
					seen[string(r.Payload)]++
				}
				mu.Unlock()
				if i%3 == 0 {
					err = q.DeleteN(ctx, got)
				} else {
					for _, r := range got {
						if err = q.Delete(ctx, r); err != nil {
							break
						}
					}
				}
				if err != nil {
					t.Errorf("delete: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != total {
		t.Errorf("%d distinct jobs popped, want %d", len(seen), total)
	}
	for p, n := range seen {
		if n != 1 {
			t.Errorf("job %s popped %d times", p, n)
		}
	}
}

func TestRestartSignal(t *testing.T) {
	eachDialect(t, func(t *testing.T, d testDB) {
		ctx := context.Background()
		clock := connectortest.NewClock()
		worker, restarter := d.open(t, clock, time.Minute), d.open(t, clock, time.Minute)
		if v, err := worker.RestartSignal(ctx); err != nil || v != "" {
			t.Fatalf("RestartSignal before any broadcast = %q, %v", v, err)
		}
		for _, v := range []string{"1700000000", "1700000060"} {
			if err := restarter.BroadcastRestart(ctx, v); err != nil {
				t.Fatal(err)
			}
			if got, err := worker.RestartSignal(ctx); err != nil || got != v {
				t.Fatalf("RestartSignal = %q, %v, want %q", got, err, v)
			}
		}
	})
}

// TestGoneRow checks Delete, Release and Extend of a job whose row was deleted meanwhile.
func TestGoneRow(t *testing.T) {
	eachDialect(t, func(t *testing.T, d testDB) {
		ctx := context.Background()
		q := d.open(t, connectortest.NewClock(), time.Minute)
		if _, err := q.Push(ctx, "gone", []byte(`{"job":"X"}`), 0); err != nil {
			t.Fatal(err)
		}
		job, err := q.Pop(ctx, "gone")
		if err != nil || job == nil {
			t.Fatalf("Pop = %v, %v", job, err)
		}
		if n, err := q.Clear(ctx, "gone"); err != nil || n != 1 {
			t.Fatalf("Clear = %d, %v", n, err)
		}
		if err := q.Delete(ctx, job); !errors.Is(err, connectors.ErrLeaseLost) {
			t.Errorf("Delete of a gone row = %v, want ErrLeaseLost", err)
		}
		if err := q.Release(ctx, job, 0); !errors.Is(err, connectors.ErrLeaseLost) {
			t.Errorf("Release of a gone row = %v, want ErrLeaseLost", err)
		}
		if err := q.Extend(ctx, job, time.Minute); !errors.Is(err, connectors.ErrLeaseLost) {
			t.Errorf("Extend of a gone row = %v, want ErrLeaseLost", err)
		}
		if n, _ := q.Size(ctx, "gone"); n != 0 {
			t.Errorf("Release of a gone row inserted it again: Size = %d", n)
		}
		if err := q.DeleteN(ctx, []*connectors.Reserved{job}); err != nil {
			t.Errorf("DeleteN skips gone rows, got %v", err)
		}
	})
}

// TestNoRetryAfter checks that with RetryAfter 0 a reservation never lapses.
func TestNoRetryAfter(t *testing.T) {
	eachDialect(t, func(t *testing.T, d testDB) {
		ctx := context.Background()
		clock := connectortest.NewClock()
		q := d.open(t, clock, 0)
		if _, err := q.Push(ctx, "forever", []byte(`{"job":"X"}`), 0); err != nil {
			t.Fatal(err)
		}
		job, err := q.Pop(ctx, "forever")
		if err != nil || job == nil {
			t.Fatalf("Pop = %v, %v", job, err)
		}
		clock.Advance(1000 * time.Hour)
		if again, err := q.Pop(ctx, "forever"); err != nil || again != nil {
			t.Fatalf("Pop after 1000h = %+v, %v: the reservation lapsed", again, err)
		}
		if err := q.Extend(ctx, job, time.Minute); err != nil {
			t.Fatalf("Extend: %v", err)
		}
	})
}

// TestMySQLBulkModes covers the two ways PushBulk learns ids on MySQL servers without
// INSERT … RETURNING, forced on the MariaDB at hand.
func TestMySQLBulkModes(t *testing.T) {
	d := setup(t, sqldb.MySQL)
	ctx := context.Background()
	q := d.open(t, connectortest.NewClock(), time.Minute)
	for _, mode := range []bulkMode{bulkConsecutive, bulkOneByOne, bulkReturning} {
		q.bulk = mode
		queue := fmt.Sprintf("mode-%d", mode)
		var payloads [][]byte
		for i := 0; i < 1200; i++ { // more than one chunk
			payloads = append(payloads, []byte(fmt.Sprintf(`{"n":%d}`, i)))
		}
		ids, err := q.PushBulk(ctx, queue, payloads, 0)
		if err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		rows := readRows(t, q, queue)
		if len(ids) != len(rows) {
			t.Fatalf("mode %d: %d ids for %d rows", mode, len(ids), len(rows))
		}
		for i, r := range rows {
			if fmt.Sprint(r.id) != ids[i] || r.payload != string(payloads[i]) {
				t.Fatalf("mode %d: row %d = id %d %s, PushBulk said id %s for %s", mode, i, r.id, r.payload, ids[i], payloads[i])
			}
		}
	}
}

func TestStatementsPerDialect(t *testing.T) {
	think, _ := layoutFor(FormatThink)
	laravel, _ := layoutFor(FormatLaravel)
	for _, d := range dialects {
		for _, lapses := range []bool{false, true} {
			st := buildStatements(d, "jobs", "qctl_signals", laravel, lapses)
			for _, p := range st.texts() {
				if d != sqldb.Postgres && strings.Contains(*p, "$") {
					t.Errorf("%s: PostgreSQL placeholder left in %q", d, *p)
				}
			}
			// No text of a think-format Queue may name a Laravel column, nor the reverse.
			thinkSt := buildStatements(d, "jobs", "qctl_signals", think, lapses)
			names := func(l layout) []string { return []string{l.reserved, l.available, l.created} }
			for _, p := range append(thinkSt.texts(), new(statsSQL(d, "jobs", think))) {
				for _, col := range names(laravel) {
					if strings.Contains(*p, col) {
						t.Errorf("%s think: Laravel's %s in %q", d, col, *p)
					}
				}
			}
			for _, p := range append(st.texts(), new(statsSQL(d, "jobs", laravel))) {
				for _, col := range names(think) {
					if strings.Contains(*p, col) {
						t.Errorf("%s laravel: think-queue's %s in %q", d, col, *p)
					}
				}
			}
			if d == sqldb.MySQL && strings.Count(st.pop, "?") != 3+btoi(lapses) {
				t.Errorf("mysql pop %q: want %d placeholders", st.pop, 3+btoi(lapses))
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPushRefusesBytesTheTableCannotHold pushes payloads holding invalid UTF-8 and NUL. SQLite
// stores them as they are; PostgreSQL and MySQL refuse what their text cannot hold with an error
// that names the byte, instead of the server's bare "invalid byte sequence" or, on MySQL without
// strict mode, a payload silently cut short.
func TestPushRefusesBytesTheTableCannotHold(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			q := setup(t, dialect).open(t, connectortest.NewClock(), time.Minute)
			for _, p := range []string{"{\"a\":\"\xff\"}", "{\"a\":\"\x00\"}"} {
				refused := dialect == sqldb.Postgres || dialect == sqldb.MySQL && p[6] == 0xff
				_, err := q.Push(ctx, "default", []byte(p), 0)
				_, bulkErr := q.PushBulk(ctx, "default", [][]byte{[]byte(`{}`), []byte(p)}, 0)
				for _, err := range []error{err, bulkErr} {
					if !refused {
						if err != nil {
							t.Fatalf("push %q: %v", p, err)
						}
						continue
					}
					if err == nil || !strings.Contains(err.Error(), "byte 6 (0x") || !strings.Contains(err.Error(), "cannot store") {
						t.Errorf("push %q: error %v, want one naming byte 6", p, err)
					}
				}
			}
			want := int64(6) // each payload once alone, once in a bulk push after "{}"
			if dialect == sqldb.Postgres {
				want = 0
			} else if dialect == sqldb.MySQL {
				want = 3 // only the NUL payload's
			}
			if n, err := q.Size(ctx, "default"); err != nil || n != want {
				t.Fatalf("Size = %d, %v; want %d (a refused bulk push stores none of its payloads)", n, err, want)
			}
		})
	}
}
