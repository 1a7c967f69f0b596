package interop

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"  // database/sql driver "sqlite"
	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
)

// Backends the tests share between Laravel and qctl; a database's is its dialect's name.
const (
	kindRedis    = "redis"
	kindSQLite   = sqldb.SQLite
	kindPostgres = sqldb.Postgres
	kindMySQL    = sqldb.MySQL // MariaDB here
)

// allKinds is every backend, for tests that run on each.
var allKinds = []string{kindRedis, kindSQLite, kindPostgres, kindMySQL}

// eachKind runs fn as a parallel subtest on every backend.
func eachKind(t *testing.T, fn func(t *testing.T, kind string)) {
	for _, kind := range allKinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

const (
	redisAddr = "127.0.0.1:6379"
	pgAddr    = "127.0.0.1:5432"
	pgDSN     = "host=127.0.0.1 user=postgres dbname=test sslmode=disable"
	mysqlAddr = "127.0.0.1:3306"
	mysqlDSN  = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
)

// backend is one queue store as both sides see it: the qctl connection (named as in Laravel's
// config/queue.php, so failed jobs retry onto the same connection on either side), the PHP
// settings for bootstrap.php, and direct access for checking what is left in it.
type backend struct {
	kind        string
	conn        string   // connection name on both sides: "redis" or "database"
	toml        string   // [connections.<conn>] and [failed]
	phpEnv      []string // QCTL_PHP_* for bootstrap.php
	jobsTable   string
	batches     string // Laravel's job_batches table, beside the failed jobs
	prefix      string // Redis client prefix (Laravel's database.redis.options.prefix)
	cachePrefix string // Laravel's cache.prefix; qctl's cache_prefix
	cacheTable  string // database kinds: Laravel's database cache table; qctl's cache_table
	rdb         *redis.Client
	cacheRDB    *redis.Client // Laravel's cache connection: database 1, its default REDIS_CACHE_DB
	db          *sql.DB       // the SQL database of the jobs (sqlite, postgres) or failed jobs (redis) table
}

// quote quotes an identifier for the backend's SQL.
func (b *backend) quote(name string) string {
	if b.kind == kindMySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// cacheTOML names Laravel's database cache table (which migrate.php creates with Laravel's own
// stub) as the home of the restart signal, so restart works both ways on a database connection.
func (b *backend) cacheTOML(id string) string {
	b.cacheTable, b.cachePrefix = "cache_"+id, "interop_"+id+"_cache"
	return fmt.Sprintf("cache_table = %q\ncache_prefix = %q\n", b.cacheTable, b.cachePrefix)
}

func (b *backend) cacheEnv() []string {
	return []string{"QCTL_PHP_CACHE_TABLE=" + b.cacheTable, "QCTL_PHP_CACHE_PREFIX=" + b.cachePrefix}
}

func randomSuffix(t testing.TB) string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newBackend makes a fresh, isolated store of kind for one test: random Redis prefixes, a
// SQLite file in dir, or a PostgreSQL schema of its own; random table names throughout.
// Everything it creates is removed when the test ends.
func newBackend(t *testing.T, kind, dir string) *backend {
	t.Helper()
	id := randomSuffix(t)
	b := &backend{kind: kind, jobsTable: "jobs_" + id, batches: "job_batches_" + id}
	failedTable := "failed_jobs_" + id
	sqlitePath := filepath.Join(dir, "app.sqlite")
	common := []string{"QCTL_PHP_QUEUE=default", "QCTL_PHP_RETRY_AFTER=90",
		"QCTL_PHP_JOBS_TABLE=" + b.jobsTable, "QCTL_PHP_FAILED_TABLE=" + failedTable, "QCTL_PHP_BATCHES_TABLE=" + b.batches}
	sqliteEnv := []string{"QCTL_PHP_DB_DRIVER=sqlite", "QCTL_PHP_DB_DATABASE=" + sqlitePath}
	sqliteFailed := fmt.Sprintf("[failed]\ndialect = \"sqlite\"\ndsn = %q\ntable = %q\nbatches_table = %q\n", sqlitePath, failedTable, b.batches)

	switch kind {
	case kindRedis:
		connectortest.RequireService(t, "Redis", redisAddr, "redis-server --daemonize yes")
		b.conn = "redis"
		b.prefix = "interop_" + id + "_database_"
		b.cachePrefix = "interop_" + id + "_cache"
		cachePrefix := b.cachePrefix
		b.toml = fmt.Sprintf("[connections.redis]\ndriver = \"redis\"\naddr = %q\nprefix = %q\ncache_prefix = %q\ncache_db = 1\nretry_after = 90\nblock_for = 1\n\n%s",
			redisAddr, b.prefix, cachePrefix, sqliteFailed)
		b.phpEnv = append(common, "QCTL_PHP_CONNECTION=redis", "QCTL_PHP_DRIVER=redis",
			"QCTL_PHP_REDIS_HOST=127.0.0.1", "QCTL_PHP_REDIS_PORT=6379",
			"QCTL_PHP_REDIS_PREFIX="+b.prefix, "QCTL_PHP_CACHE_PREFIX="+cachePrefix)
		b.phpEnv = append(b.phpEnv, sqliteEnv...)
		b.rdb = redis.NewClient(&redis.Options{Addr: redisAddr})
		t.Cleanup(func() { deleteKeys(t, b.rdb, b.prefix+"*"); b.rdb.Close() })
		b.cacheRDB = redis.NewClient(&redis.Options{Addr: redisAddr, DB: 1})
		t.Cleanup(func() { deleteKeys(t, b.cacheRDB, b.prefix+"*"); b.cacheRDB.Close() })
		b.db = openSQLite(t, sqlitePath)

	case kindSQLite:
		b.conn = "database"
		b.toml = fmt.Sprintf("[connections.database]\ndriver = \"database\"\ndialect = \"sqlite\"\ndsn = %q\ntable = %q\nretry_after = 90\n%s\n%s",
			sqlitePath, b.jobsTable, b.cacheTOML(id), sqliteFailed)
		b.phpEnv = append(append(common, "QCTL_PHP_CONNECTION=database", "QCTL_PHP_DRIVER=database"), sqliteEnv...)
		b.phpEnv = append(b.phpEnv, b.cacheEnv()...)
		b.db = openSQLite(t, sqlitePath)

	case kindPostgres:
		connectortest.RequireService(t, "PostgreSQL", pgAddr, "pg_ctlcluster 15 main start")
		schema := "interop_" + id
		admin, err := sql.Open("pgx", pgDSN)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := admin.Exec(`CREATE SCHEMA "` + schema + `"`); err != nil {
			admin.Close()
			t.Fatalf("create schema %s: %v", schema, err)
		}
		t.Cleanup(func() {
			if _, err := admin.Exec(`DROP SCHEMA "` + schema + `" CASCADE`); err != nil {
				t.Logf("drop schema %s: %v", schema, err)
			}
			admin.Close()
		})
		// Both sides work in the schema: qctl through the search_path run-time parameter,
		// Laravel through its pgsql connection's 'schema' setting.
		dsn := pgDSN + " search_path=" + schema
		b.conn = "database"
		b.toml = fmt.Sprintf("[connections.database]\ndriver = \"database\"\ndialect = \"postgres\"\ndsn = %q\ntable = %q\nretry_after = 90\n%s\n"+
			"[failed]\ndialect = \"postgres\"\ndsn = %q\ntable = %q\nbatches_table = %q\n", dsn, b.jobsTable, b.cacheTOML(id), dsn, failedTable, b.batches)
		b.phpEnv = append(common, "QCTL_PHP_CONNECTION=database", "QCTL_PHP_DRIVER=database",
			"QCTL_PHP_DB_DRIVER=pgsql", "QCTL_PHP_DB_HOST=127.0.0.1", "QCTL_PHP_DB_PORT=5432",
			"QCTL_PHP_DB_DATABASE=test", "QCTL_PHP_DB_USERNAME=postgres", "QCTL_PHP_DB_SCHEMA="+schema)
		b.phpEnv = append(b.phpEnv, b.cacheEnv()...)
		if b.db, err = sql.Open("pgx", dsn); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.db.Close() })

	case kindMySQL:
		connectortest.RequireService(t, "MariaDB", mysqlAddr, "service mariadb start")
		// The shared database test holds every test's tables: theirs are named by id, and
		// dropped when the test ends.
		b.conn = "database"
		b.toml = fmt.Sprintf("[connections.database]\ndriver = \"database\"\ndialect = \"mysql\"\ndsn = %q\ntable = %q\nretry_after = 90\n%s\n"+
			"[failed]\ndialect = \"mysql\"\ndsn = %q\ntable = %q\nbatches_table = %q\n", mysqlDSN, b.jobsTable, b.cacheTOML(id), mysqlDSN, failedTable, b.batches)
		b.phpEnv = append(common, "QCTL_PHP_CONNECTION=database", "QCTL_PHP_DRIVER=database",
			"QCTL_PHP_DB_DRIVER=mysql", "QCTL_PHP_DB_HOST=127.0.0.1", "QCTL_PHP_DB_PORT=3306",
			"QCTL_PHP_DB_DATABASE=test", "QCTL_PHP_DB_USERNAME=root")
		b.phpEnv = append(b.phpEnv, b.cacheEnv()...)
		var err error
		if b.db, err = sql.Open("mysql", mysqlDSN); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			for _, table := range []string{b.jobsTable, failedTable, b.batches, b.cacheTable, b.cacheTable + "_locks"} {
				if _, err := b.db.Exec("DROP TABLE IF EXISTS `" + table + "`"); err != nil {
					t.Logf("drop %s: %v", table, err)
				}
			}
			b.db.Close()
		})

	default:
		t.Fatalf("unknown backend %q", kind)
	}
	if kind != kindPostgres && kind != kindMySQL {
		// Laravel's sqlite driver wants the file to exist.
		if err := os.WriteFile(sqlitePath, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// deleteKeys removes the keys matching pattern: only this test's own prefix, never FLUSHALL.
func deleteKeys(t testing.TB, rdb *redis.Client, pattern string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, pattern, 500).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("cleaning up %s: %v", pattern, err)
	}
}

