package commands_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
)

// Think tests run the real binary on format = "think" connections against fixtures written from
// wire-formats.md (no think-queue package is installable here): rows and list entries as
// think-queue 3 writes them are run by `qctl work`, and what `qctl push` writes is compared with
// what think-queue's own Queue::push would have written.

// thinkShell is the exec handler of the think tests: it keeps the payload it read and records the
// job name and attempt.
const thinkShell = `
[handlers."Shell"]
command = ["sh", "-c", "cat > \"$QCTL_TEST_RECORD.stdin\"; echo \"$QCTL_JOB_NAME $QCTL_JOB_ATTEMPTS\" >> \"$QCTL_TEST_RECORD\""]
`

// TestThinkFormatDatabase covers a think connection on each SQL backend: `qctl migrate` creates
// think-queue's tables, a row inserted as think-queue pushes it runs and is deleted, a failing one
// is released and then failed into think-queue's failed table, and `qctl push` writes the row
// think-queue's push would.
func TestThinkFormatDatabase(t *testing.T) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	unique := hex.EncodeToString(b)
	table, failedTable := "jobs_think_"+unique, "failed_think_"+unique
	for _, s := range []struct{ name, addr, how, dialect, dsn string }{
		{"SQLite", "", "", sqldb.SQLite, "qctl.db"},
		{"PostgreSQL", "127.0.0.1:5432", "pg_ctlcluster 15 main start", sqldb.Postgres, "host=127.0.0.1 user=postgres dbname=test sslmode=disable"},
		{"MariaDB", "127.0.0.1:3306", "start-stop-daemon --start --background --exec /usr/sbin/mariadbd", sqldb.MySQL, "root@tcp(127.0.0.1:3306)/test?parseTime=true"},
	} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			if s.addr != "" {
				connectortest.RequireService(t, s.name, s.addr, s.how)
			}
			connection := `driver = "database"
dialect = "` + s.dialect + `"
dsn = "` + s.dsn + `"
table = "` + table + `"
format = "think"
retry_after = 60`
			e := newEnv(t, "default = \"think\"\n[connections.think]\n"+connection+"\n[failed]\ntable = \""+failedTable+"\"\nuuids = false\n"+thinkShell)
			if s.addr != "" {
				t.Cleanup(func() {
					dropTable(t, connection, table)
					dropTable(t, connection, failedTable)
				})
			}
			expect(t, e.ok("migrate"), 0, `created table "`+table+`" (0005_think_jobs, `+s.dialect+`)`,
				`created table "`+failedTable+`" (0004_think_failed_jobs, `+s.dialect+`)`)
			dsn := s.dsn
			if s.dialect == sqldb.SQLite {
				dsn = filepath.Join(e.dir, s.dsn)
			}
			db := openThinkTable(t, s.dialect, dsn, table)

			// A job as ThinkPHP's Queue::push('Shell', ['to' => 'a@b.c']) stores it.
			const pushed = `{"job":"Shell","maxTries":null,"timeout":null,"data":{"to":"a@b.c"}}`
			db.push("default", pushed, time.Now().Unix())
			expect(t, e.ok("work", "--stop-when-empty"), 0, "DONE")
			if got := e.records(); len(got) != 1 || got[0] != "Shell 1" {
				t.Fatalf("records = %q, want [Shell 1]", got)
			}
			if stdin, _ := os.ReadFile(e.record + ".stdin"); string(stdin) != pushed {
				t.Errorf("the handler read %s, want the payload as think-queue wrote it: %s", stdin, pushed)
			}
			if n := db.count(); n != 0 {
				t.Fatalf("%d rows left after the job ran", n)
			}

			// A failing job with maxTries 2: released with its attempt counted, then failed.
			db.push("default", `{"job":"Fail","maxTries":2,"timeout":null,"data":null}`, time.Now().Unix())
			e.qctl("work", "--once")
			rows := db.rows()
			if len(rows) != 1 || rows[0].attempts != 1 || rows[0].reserved.Valid || rows[0].available > time.Now().Unix() {
				t.Fatalf("after one failed try rows = %+v; want attempts 1, reserve_time NULL, due now", rows)
			}
			e.qctl("work", "--once")
			if n := db.count(); n != 0 {
				t.Fatalf("%d rows left after the job's last try", n)
			}
			expect(t, e.ok("failed"), 0, "Fail")

			// qctl push writes what think-queue's push writes.
			before := time.Now().Unix()
			e.ok("push", "Shell", `{"n":2}`, "--queue", "mail")
			e.ok("push", "Shell", "--queue", "mail", "--file", writeJobsFile(t, e.dir, 2, 0))
			after := time.Now().Unix()
			rows = db.rows()
			want := []string{
				`{"job":"Shell","maxTries":null,"timeout":null,"data":{"n":2}}`,
				`{"job":"Shell","maxTries":null,"timeout":null,"data":{"n":1}}`,
				`{"job":"Shell","maxTries":null,"timeout":null,"data":{"n":2}}`,
			}
			if len(rows) != len(want) {
				t.Fatalf("%d rows after 3 pushes: %+v", len(rows), rows)
			}
			for i, r := range rows {
				if r.queue != "mail" || r.payload != want[i] || r.attempts != 0 || r.reserved.Valid ||
					r.available != r.created || r.created < before || r.created > after {
					t.Errorf("pushed row %d = %+v\nwant payload %s, attempts 0, reserve_time NULL, available_time = create_time = now", i, r, want[i])
				}
			}
			expect(t, e.ok("work", "--queue", "mail", "--stop-when-empty"), 0, "DONE")
			if n := db.count(); n != 0 {
				t.Fatalf("%d rows left after qctl's pushes ran", n)
			}
		})
	}
}

