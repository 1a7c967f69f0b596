package dbqueue

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/qctl/qctl/internal/sqldb"
)

// laravelRestartKey is the cache key `php artisan queue:restart` stores and Laravel's workers
// compare, under the cache prefix.
const laravelRestartKey = "illuminate:queue:restart"

// foreverSeconds is how long Laravel's DatabaseStore keeps a Cache::forever value.
const foreverSeconds = 315360000

// laravelCache is the restart signal kept in Laravel's database cache store (`php artisan
// cache:table`): rows (key, value, expiration) whose values are PHP-serialized. With it, `qctl
// restart` and `php artisan queue:restart` stop each other's workers on a database connection,
// as they do on Redis.
type laravelCache struct {
	table    string
	key      string // CachePrefix + laravelRestartKey; DatabaseStore adds no separator
	get, set string
	prefix   string // the cache prefix, in front of lock names too
	release  string // deletes a lock from the lock table
	postgres bool   // DatabaseStore base64-encodes values with NUL bytes on PostgreSQL
}

func newLaravelCache(dialect, table, prefix string) (*laravelCache, error) {
	if err := sqldb.CheckTable(table); err != nil {
		return nil, fmt.Errorf("cache_table: %w", err)
	}
	t, k := sqldb.Quote(dialect, table), sqldb.Quote(dialect, "key")
	c := &laravelCache{table: table, key: prefix + laravelRestartKey, prefix: prefix, postgres: dialect == sqldb.Postgres}
	c.release = sqldb.Placeholders(dialect, "DELETE FROM "+sqldb.Quote(dialect, table+"_locks")+" WHERE "+k+" = ?")
	c.get = sqldb.Placeholders(dialect, "SELECT value, expiration FROM "+t+" WHERE "+k+" = ?")
	upsert := " ON CONFLICT (" + k + ") DO UPDATE SET value = excluded.value, expiration = excluded.expiration"
	if dialect == sqldb.MySQL {
		upsert = " ON DUPLICATE KEY UPDATE value = VALUES(value), expiration = VALUES(expiration)"
	}
	c.set = sqldb.Placeholders(dialect, "INSERT INTO "+t+" ("+k+", value, expiration) VALUES (?, ?, ?)"+upsert)
	return c, nil
}

// read returns the stored signal as text ("" when none is stored or it expired).
func (c *laravelCache) read(ctx context.Context, db *sql.DB, now int64) (string, error) {
	var (
		value      string
		expiration int64
	)
	err := db.QueryRowContext(ctx, c.get, c.key).Scan(&value, &expiration)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if now >= expiration {
		return "", nil // DatabaseStore treats it as gone
	}
	return unserializeScalar(decodeCacheValue(c.postgres, value)), nil
}

// decodeCacheValue undoes DatabaseStore's base64 encoding of a value with NUL bytes on
// PostgreSQL; a serialized value always holds ':' or ';', which base64 never does.
func decodeCacheValue(postgres bool, value string) string {
	if postgres && !strings.ContainsAny(value, ":;") {
		if b, err := base64.StdEncoding.DecodeString(value); err == nil {
			return string(b)
		}
	}
	return value
}

// write stores value as Cache::forever does: an integer as PHP's i:N;, anything else as a string.
func (c *laravelCache) write(ctx context.Context, db *sql.DB, value string, now int64) error {
	_, err := db.ExecContext(ctx, c.set, c.key, serializeScalar(value), now+foreverSeconds)
	return err
}

// serializeScalar writes value in PHP's serialize format: i:N; for an integer, s:len:"…"; else.
func serializeScalar(value string) string {
	if _, err := strconv.ParseInt(value, 10, 64); err == nil {
		return "i:" + value + ";"
	}
	return "s:" + strconv.Itoa(len(value)) + `:"` + value + `";`
}

// unserializeScalar reads the scalars Laravel stores for a restart (i:N;, d:X;, s:len:"…";) and
// returns anything else as stored: a worker only compares the value with the one it read at start.
func unserializeScalar(v string) string {
	switch {
	case len(v) > 3 && (v[:2] == "i:" || v[:2] == "d:") && v[len(v)-1] == ';':
		return v[2 : len(v)-1]
	case strings.HasPrefix(v, "s:") && strings.HasSuffix(v, `";`):
		if lenText, rest, ok := strings.Cut(v[2:], `:"`); ok {
			if n, err := strconv.Atoi(lenText); err == nil && n == len(rest)-2 {
				return rest[:n]
			}
		}
	}
	return v
}