// leftovers describes whatever queue still holds: its Redis keys with their sizes, or its rows in
// the jobs table. "" means the queue is gone without a trace.
func (b *backend) leftovers(t testing.TB, queue string) string {
	t.Helper()
	ctx := context.Background()
	if b.kind == kindRedis {
		var left []string
		iter := b.rdb.Scan(ctx, 0, b.prefix+"queues:"+queue+"*", 500).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			if key != b.prefix+"queues:"+queue && !strings.HasPrefix(key, b.prefix+"queues:"+queue+":") {
				continue // another queue whose name starts with this one
			}
			typ := b.rdb.Type(ctx, key).Val()
			var n int64
			if typ == "zset" {
				n = b.rdb.ZCard(ctx, key).Val()
			} else {
				n = b.rdb.LLen(ctx, key).Val()
			}
			left = append(left, fmt.Sprintf("%s (%s of %d)", key, typ, n))
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		return strings.Join(left, ", ")
	}
	placeholder := "?"
	if b.kind == kindPostgres {
		placeholder = "$1"
	}
	rows, err := b.db.QueryContext(ctx, `SELECT id, attempts, reserved_at, available_at, payload FROM `+b.quote(b.jobsTable)+` WHERE queue = `+placeholder, queue)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var left []string
	for rows.Next() {
		var id, attempts int64
		var reserved sql.NullInt64
		var available int64
		var payload string
		if err := rows.Scan(&id, &attempts, &reserved, &available, &payload); err != nil {
			t.Fatal(err)
		}
		left = append(left, fmt.Sprintf("row %d (attempts %d, reserved_at %v, available_at %d): %s", id, attempts, reserved, available, payload))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(left, "; ")
}

// expectEmpty fails the test unless queue left nothing behind in the backend.
func (b *backend) expectEmpty(t testing.TB, queue string) {
	t.Helper()
	if left := b.leftovers(t, queue); left != "" {
		t.Errorf("queue %q is not empty on %s: %s", queue, b.kind, left)
	}
}