// thinkTable reads and writes a think-format jobs table with think-queue's statements.
type thinkTable struct {
	t       *testing.T
	dialect string
	db      *sql.DB
	table   string
}

type thinkRow struct {
	queue, payload     string
	attempts           int64
	reserved           sql.NullInt64
	available, created int64
}

func openThinkTable(t *testing.T, dialect, dsn, table string) thinkTable {
	t.Helper()
	gdb, err := sqldb.Open(context.Background(), dialect, dsn)
	if err != nil {
		t.Fatal(err)
	}
	db, err := gdb.DB()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return thinkTable{t: t, dialect: dialect, db: db, table: table}
}

// text puts the table in for {t} and the dialect's placeholders in for ?.
func (tt thinkTable) text(query string) string {
	query = strings.ReplaceAll(query, "{t}", sqldb.Quote(tt.dialect, tt.table))
	return sqldb.Placeholders(tt.dialect, query)
}

// push inserts a job as think-queue 3's pushToDatabase does.
func (tt thinkTable) push(queue, payload string, now int64) {
	tt.t.Helper()
	ins := tt.text("INSERT INTO {t} (queue, attempts, reserve_time, available_time, create_time, payload) VALUES (?, 0, NULL, ?, ?, ?)")
	if _, err := tt.db.Exec(ins, queue, now, now, payload); err != nil {
		tt.t.Fatal(err)
	}
}

func (tt thinkTable) count() int {
	tt.t.Helper()
	var n int
	if err := tt.db.QueryRow(tt.text("SELECT COUNT(*) FROM {t}")).Scan(&n); err != nil {
		tt.t.Fatal(err)
	}
	return n
}

// rows returns every row in id order.
func (tt thinkTable) rows() []thinkRow {
	tt.t.Helper()
	rs, err := tt.db.Query(tt.text("SELECT queue, payload, attempts, reserve_time, available_time, create_time FROM {t} ORDER BY id"))
	if err != nil {
		tt.t.Fatal(err)
	}
	defer rs.Close()
	var out []thinkRow
	for rs.Next() {
		var r thinkRow
		if err := rs.Scan(&r.queue, &r.payload, &r.attempts, &r.reserved, &r.available, &r.created); err != nil {
			tt.t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rs.Err(); err != nil {
		tt.t.Fatal(err)
	}
	return out
}

// TestThinkFormatRedis covers a think connection on Redis: `qctl push` leaves think-queue 3's
// payload (with id and attempts 0) on the {queues:N} list and no notify list, and a payload
// think-queue pushed raw runs under `qctl work`, leaving no key behind.
func TestThinkFormatRedis(t *testing.T) {
	connectortest.RequireService(t, "Redis", "127.0.0.1:6379", "redis-server --daemonize yes")
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	// think-queue has no prefix option; the prefix only isolates this test on the shared Redis.
	prefix := "qctl-think-" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() { deleteRedisKeys(t, prefix+"*") })
	e := newEnv(t, "default = \"think\"\n[connections.think]\ndriver = \"redis\"\naddr = \"127.0.0.1:6379\"\nprefix = \""+prefix+"\"\nformat = \"think\"\nblock_for = 1\n"+thinkShell)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	t.Cleanup(func() { rdb.Close() })
	ctx := context.Background()
	list := prefix + "{queues:default}"

	id := strings.TrimSpace(e.ok("push", "Shell", `{"n":1}`, "--tries", "3").stdout)
	ready := rdb.LRange(ctx, list, 0, -1).Val()
	want := regexp.MustCompile(`^\{"job":"Shell","maxTries":3,"timeout":null,"data":\{"n":1\},"id":"([0-9A-Za-z]{32})","attempts":0\}$`)
	if len(ready) != 1 || !want.MatchString(ready[0]) || want.FindStringSubmatch(ready[0])[1] != id {
		t.Fatalf("%s = %q; want think-queue 3's payload with the printed id %s and attempts 0", list, ready, id)
	}
	if n := rdb.Exists(ctx, list+":notify", prefix+"queues:default:notify").Val(); n != 0 {
		t.Fatal("a think connection wrote a notify list")
	}

	// As think-queue 3's Redis push writes it: PHP's json_encode, then id and attempts.
	const phpPushed = `{"job":"Shell","maxTries":null,"timeout":null,"data":{"url":"https:\/\/x.test"},"id":"aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW","attempts":0}`
	rdb.RPush(ctx, list, phpPushed)
	expect(t, e.ok("work", "--stop-when-empty"), 0, "DONE")
	if got := e.records(); len(got) != 2 || got[0] != "Shell 1" || got[1] != "Shell 1" {
		t.Fatalf("records = %q, want both jobs run at attempt 1", got)
	}
	if keys := rdb.Keys(ctx, prefix+"*").Val(); len(keys) != 0 {
		t.Fatalf("keys left after both jobs ran: %q", keys)
	}
}
