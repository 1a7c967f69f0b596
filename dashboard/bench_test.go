package dashboard_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"  // the "sqlite" driver, to fill the tables in bulk
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, likewise
	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/manager"
)

// BenchmarkPages measures every page over 1,000,000 ready jobs (plus 1,000 delayed and 100
// reserved) on one queue and 100,000 failed jobs, on SQLite, PostgreSQL and Redis (whose failed
// jobs are in a SQLite file, as [failed] defaults to). Seeding takes minutes, so it runs only
// when QCTL_BENCH_DASHBOARD names the backends (sqlite,postgres,redis); QCTL_BENCH_JOBS and
// QCTL_BENCH_FAILED change the sizes:
//
//	QCTL_BENCH_DASHBOARD=sqlite,postgres,redis go test ./dashboard/ -run '^$' -bench Pages -benchtime 5x -timeout 30m
//
// Each page is fetched b.N times; the first Overview or Queues fetch waits for the first sample
// of the counts, which "sample" measures on its own (one connection's Snapshot, as the sampler
// reads it).
func BenchmarkPages(b *testing.B) {
	which := os.Getenv("QCTL_BENCH_DASHBOARD")
	if which == "" {
		b.Skip("set QCTL_BENCH_DASHBOARD=sqlite,postgres,redis to seed a million jobs per backend and measure each page")
	}
	jobsN, failedN := envInt("QCTL_BENCH_JOBS", 1_000_000), envInt("QCTL_BENCH_FAILED", 100_000)
	for _, backend := range strings.Split(which, ",") {
		b.Run(backend, func(b *testing.B) {
			var bundle *bundle
			switch backend {
			case "sqlite":
				bundle = seedSQLite(b, jobsN, failedN)
			case "postgres":
				bundle = seedPostgres(b, jobsN, failedN)
			case "redis":
				bundle = seedRedis(b, jobsN, failedN)
			default:
				b.Fatalf("unknown backend %q (want sqlite, postgres or redis)", backend)
			}
			benchPages(b, bundle, jobsN, failedN)
		})
	}
	fmt.Fprintf(os.Stderr, "%d ready jobs, 1000 delayed, 100 reserved, %d failed jobs\n", jobsN, failedN)
}

func benchPages(b *testing.B, bundle *bundle, jobsN, failedN int) {
	ctx := context.Background()
	b.Run("sample", func(b *testing.B) {
		c := bundle.conn("")
		for i := 0; i < b.N; i++ {
			snap, err := c.Snapshot(ctx, bundle.store, nil)
			if err != nil {
				b.Fatal(err)
			}
			// The seeding is what the figures claim: every job and failed row is counted (SQLite
			// has one job more, the push that created its tables).
			if q := snap.Queues[0]; len(snap.Queues) != 1 || q.Ready < int64(jobsN) || q.Ready > int64(jobsN)+1 || q.Delayed != 1000 || q.Reserved != 100 || *q.Failed != int64(failedN-failedN/10) {
				b.Fatalf("sample = %+v (failed %d), want %d ready, 1000 delayed, 100 reserved, %d failed", snap.Queues, *q.Failed, jobsN, failedN-failedN/10)
			}
		}
	})
	today := time.Now().UTC().Format(time.DateOnly)
	yesterday := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	client := &http.Client{}
	for _, path := range []string{
		"/failed", "/failed?queue=reports", "/failed?job=" + url.QueryEscape(`App\Jobs\BuildReport`),
		"/failed?exception=" + url.QueryEscape("report 99999 failed"), "/failed?exception=" + url.QueryEscape("no such text"),
		"/failed?from=" + today, "/failed?to=" + yesterday,
		fmt.Sprintf("/failed/%08d-1111-4000-8000-000000000000", failedN/2),
		"/jobs?queue=default", "/jobs?queue=default&state=delayed", "/jobs?queue=default&state=reserved",
		"/workers", "/", "/queues",
	} {
		b.Run(path, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				resp, err := client.Get(bundle.srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || strings.Contains(string(body), `class="error"`) {
					b.Fatalf("%s: %d\n%s", path, resp.StatusCode, body)
				}
			}
		})
	}
}

