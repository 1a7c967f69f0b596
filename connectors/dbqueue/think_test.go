package dbqueue

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
	"github.com/qctl/qctl/migrations"
)

// Think tests are fixtures written from wire-formats.md and think-queue 3's database connector,
// since no think-queue package is installable here: rows are inserted and reserved with the
// statements think-queue runs, and qctl's rows are read back with them.

// thinkPayload is a think-queue 3 string job as Queue::push('app\job\Hello', $data) encodes it
// with PHP's json_encode (escaped slashes, \u escapes).
const thinkPayload = `{"job":"app\\job\\Hello","maxTries":null,"timeout":null,"data":{"url":"https:\/\/x.test","name":"\u00e9"}}`

// phpSide runs think-queue 3's own statements on d's table, as a PHP worker or producer would.
type phpSide struct {
	t     *testing.T
	q     *Queue // for its database handle and dialect only
	table string
}

// text turns the ? placeholders of query into the dialect's.
func (p phpSide) text(query string) string {
	query = strings.ReplaceAll(query, "{t}", sqldb.Quote(p.q.dialect, p.table))
	return sqldb.Placeholders(p.q.dialect, query)
}

// push inserts a row as think-queue's pushToDatabase does: attempts as given, reserve_time NULL,
// available_time now+delay, create_time now. It returns the row id.
func (p phpSide) push(queue, payload string, attempts, now, delay int64) int64 {
	p.t.Helper()
	ins := p.text("INSERT INTO {t} (queue, attempts, reserve_time, available_time, create_time, payload) VALUES (?, ?, NULL, ?, ?, ?)")
	if _, err := p.q.db.Exec(ins, queue, attempts, now+delay, now, payload); err != nil {
		p.t.Fatal(err)
	}
	var id int64
	if err := p.q.db.QueryRow(p.text("SELECT MAX(id) FROM {t} WHERE queue = ?"), queue).Scan(&id); err != nil {
		p.t.Fatal(err)
	}
	return id
}

// reserve sets a row's reserve_time and attempts as think-queue's markJobAsReserved does.
func (p phpSide) reserve(id, at, attempts int64) {
	p.t.Helper()
	if _, err := p.q.db.Exec(p.text("UPDATE {t} SET reserve_time = ?, attempts = ? WHERE id = ?"), at, attempts, id); err != nil {
		p.t.Fatal(err)
	}
}

// pop is think-queue's getNextAvailableJob: the lowest id of queue that is due and not reserved,
// or whose reservation is retryAfter old. It returns the row, or ok false when there is none.
func (p phpSide) pop(queue string, now, retryAfter int64) (r row, ok bool) {
	p.t.Helper()
	query := p.text("SELECT id, queue, payload, attempts, reserve_time, available_time, create_time FROM {t}" +
		" WHERE queue = ? AND ((reserve_time IS NULL AND available_time <= ?) OR reserve_time <= ?) ORDER BY id ASC LIMIT 1")
	err := p.q.db.QueryRow(query, queue, now, now-retryAfter).
		Scan(&r.id, &r.queue, &r.payload, &r.attempts, &r.reservedAt, &r.availableAt, &r.createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, false
	}
	if err != nil {
		p.t.Fatal(err)
	}
	return r, true
}

