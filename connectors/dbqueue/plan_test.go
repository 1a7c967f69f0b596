package dbqueue

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
)

// TestStatePlans asks SQLite, PostgreSQL and MariaDB how they run the statements that read a queue by
// state, over 20,000 ready jobs (with 100 delayed and 10 reserved): browsing delayed and reserved
// jobs and counting them read the state index (0010_jobs_state_index) and sort nothing, while
// browsing ready jobs, qctl's pop and Laravel's own pop still walk the queue index in id order.
// Without the index each delayed or reserved page reads every row of the queue.
func TestStatePlans(t *testing.T) {
	for _, dialect := range dialects {
		for _, format := range []string{FormatLaravel, FormatThink} {
			t.Run(dialect+"/"+format, func(t *testing.T) {
				t.Parallel()
				statePlans(t, setupFormat(t, dialect, format))
			})
		}
	}
}

func statePlans(t *testing.T, d testDB) {
	ctx := context.Background()
	clock := connectortest.NewClock()
	q := d.open(t, clock, time.Minute)
	now := q.unix()
	r, a, c := q.cols.reserved, q.cols.available, q.cols.created
	table := sqldb.Quote(d.dialect, d.table)
	fill := "INSERT INTO " + table + " (queue, payload, attempts, " + r + ", " + a + ", " + c + ") SELECT 'mail', '{\"job\":\"A\"}', 0, " +
		"CASE WHEN i <= 10 THEN CAST(? AS bigint) END, CASE WHEN i > 19900 THEN CAST(? AS bigint) ELSE CAST(? AS bigint) END, CAST(? AS bigint) FROM "
	switch d.dialect {
	case sqldb.SQLite:
		fill = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) " + fill + "n"
	case sqldb.MySQL:
		fill = strings.ReplaceAll(fill, "AS bigint", "AS SIGNED") + // MariaDB stops a recursion at 1,000 rows: 200 × 100 of them.
			"(WITH RECURSIVE x(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM x WHERE v < 200) SELECT x1.v + 200 * (x2.v - 1) AS i FROM x x1, x x2 WHERE x2.v <= 100) AS n"
	default:
		fill += "generate_series(1, 20000) AS n(i)"
	}
	if _, err := q.db.ExecContext(ctx, sqldb.Placeholders(d.dialect, fill), now-5, now+3600, now-60, now-60); err != nil {
		t.Fatal(err)
	}
	if d.dialect != sqldb.SQLite {
		if _, err := q.db.ExecContext(ctx, "ANALYZE TABLE "+table); d.dialect == sqldb.MySQL && err != nil {
			t.Fatal(err)
		}
		if _, err := q.db.ExecContext(ctx, "ANALYZE "+table); d.dialect == sqldb.Postgres && err != nil {
			t.Fatal(err)
		}
	}
	stateIndex, queueIndex := d.table+"_queue_state_index", d.table+"_queue_index"

	plan := func(text string, args ...any) string {
		t.Helper()
		explain := "EXPLAIN "
		if d.dialect == sqldb.SQLite {
			explain = "EXPLAIN QUERY PLAN "
		}
		rows, err := q.db.QueryContext(ctx, explain+text, args...)
		if err != nil {
			t.Fatalf("%s: %v", text, err)
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		var lines []string
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			var cells []string
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				cells = append(cells, toString(v))
			}
			lines = append(lines, strings.Join(cells, " "))
		}
		return strings.Join(lines, "\n")
	}
	uses := func(what, p, index string) {
		t.Helper()
		if !strings.Contains(p, index) {
			t.Errorf("%s does not use %s:\n%s", what, index, p)
		}
		// A sort of the rows that share the index's leading time (RIGHT PART, Incremental
		// Sort) ends with the page; a whole sort does not.
		for _, bad := range []string{"TEMP B-TREE FOR ORDER BY", "Seq Scan", "\nSort", "-> Sort", "Bitmap", "filesort", " ALL "} {
			if strings.Contains("\n"+p, bad) {
				t.Errorf("%s reads more than its page (%s):\n%s", what, bad, p)
			}
		}
	}

	for _, tc := range []struct {
		state  connectors.JobState
		cursor bool
		index  string
	}{
		{connectors.StateReady, false, queueIndex},
		{connectors.StateReady, true, queueIndex},
		{connectors.StateDelayed, false, stateIndex},
		{connectors.StateDelayed, true, stateIndex},
		{connectors.StateReserved, false, stateIndex},
		{connectors.StateReserved, true, stateIndex},
	} {
		if d.dialect != sqldb.SQLite && tc.index == queueIndex {
			tc.index = map[string]string{sqldb.Postgres: "Index Scan", sqldb.MySQL: "index"}[d.dialect] // the queue index or the primary key: both in id order
		}
		cond, args, _ := q.stateCond(tc.state)
		text, args := q.browseSQL("mail", tc.state, cond, args, cursorAt{reserved: now - 5, available: now + 3600, id: 5}, tc.cursor, 20)
		uses("Browse("+string(tc.state)+", cursor "+map[bool]string{false: "none", true: "set"}[tc.cursor]+")", plan(text, args...), tc.index)
	}

	lapsed := now - 60
	// QueueStats: every part but the queue's total reads a range of the state index.
	for i, part := range statsParts(d.dialect, table, q.cols)[1:] {
		uses(fmt.Sprintf("QueueStats part %d", i+2), plan(sqldb.Placeholders(d.dialect, part), "mail", []any{now, lapsed, now, lapsed}[i]), stateIndex)
	}

	// Pops: qctl's, and Laravel's as its query builder writes it (think-queue's is the same with
	// its column names), keep taking the head of the queue index.
	pop := "SELECT id FROM " + table + " WHERE queue = $2 AND ((" + r + " IS NULL AND " + a + " <= $1) OR " + r + " <= $3) ORDER BY id LIMIT 1"
	laravel := "select * from " + table + ` where "queue" = ? and (("` + r + `" is null and "` + a + `" <= ?) or ("` + r + `" <= ?)) order by "id" asc limit 1`
	switch d.dialect {
	case sqldb.SQLite:
		pop = strings.ReplaceAll(pop, "$", "?")
	case sqldb.Postgres:
		laravel = sqldb.Placeholders(d.dialect, laravel) + " for update skip locked"
	case sqldb.MySQL:
		pop = "SELECT id FROM " + table + " WHERE queue = ? AND ((" + r + " IS NULL AND " + a + " <= ?) OR " + r + " <= ?) ORDER BY id LIMIT 1"
		laravel = strings.ReplaceAll(laravel, `"`, "`") + " for update skip locked"
	}
	// (PostgreSQL may walk the primary key instead when one queue fills the table: the same
	// id order, no sort.)
	popIndex := map[string]string{sqldb.SQLite: queueIndex, sqldb.Postgres: "Index Scan", sqldb.MySQL: "index"}[d.dialect]
	popArgs := []any{now, "mail", lapsed}
	if d.dialect == sqldb.MySQL {
		popArgs = []any{"mail", now, lapsed}
	}
	uses("qctl's pop", plan(pop, popArgs...), popIndex)
	uses("Laravel's pop", plan(laravel, "mail", now, lapsed), popIndex)

	// And the pop itself still takes the oldest ready job at once.
	start := time.Now()
	if j, err := q.Pop(ctx, "mail"); err != nil || j == nil {
		t.Fatalf("Pop = %v, %v", j, err)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("Pop over 20,000 jobs took %s", took)
	}
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(fmtAny(v), "\n", " "), "  ", " "))
}

