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

// serverBackend is a network backend of the end-to-end tests: a connection of the test's own
// (the body of a [connections.q] section) and the server it needs.
type serverBackend struct {
	name, addr, how    string // the server, where it listens, how to start it when it is missing
	connection         string
	redisPrefix, table string // what the test owns on the server: Redis keys, a database table
}

// serverBackends are Redis, beanstalkd, PostgreSQL and MariaDB connections whose Redis keys
// start with "qctl-"+tag+"-"+unique+":" and whose database queue is the table
// "jobs_"+tag+"_"+unique. With blockFor, Redis and beanstalkd give up waiting for a job after 1 s;
// a tube other than "" is beanstalkd's queue.
func serverBackends(tag, unique, tube string, blockFor bool) []serverBackend {
	wait := ""
	if blockFor {
		wait = "\nblock_for = 1"
	}
	beanstalk := `driver = "beanstalkd"
addr = "127.0.0.1:11300"` + wait
	if tube != "" {
		beanstalk += "\nqueue = \"" + tube + "\""
	}
	prefix, table := "qctl-"+tag+"-"+unique+":", "jobs_"+tag+"_"+unique
	return []serverBackend{
		{name: "Redis", addr: "127.0.0.1:6379", how: "redis-server --daemonize yes", redisPrefix: prefix, connection: `driver = "redis"
addr = "127.0.0.1:6379"
prefix = "` + prefix + `"` + wait},
		{name: "beanstalkd", addr: "127.0.0.1:11300", how: "beanstalkd -l 127.0.0.1 -p 11300 &", connection: beanstalk},
		{name: "PostgreSQL", addr: "127.0.0.1:5432", how: "pg_ctlcluster 15 main start", table: table, connection: `driver = "database"
dialect = "postgres"
dsn = "host=127.0.0.1 user=postgres dbname=test sslmode=disable"
table = "` + table + `"`},
		{name: "MariaDB", addr: "127.0.0.1:3306", how: "start-stop-daemon --start --background --exec /usr/sbin/mariadbd", table: table, connection: `driver = "database"
dialect = "mysql"
dsn = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
table = "` + table + `"`},
	}
}

// use skips t when the server cannot be reached (fails it under QCTL_REQUIRE_SERVICES) and
// deletes what the test leaves on the server when it ends.
func (s serverBackend) use(t testing.TB) {
	t.Helper()
	connectortest.RequireService(t, s.name, s.addr, s.how)
	if s.redisPrefix != "" {
		t.Cleanup(func() { deleteRedisKeys(t, s.redisPrefix+"*") })
	}
	if s.table != "" {
		t.Cleanup(func() { dropTable(t, s.connection, s.table) })
	}
}

// TestPushAndWorkOnEveryServer runs push, work and restart through the real binary on each
// network backend, so the config-to-connector wiring is covered, not only the connectors.
func TestPushAndWorkOnEveryServer(t *testing.T) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	unique := hex.EncodeToString(b)
	servers := serverBackends("cli", unique, "", true)
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			s.use(t)
			e := newEnv(t, "default = \"q\"\n[connections.q]\n"+s.connection+"\n")
			queue := "cli-" + unique
			if s.table != "" {
				expect(t, e.qctl("work", "--once"), 1, "run `qctl migrate q`")
				e.ok("migrate")
				expect(t, e.ok("migrate"), 0, "Nothing to migrate.")
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
