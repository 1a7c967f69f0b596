package commands_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
)

// deleteRedisKeys removes what a test left on the shared Redis.
func deleteRedisKeys(t testing.TB, pattern string) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, pattern).Result()
	if err == nil && len(keys) > 0 {
		err = rdb.Del(ctx, keys...).Err()
	}
	if err != nil {
		t.Logf("cleaning %s: %v", pattern, err)
	}
}

// dropTable drops a test's jobs table from the database its connection block names.
func dropTable(t testing.TB, connection, table string) {
	field := func(key string) string {
		m := regexp.MustCompile(key + ` = "([^"]*)"`).FindStringSubmatch(connection)
		return m[1]
	}
	dialect, dsn := field("dialect"), field("dsn")
	db, err := sqldb.Open(context.Background(), dialect, dsn)
	if err != nil {
		t.Logf("dropping %s: %v", table, err)
		return
	}
	db.Exec("DROP TABLE IF EXISTS " + sqldb.Quote(dialect, table))
	db.Exec("DELETE FROM qctl_migrations WHERE table_name = ?", table)
	if sqlDB, err := db.DB(); err == nil {
		sqlDB.Close()
	}
}

// TestPushAndWorkOnEveryServer runs push, work and restart through the real binary on each
// network backend, so the config-to-connector wiring is covered, not only the connectors.
func TestPushAndWorkOnEveryServer(t *testing.T) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	unique := hex.EncodeToString(b)
	servers := []struct{ name, addr, how, connection string }{
		{"Redis", "127.0.0.1:6379", "redis-server --daemonize yes", `driver = "redis"
addr = "127.0.0.1:6379"
prefix = "qctl-cli-` + unique + `:"
block_for = 1`},
		{"beanstalkd", "127.0.0.1:11300", "beanstalkd -l 127.0.0.1 -p 11300 &", `driver = "beanstalkd"
addr = "127.0.0.1:11300"
block_for = 1`},
		{"PostgreSQL", "127.0.0.1:5432", "pg_ctlcluster 15 main start", `driver = "database"
dialect = "postgres"
dsn = "host=127.0.0.1 user=postgres dbname=test sslmode=disable"
table = "jobs_cli_` + unique + `"`},
		{"MariaDB", "127.0.0.1:3306", "start-stop-daemon --start --background --exec /usr/sbin/mariadbd", `driver = "database"
dialect = "mysql"
dsn = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
table = "jobs_cli_` + unique + `"`},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			connectortest.RequireService(t, s.name, s.addr, s.how)
			e := newEnv(t, "default = \"q\"\n[connections.q]\n"+s.connection+"\n")
			queue := "cli-" + unique
			if s.name == "Redis" {
				t.Cleanup(func() { deleteRedisKeys(t, "qctl-cli-"+unique+":*") })
			}
			if strings.Contains(s.connection, `"database"`) {
				expect(t, e.qctl("work", "--once"), 1, "run `qctl migrate q`")
				e.ok("migrate")
				expect(t, e.ok("migrate"), 0, "Nothing to migrate.")
				t.Cleanup(func() { dropTable(t, s.connection, "jobs_cli_"+unique) })
			}
			e.ok("push", "Record", `{"n":1}`, "--queue", queue)
			e.ok("push", "Record", `{"n":2}`, "--queue", queue, "--delay", "1")
			r := e.ok("work", "--queue", queue, "--stop-when-empty")
			if c := strings.Count(r.stdout, "DONE"); c < 1 {
				t.Fatalf("no job processed:\n%s%s", r.stdout, r.stderr)
			}
			waitFor(t, 15e9, "the delayed job to run", func() bool {
				e.qctl("work", "--queue", queue, "--stop-when-empty")
				return len(e.records()) == 2
			})
			if s.name != "beanstalkd" {
				expect(t, e.ok("restart"), 0, "Broadcasting queue restart signal.")
			}
		})
	}
}