// jobPayload is the SQL expression of job i's payload, a Laravel envelope of about 300 bytes.
const jobPayload = `'{"uuid":"' || %s || '-0000-4000-8000-000000000000","displayName":"App\\Jobs\\SendEmail","job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":null,"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":null,"retryUntil":null,"data":{"to":"user' || i || '@example.com","subject":"Welcome"}}'`

// fillSQL returns the statements that fill a jobs and a failed_jobs table: n generates the row
// numbers i, pad8 writes i in 8 digits, ago(i) is i%1000 minutes ago as failed_at wants it.
func fillSQL(jobs, failedTable string, jobsN, failedN int, n func(int) string, pad8 string, now string, ago string) []string {
	return []string{
		`INSERT INTO ` + jobs + ` (queue, payload, attempts, reserved_at, available_at, created_at)
		 SELECT 'default', ` + fmt.Sprintf(jobPayload, pad8) + `, 0, NULL, ` + now + ` - 60, ` + now + ` - 60 FROM ` + n(jobsN),
		`INSERT INTO ` + jobs + ` (queue, payload, attempts, reserved_at, available_at, created_at)
		 SELECT 'default', '{"uuid":"d' || i || '","displayName":"Later","job":"Later","data":{}}', 0, NULL, ` + now + ` + 3600, ` + now + ` FROM ` + n(1000),
		`INSERT INTO ` + jobs + ` (queue, payload, attempts, reserved_at, available_at, created_at)
		 SELECT 'default', '{"uuid":"r' || i || '","displayName":"Running","job":"Running","data":{}}', 1, ` + now + `, ` + now + ` - 5, ` + now + ` - 5 FROM ` + n(100),
		`INSERT INTO ` + failedTable + ` (uuid, connection, queue, payload, exception, failed_at)
		 SELECT ` + pad8 + ` || '-1111-4000-8000-000000000000', 'database', CASE WHEN i % 10 = 0 THEN 'reports' ELSE 'default' END,
		        '{"uuid":"x' || i || '","displayName":"App\\Jobs\\BuildReport","job":"App\\Jobs\\BuildReport","data":{"n":' || i || '}}',
		        'RuntimeException: report ' || i || ' failed' || chr(10) || '#0 /var/www/app/Jobs/BuildReport.php(41): run()' || chr(10) || '#1 {main}',
		        ` + ago + ` FROM ` + n(failedN),
	}
}

func sqliteSeries(n int) string {
	return `(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + strconv.Itoa(n) + `) SELECT i FROM n) AS n`
}

// fillSQLite fills the failed table (and the jobs table, unless it is "") of a SQLite file.
func fillSQLite(b *testing.B, dsn, jobs string, jobsN, failedN int) {
	db, err := sql.Open("sqlite", dsn+"?_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	stmts := fillSQL(jobs, "failed_jobs", jobsN, failedN, sqliteSeries, "printf('%08d', i)", "strftime('%s','now')",
		"datetime('now', '-' || (i % 1000) || ' minutes')")
	if jobs == "" {
		stmts = stmts[3:]
	}
	for _, q := range stmts {
		if _, err := db.Exec(strings.ReplaceAll(q, "chr(10)", "char(10)")); err != nil {
			b.Fatal(err)
		}
	}
}

func seedSQLite(b *testing.B, jobsN, failedN int) *bundle {
	bundle := setup(b, setupOptions{})
	bundle.push("default", 1, 0) // creates the tables
	fillSQLite(b, bundle.dsn, "jobs", jobsN, failedN)
	return bundle
}

func seedPostgres(b *testing.B, jobsN, failedN int) *bundle {
	connectortest.RequireService(b, "PostgreSQL", "127.0.0.1:5432", "sudo service postgresql start")
	const dsn = "host=127.0.0.1 user=postgres dbname=test sslmode=disable"
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	jobs, failedTable := "jobs_bench_"+suffix, "failed_bench_"+suffix
	toml := fmt.Sprintf(`default = "pg"
