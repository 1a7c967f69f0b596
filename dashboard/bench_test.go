package dashboard_test

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"testing"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" driver, to fill the tables in bulk
)

// BenchmarkPagesSQLite measures each page over a SQLite file holding a million ready jobs
// (plus 1,000 delayed) on one queue and 100,000 failed jobs; QCTL_BENCH_JOBS and
// QCTL_BENCH_FAILED change the sizes. Filling the file takes a minute; run it with
//
//	go test ./dashboard/ -run '^$' -bench PagesSQLite -benchtime 20x
func BenchmarkPagesSQLite(b *testing.B) {
	jobsN, failedN := envInt("QCTL_BENCH_JOBS", 1_000_000), envInt("QCTL_BENCH_FAILED", 100_000)
	bundle := setup(b, setupOptions{})
	bundle.push("default", 1, 0) // creates the tables
	db, err := sql.Open("sqlite", bundle.dsn+"?_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// A recursive CTE writes the rows inside SQLite: seconds, where a million pushes take minutes.
	fill := []string{
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + strconv.Itoa(jobsN) + `)
		 INSERT INTO jobs (queue, payload, attempts, reserved_at, available_at, created_at)
		 SELECT 'default', '{"uuid":"' || printf('%08d', i) || '-0000-4000-8000-000000000000","displayName":"App\\Jobs\\SendEmail","job":"Illuminate\\Queue\\CallQueuedHandler@call","maxTries":null,"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":null,"retryUntil":null,"data":{"to":"user' || i || '@example.com","subject":"Welcome"}}',
		        0, NULL, strftime('%s','now') - 60, strftime('%s','now') - 60 FROM n`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)
		 INSERT INTO jobs (queue, payload, attempts, reserved_at, available_at, created_at)
		 SELECT 'default', '{"uuid":"d' || i || '","displayName":"Later","job":"Later","data":{}}', 0, NULL, strftime('%s','now') + 3600, strftime('%s','now') FROM n`,
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ` + strconv.Itoa(failedN) + `)
		 INSERT INTO failed_jobs (uuid, connection, queue, payload, exception, failed_at)
		 SELECT printf('%08d', i) || '-1111-4000-8000-000000000000', 'database', CASE WHEN i % 10 = 0 THEN 'reports' ELSE 'default' END,
		        '{"uuid":"x' || i || '","displayName":"App\\Jobs\\BuildReport","job":"App\\Jobs\\BuildReport","data":{"n":' || i || '}}',
		        'RuntimeException: report ' || i || ' failed' || char(10) || '#0 /var/www/app/Jobs/BuildReport.php(41): run()' || char(10) || '#1 {main}',
		        datetime('now', '-' || (i % 1000) || ' minutes') FROM n`,
	}
	for _, q := range fill {
		if _, err := db.Exec(q); err != nil {
			b.Fatal(err)
		}
	}
	client := &http.Client{}
	for _, path := range []string{
		// Pages that read the failed table or a page of jobs first: once Overview or Queues
		// is open, the sampler counts the queues in the background and competes with them.
		"/failed", "/failed?queue=reports", "/failed?exception=report%2099999",
		"/failed?job=App%5CJobs%5CBuildReport", fmt.Sprintf("/failed/%08d-1111-4000-8000-000000000000", failedN/2),
		"/jobs?queue=default", "/jobs?queue=default&state=delayed", "/jobs?queue=default&state=reserved",
		"/", "/queues",
	} {
		b.Run(path, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				resp, err := client.Get(bundle.srv.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", path, resp.StatusCode)
				}
			}
		})
	}
	fmt.Fprintf(os.Stderr, "%d ready jobs, 1000 delayed, %d failed jobs\n", jobsN, failedN)
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