// TestThinkQueueRowsRunUnderQctl inserts rows the way think-queue 3 does and checks that qctl
// pops them in think-queue's order with think-queue's attempts, and deletes and releases them
// the way think-queue's DatabaseJob does.
func TestThinkQueueRowsRunUnderQctl(t *testing.T) {
	eachFormatDialect(t, FormatThink, func(t *testing.T, d testDB) {
		ctx := context.Background()
		clock := connectortest.NewClock()
		q := d.open(t, clock, 90*time.Second)
		php := phpSide{t: t, q: q, table: d.table}
		now := clock.Now().Unix()

		// A PHP worker died 100s into job C (lease lapsed), holds job H since 10s ago, and A is
		// ready; B is delayed 30s.
		idC := php.push("default", `{"job":"C","maxTries":null,"timeout":null,"data":null}`, 0, now-200, 0)
		php.reserve(idC, now-100, 1)
		idH := php.push("default", `{"job":"H","maxTries":null,"timeout":null,"data":null}`, 0, now-20, 0)
		php.reserve(idH, now-10, 1)
		idA := php.push("default", thinkPayload, 0, now, 0)
		idB := php.push("default", `{"job":"B","maxTries":3,"timeout":null,"data":[]}`, 0, now, 30)

		c, err := q.Pop(ctx, "default")
		if err != nil || c == nil || c.ID != fmt.Sprint(idC) || c.Attempts != 2 {
			t.Fatalf("first Pop = %+v, %v; want the lapsed job C (id %d) at attempt 2", c, err, idC)
		}
		a, err := q.Pop(ctx, "default")
		if err != nil || a == nil || a.ID != fmt.Sprint(idA) || a.Attempts != 1 || string(a.Payload) != thinkPayload {
			t.Fatalf("second Pop = %+v, %v; want A (id %d) at attempt 1, payload as PHP wrote it", a, err, idA)
		}
		if r, err := q.Pop(ctx, "default"); err != nil || r != nil {
			t.Fatalf("third Pop = %+v, %v; H is held by a live PHP worker and B is delayed", r, err)
		}
		rows := readRows(t, q, "default")
		if len(rows) != 4 || rows[0].attempts != 2 || rows[0].reservedAt.Int64 != now || rows[2].attempts != 1 || rows[2].reservedAt.Int64 != now {
			t.Fatalf("rows after qctl's pops = %+v; want C and A reserved now with attempts 2 and 1", rows)
		}

		if err := q.Delete(ctx, c); err != nil {
			t.Fatal(err)
		}
		clock.Advance(5 * time.Second)
		if err := q.Release(ctx, a, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		rows = readRows(t, q, "default")
		if len(rows) != 3 || rows[0].id != idH || rows[1].id != idB {
			t.Fatalf("rows after delete and release = %+v; want H, B and A's new row", rows)
		}
		released := rows[2]
		want := row{id: released.id, queue: "default", payload: thinkPayload, attempts: 1, availableAt: now + 15, createdAt: now + 5}
		if released != want || released.id <= idB {
			t.Fatalf("released row = %+v, want %+v under a new, higher id (think-queue's release: delete, insert with attempts)", released, want)
		}

		// think-queue's own pop sees what qctl left: nothing due until B and A fall due, then B
		// (the lower id), with its attempts; H is still held.
		if r, ok := php.pop("default", now+5, 90); ok {
			t.Fatalf("think-queue pop at +5s found %+v; nothing is due", r)
		}
		if r, ok := php.pop("default", now+30, 90); !ok || r.id != idB || r.attempts != 0 {
			t.Fatalf("think-queue pop at +30s = %+v, %v; want B with attempts 0", r, ok)
		}

		clock.Advance(25 * time.Second)
		jobs, err := q.PopN(ctx, "default", 10)
		if err != nil || len(jobs) != 2 || jobs[0].ID != fmt.Sprint(idB) || jobs[1].ID != fmt.Sprint(released.id) || jobs[0].Attempts != 1 || jobs[1].Attempts != 2 {
			t.Fatalf("PopN at +30s = %+v, %v; want B at attempt 1 then A at attempt 2", jobs, err)
		}
		if st, err := q.QueueStats(ctx, "default"); err != nil || st.Reserved != 3 || st.Ready != 0 || st.Delayed != 0 {
			t.Fatalf("QueueStats = %+v, %v; want the 3 jobs reserved", st, err)
		}
		if n, err := q.Clear(ctx, "default"); err != nil || n != 3 {
			t.Fatalf("Clear = %d, %v", n, err)
		}
	})
}

// TestQctlRowsReadByThinkQueue pushes with qctl on a think-format table and reads the rows with
// think-queue's pop: the columns hold what think-queue's pushToDatabase writes, the payload is
// stored byte for byte, and a row think-queue reserves is not handed out by qctl until its lease
// lapses.
func TestQctlRowsReadByThinkQueue(t *testing.T) {
	eachFormatDialect(t, FormatThink, func(t *testing.T, d testDB) {
		ctx := context.Background()
		clock := connectortest.NewClock()
		q := d.open(t, clock, 60*time.Second)
		php := phpSide{t: t, q: q, table: d.table}
		now := clock.Now().Unix()
		const qctlPayload = `{"job":"app\\job\\Hello@fire","maxTries":null,"timeout":null,"data":{"n":1}}`

		id, err := q.Push(ctx, "mail", []byte(qctlPayload), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.Push(ctx, "mail", []byte(qctlPayload), 20*time.Second); err != nil {
			t.Fatal(err)
		}
		bulk, err := q.PushBulk(ctx, "mail", [][]byte{[]byte(qctlPayload), []byte(thinkPayload)}, 0)
		if err != nil || len(bulk) != 2 {
			t.Fatalf("PushBulk = %v, %v", bulk, err)
		}
		rows := readRows(t, q, "mail")
		if len(rows) != 4 {
			t.Fatalf("%d rows after 4 pushes", len(rows))
		}
		for i, r := range rows {
			wantAvailable, wantPayload := now, qctlPayload
			if i == 1 {
				wantAvailable = now + 20
			}
			if i == 3 {
				wantPayload = thinkPayload
			}
			want := row{id: r.id, queue: "mail", payload: wantPayload, attempts: 0, availableAt: wantAvailable, createdAt: now}
			if r != want {
				t.Errorf("row %d = %+v, want %+v (attempts 0, reserve_time NULL)", i, r, want)
			}
		}

		got, ok := php.pop("mail", now, 60)
		if !ok || fmt.Sprint(got.id) != id || got.payload != qctlPayload || got.attempts != 0 || got.reservedAt.Valid {
			t.Fatalf("think-queue pop = %+v, %v; want qctl's first job (id %s) as pushed", got, ok, id)
		}
		php.reserve(got.id, now, got.attempts+1)
		r, err := q.Pop(ctx, "mail")
		if err != nil || r == nil || r.ID != bulk[0] {
			t.Fatalf("qctl Pop beside a think-queue reservation = %+v, %v; want the next ready job %s", r, err, bulk[0])
		}
		clock.Advance(61 * time.Second)
		r, err = q.Pop(ctx, "mail")
		if err != nil || r == nil || r.ID != id || r.Attempts != 2 {
			t.Fatalf("qctl Pop after think-queue's lease lapsed = %+v, %v; want job %s at attempt 2", r, err, id)
		}
	})
}

// TestFormatMismatchIsRefused opens each format's table with the other format: Open fails naming
// the table, what it is and the format key to change.
func TestFormatMismatchIsRefused(t *testing.T) {
	for _, tc := range []struct{ made, asked, says string }{
		{FormatLaravel, FormatThink, `is Laravel's jobs table (reserved_at, available_at, created_at) but the connection has format = "think": set format = "laravel"`},
		{FormatThink, FormatLaravel, `is think-queue's jobs table (reserve_time, available_time, create_time) but the connection has format = "laravel": set format = "think"`},
	} {
		eachFormatDialect(t, tc.made, func(t *testing.T, d testDB) {
			clock := connectortest.NewClock()
			d.open(t, clock, time.Minute) // creates the table in its format
			for _, auto := range []bool{false, true} {
				o := d.options(clock, time.Minute)
				o.Format, o.AutoMigrate = tc.asked, auto
				q, err := Open(context.Background(), o)
				if err == nil {
					q.Close()
					t.Fatalf("Open of a %s table as %s succeeded (auto-migrate %v)", tc.made, tc.asked, auto)
				}
				if !strings.Contains(err.Error(), d.table) || !strings.Contains(err.Error(), tc.says) {
					t.Errorf("Open (auto-migrate %v) = %v\nwant it to name %s and say %q", auto, err, d.table, tc.says)
				}
			}
		})
	}
}

func TestFormatOptions(t *testing.T) {
	if _, err := Open(context.Background(), Options{Dialect: sqldb.SQLite, DSN: t.TempDir() + "/q.db", Format: "symfony"}); err == nil ||
		!strings.Contains(err.Error(), `unknown format "symfony"`) {
		t.Errorf("Open with format symfony = %v", err)
	}
	for format, kind := range map[string]migrations.Kind{"": migrations.Jobs, FormatLaravel: migrations.Jobs, FormatThink: migrations.ThinkJobs} {
		got := Options{Format: format, Table: "q"}.Targets()
		want := []migrations.Target{{Kind: kind, Table: "q"}, {Kind: migrations.Signals}}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Targets of format %q = %v, want %v", format, got, want)
		}
	}
}

// eachFormatDialect runs fn in parallel on a format table of every dialect.
func eachFormatDialect(t *testing.T, format string, fn func(t *testing.T, d testDB)) {
	for _, dialect := range dialects {
		t.Run(dialect+"/"+format, func(t *testing.T) {
			t.Parallel()
			fn(t, setupFormat(t, dialect, format))
		})
	}
}