[connections.pg]
driver = "database"
dialect = "postgres"
dsn = %q
table = %q
retry_after = 60
[failed]
dialect = "postgres"
dsn = %q
table = %q
`, dsn, jobs, dsn, failedTable)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		for _, t := range []string{jobs, failedTable} {
			db.Exec(`DROP TABLE IF EXISTS "` + t + `"`)
			db.Exec(`DELETE FROM qctl_migrations WHERE table_name = $1`, t)
		}
		db.Close()
	})
	cfg, err := config.Load([]byte(toml))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := manager.New(cfg, manager.Options{Output: io.Discard}).Migrate(context.Background(), "pg"); err != nil {
		b.Fatal(err)
	}
	bundle := serve(b, toml, setupOptions{})
	series := func(n int) string { return "generate_series(1, " + strconv.Itoa(n) + ") AS n(i)" }
	for _, q := range fillSQL(`"`+jobs+`"`, `"`+failedTable+`"`, jobsN, failedN, series, "lpad(i::text, 8, '0')",
		"extract(epoch from now())::bigint", "(now() at time zone 'UTC') - (i % 1000) * interval '1 minute'") {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	// What autovacuum does to a table soon after a bulk load: statistics and the visibility map.
	for _, t := range []string{jobs, failedTable} {
		if _, err := db.Exec(`VACUUM ANALYZE "` + t + `"`); err != nil {
			b.Fatal(err)
		}
	}
	return bundle
}

func seedRedis(b *testing.B, jobsN, failedN int) *bundle {
	connectortest.RequireService(b, "Redis", "127.0.0.1:6379", "sudo service redis-server start")
	prefix := "bench" + strconv.FormatInt(time.Now().UnixNano(), 36) + ":"
	dsn := filepath.Join(b.TempDir(), "failed.db")
	bundle := serve(b, fmt.Sprintf(`default = "redis"
[connections.redis]
driver = "redis"
addr = "127.0.0.1:6379"
prefix = %q
retry_after = 60
[failed]
dialect = "sqlite"
dsn = %q
`, prefix, dsn), setupOptions{})
	fillSQLite(b, dsn, "", 0, failedN)
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	ctx := context.Background()
	base := prefix + "queues:default"
	b.Cleanup(func() {
		rdb.Unlink(ctx, base, base+":delayed", base+":reserved", base+":notify")
		rdb.Close()
	})
	now := time.Now().Unix()
	for start := 1; start <= jobsN; start += 10_000 {
		vals := make([]any, 0, 10_000)
		for i := start; i < start+10_000 && i <= jobsN; i++ {
			vals = append(vals, fmt.Sprintf(`{"uuid":"%08d-0000-4000-8000-000000000000","displayName":"App\\Jobs\\SendEmail","job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":null,"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":null,"retryUntil":null,"data":{"to":"user%d@example.com","subject":"Welcome"},"id":"%d","attempts":0}`, i, i, i))
		}
		if err := rdb.RPush(ctx, base, vals...).Err(); err != nil {
			b.Fatal(err)
		}
	}
	var delayed, reserved []redis.Z
	for i := 1; i <= 1000; i++ {
		delayed = append(delayed, redis.Z{Score: float64(now + 3600), Member: fmt.Sprintf(`{"uuid":"d%d","displayName":"Later","job":"Later","data":{},"id":"d%d","attempts":0}`, i, i)})
	}
	for i := 1; i <= 100; i++ {
		reserved = append(reserved, redis.Z{Score: float64(now + 60), Member: fmt.Sprintf(`{"uuid":"r%d","displayName":"Running","job":"Running","data":{},"id":"r%d","attempts":1}`, i, i)})
	}
	if err := rdb.ZAdd(ctx, base+":delayed", delayed...).Err(); err != nil {
		b.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, base+":reserved", reserved...).Err(); err != nil {
		b.Fatal(err)
	}
	return bundle
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
