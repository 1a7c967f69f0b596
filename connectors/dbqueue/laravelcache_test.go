package dbqueue

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors/connectortest"
	"github.com/qctl/qctl/internal/sqldb"
)

// cacheTableDDL is Laravel 8's cache migration stub (key string primary, value mediumText,
// expiration integer) in each dialect.
var cacheTableDDL = map[string]string{
	sqldb.SQLite:   `CREATE TABLE %s ("key" varchar NOT NULL PRIMARY KEY, "value" text NOT NULL, "expiration" integer NOT NULL)`,
	sqldb.Postgres: `CREATE TABLE %s ("key" varchar(255) NOT NULL PRIMARY KEY, "value" text NOT NULL, "expiration" integer NOT NULL)`,
	sqldb.MySQL:    "CREATE TABLE %s (`key` varchar(255) NOT NULL PRIMARY KEY, `value` mediumtext NOT NULL, `expiration` int NOT NULL)",
}

// With cache_table, the restart signal is the row Laravel's DatabaseStore keeps for
// Cache::forever('illuminate:queue:restart', time()): qctl reads what `php artisan
// queue:restart` wrote and writes what Laravel's worker reads.
func TestRestartSignalInLaravelsCacheTable(t *testing.T) {
	for _, dialect := range dialects {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			d := setup(t, dialect)
			cacheTable := "cache_ct_" + randomHex(5)
			q := d.open(t, connectortest.NewClock(), time.Minute)
			db := q.db
			if _, err := db.Exec(strings.Replace(cacheTableDDL[dialect], "%s", sqldb.Quote(dialect, cacheTable), 1)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { dropTables(t, dialect, d.dsn, cacheTable) })

			o := d.options(connectortest.NewClock(), time.Minute)
			o.CacheTable, o.CachePrefix = cacheTable, "shop_cache"
			lq, err := Open(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			defer lq.Close()
			ctx, now := context.Background(), lq.unix()
			if v, err := lq.RestartSignal(ctx); v != "" || err != nil {
				t.Fatalf("RestartSignal of an empty cache = %q, %v", v, err)
			}

			// What DatabaseStore::forever writes (no separator after the prefix).
			ins := sqldb.Placeholders(dialect, "INSERT INTO "+sqldb.Quote(dialect, cacheTable)+" ("+sqldb.Quote(dialect, "key")+", value, expiration) VALUES (?, ?, ?)")
			if _, err := db.Exec(ins, "shop_cacheilluminate:queue:restart", "i:1700000000;", now+foreverSeconds); err != nil {
				t.Fatal(err)
			}
			if v, err := lq.RestartSignal(ctx); v != "1700000000" || err != nil {
				t.Fatalf("RestartSignal after Laravel's queue:restart = %q, %v; want 1700000000", v, err)
			}

			if err := lq.BroadcastRestart(ctx, "1700000005"); err != nil {
				t.Fatal(err)
			}
			var value string
			var expiration int64
			sel := "SELECT value, expiration FROM " + sqldb.Quote(dialect, cacheTable)
			if err := db.QueryRow(sel).Scan(&value, &expiration); err != nil {
				t.Fatal(err)
			}
			if value != "i:1700000005;" || expiration < now+foreverSeconds {
				t.Fatalf("row after qctl restart = %q expiring %d; want i:1700000005; expiring >= %d, as Cache::forever", value, expiration, now+foreverSeconds)
			}
			if v, _ := q.RestartSignal(ctx); v != "" {
				t.Fatalf("a queue without cache_table read %q: it keeps its own signal", v)
			}

			missing := o
			missing.CacheTable = "no_such_cache_" + randomHex(4)
			mq, err := Open(context.Background(), missing)
			if err != nil {
				t.Fatal(err)
			}
			defer mq.Close()
			if _, err := mq.RestartSignal(ctx); err == nil || !strings.Contains(err.Error(), "php artisan cache:table") {
				t.Fatalf("RestartSignal with a missing cache table = %v; want the command that creates it", err)
			}
		})
	}
}

func TestPHPScalars(t *testing.T) {
	for in, want := range map[string]string{
		"i:1700000000;": "1700000000", "d:1.5;": "1.5", `s:3:"abc";`: "abc", `s:4:"a";b";`: `a";b`,
		"b:1;": "b:1;", `s:9:"short";`: `s:9:"short";`, "": "",
	} {
		if got := unserializeScalar(in); got != want {
			t.Errorf("unserializeScalar(%q) = %q, want %q", in, got, want)
		}
	}
	if got := serializeScalar("1700000000123456789"); got != "i:1700000000123456789;" {
		t.Errorf("serializeScalar(int) = %q", got)
	}
	if got := serializeScalar("abc"); got != `s:3:"abc";` {
		t.Errorf("serializeScalar(text) = %q", got)
	}
}