func fmtAny(v any) string {
	return strings.TrimSpace(strings.Trim(strings.ReplaceAll(fmt.Sprint(v), "\t", " "), " "))
}

// TestBrowseCursorsWithTies pages delayed and reserved jobs one at a time where their times tie,
// so the cursor's id (and for reserved jobs its due time) decides: every job comes once, in order.
func TestBrowseCursorsWithTies(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			d := setup(t, dialect)
			ctx := context.Background()
			clock := connectortest.NewClock()
			q := d.open(t, clock, time.Hour)
			var delayed []string
			for i := 0; i < 3; i++ {
				id, err := q.Push(ctx, "mail", []byte(`{"job":"D"}`), time.Hour) // one due time for all
				if err != nil {
					t.Fatal(err)
				}
				delayed = append(delayed, id)
			}
			var reserved []string
			for i, delay := range []time.Duration{0, 0, 0} {
				if _, err := q.Push(ctx, "mail", []byte(`{"job":"R"}`), delay); err != nil {
					t.Fatal(err)
				}
				if i == 2 {
					clock.Advance(time.Second) // the third is popped a second later
				}
				j, err := q.Pop(ctx, "mail")
				if err != nil || j == nil {
					t.Fatalf("Pop = %v, %v", j, err)
				}
				reserved = append(reserved, j.ID)
			}
			for state, want := range map[connectors.JobState][]string{connectors.StateDelayed: delayed, connectors.StateReserved: reserved} {
				var got []string
				cursor := ""
				for range 5 {
					page, next, err := q.Browse(ctx, "mail", state, cursor, 1)
					if err != nil {
						t.Fatalf("Browse(%s, %q): %v", state, cursor, err)
					}
					for _, j := range page {
						got = append(got, j.ID)
					}
					if cursor = next; next == "" {
						break
					}
				}
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%s jobs paged one at a time = %v, want %v", state, got, want)
				}
			}
			if _, _, err := q.Browse(ctx, "mail", connectors.StateReserved, "12", 1); err == nil {
				t.Errorf("a ready cursor was taken for reserved jobs")
			}
		})
	}
}
