// Package sqldb opens the SQL databases qctl keeps queues, failed jobs and signals in, tuned for
// many short single-statement writes from several worker processes at once.
//
// Pool sizes per dialect:
//   - SQLite: one connection per process. SQLite has one writer at a time per file; letting the Go
//     pool queue this process's goroutines is far cheaper than having several connections of one
//     process fight over the write lock through the busy handler's sleeps. Other processes on the
//     same file wait through busy_timeout (10 s), so a write never fails with SQLITE_BUSY under
//     ordinary contention. Transactions begin IMMEDIATE, so a transaction takes the write lock up
//     front instead of failing when it upgrades from reading to writing.
//   - PostgreSQL and MySQL: up to 16 connections, all kept idle between bursts (reconnecting to
//     PostgreSQL forks a server process, which costs more than an idle connection). On a 2-core
//     machine more connections made a 50-goroutine drain slower, not faster.
//
// MySQL connections get, unless the DSN says otherwise: interpolateParams (one round trip per
// statement), clientFoundRows (RowsAffected counts matched rows, as the other dialects do),
// READ COMMITTED isolation (no gap-lock deadlocks between pops and deletes) and a one-minute
// read and write timeout (COMMIT gets no context, so nothing else bounds it).
package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// The dialect names, defined once for every package below the config (which validates the same
// names, checked by a test); they equal gorm's Dialector.Name() for each.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
	MySQL    = "mysql"
)

const (
	// connectTimeout bounds dialing a server, so an unreachable host fails fast instead of
	// waiting for the operating system's TCP timeout.
	connectTimeout = 5 * time.Second
	// serverPoolSize is the connection limit for PostgreSQL and MySQL.
	serverPoolSize = 16
	// mysqlIOTimeout bounds each read and write on a MySQL connection unless the DSN sets
	// readTimeout or writeTimeout: far above any statement qctl sends, far below the minutes the
	// operating system takes to give up on a silent server.
	mysqlIOTimeout = time.Minute
	// sqliteBusyTimeoutMS is how long an SQLite write waits for another process's lock.
	sqliteBusyTimeoutMS = 10000
)

// quietMySQL is a mysql.Logger that drops the driver's log lines.
type quietMySQL struct{}

func (quietMySQL) Print(...any) {}

// ErrUnreachable is wrapped by Open's error when the database could not be reached. A connector
// translates it into connectors.ErrUnavailable at its boundary; sqldb itself stays below the
// connector contract.
var ErrUnreachable = errors.New("database unreachable")

// Open connects to a database of dialect ("sqlite", "postgres" or "mysql") and checks that it
// answers. For SQLite, dsn is a file path, created when missing. A database that cannot be reached
// gives an error wrapping ErrUnreachable that names the dialect and host but never the password.
func Open(ctx context.Context, dialect, dsn string) (*gorm.DB, error) {
	var (
		sqlDB     *sql.DB
		dialector gorm.Dialector
		where     string
		mysqlCfg  *mysql.Config
		err       error
	)
	switch dialect {
	case SQLite:
		where = SQLitePath(dsn)
		if err := CheckSQLiteFile(dsn); err != nil {
			return nil, unavailable(dialect, where, err)
		}
		sqlDB, err = sql.Open("sqlite", sqliteDSN(dsn))
		if err == nil {
			sqlDB.SetMaxOpenConns(1)
			sqlDB.SetMaxIdleConns(1)
			dialector = &sqlite.Dialector{Conn: sqlDB}
		}
	case Postgres:
		var cfg *pgx.ConnConfig
		cfg, err = pgx.ParseConfig(dsn)
		if err != nil {
			// pgx redacts the password from its parse errors.
			return nil, fmt.Errorf("sqldb: postgres dsn: %w", err)
		}
		where = net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
		if cfg.ConnectTimeout == 0 {
			cfg.ConnectTimeout = connectTimeout
		}
		sqlDB = stdlib.OpenDB(*cfg)
		serverPool(sqlDB)
		dialector = postgres.New(postgres.Config{Conn: sqlDB})
	case MySQL:
		mysqlCfg, err = mysql.ParseDSN(dsn)
		if err != nil {
			return nil, fmt.Errorf("sqldb: mysql dsn: %w", err)
		}
		where = mysqlCfg.Addr
		if mysqlCfg.Timeout == 0 {
			mysqlCfg.Timeout = connectTimeout
		}
		// A context bounds most calls, but database/sql gives COMMIT and ROLLBACK none, and the
		// driver then reads with no deadline: a server that stopped answering without closing
		// the connection (frozen, or cut off by a firewall that drops packets) would hold a
		// worker's pop until the operating system gave up on the connection, many minutes later.
		if mysqlCfg.ReadTimeout == 0 {
			mysqlCfg.ReadTimeout = mysqlIOTimeout
		}
		if mysqlCfg.WriteTimeout == 0 {
			mysqlCfg.WriteTimeout = mysqlIOTimeout
		}
		// Client-side interpolation sends each statement in one round trip instead of three
		// (prepare, execute, close); it is safe with the utf8mb4 connection charset.
		if !strings.Contains(dsn, "interpolateParams=") {
			mysqlCfg.InterpolateParams = true
		}
		// RowsAffected of an UPDATE counts matched rows, as in PostgreSQL and SQLite, rather than
		// changed rows: an UPDATE that writes the value a row already has still found it.
		if !strings.Contains(dsn, "clientFoundRows=") {
			mysqlCfg.ClientFoundRows = true
		}
		// The driver logs what it retries by itself ("closing bad idle connection: EOF") to the
		// process's stderr in a format of its own; what does fail reaches qctl as an error, and
		// the worker reports an outage once.
		mysqlCfg.Logger = quietMySQL{}
		var connector driver.Connector
		connector, err = mysql.NewConnector(mysqlCfg)
		if err == nil {
			sqlDB = sql.OpenDB(connector)
			serverPool(sqlDB)
		}
	default:
		return nil, fmt.Errorf("sqldb: unknown dialect %q (want sqlite, postgres or mysql)", dialect)
	}
	if err != nil {
		return nil, unavailable(dialect, where, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, connectTimeout+time.Second)
	err = sqlDB.PingContext(pingCtx)
	cancel()
	if err != nil {
		sqlDB.Close()
		return nil, unavailable(dialect, where, err)
	}
	if dialect == SQLite {
		if err = walMode(ctx, sqlDB); err != nil {
			sqlDB.Close()
			return nil, unavailable(dialect, where, err)
		}
	}
	if dialect == MySQL {
		if sqlDB, err = readCommitted(ctx, sqlDB, mysqlCfg); err != nil {
			return nil, unavailable(dialect, where, err)
		}
		// After the ping, so gorm's version query cannot hang on an unreachable server.
		dialector = gormmysql.New(gormmysql.Config{Conn: sqlDB})
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		Logger:                 logger.Discard,
		DisableAutomaticPing:   true,
		SkipDefaultTransaction: true,
	})
	if err != nil {
		sqlDB.Close()
		return nil, unavailable(dialect, where, err)
	}
	return db, nil
}

func serverPool(db *sql.DB) {
	db.SetMaxOpenConns(serverPoolSize)
	db.SetMaxIdleConns(serverPoolSize)
	db.SetConnMaxIdleTime(5 * time.Minute)
}

// unavailable wraps an error of Open. It matches ErrUnreachable unless the server
// answered with a refusal (see refused): a worker waits out the one and reports the other at once.
func unavailable(dialect, where string, err error) error {
	if refused(err) {
		return fmt.Errorf("sqldb: connect %s at %s: %w", dialect, where, err)
	}
	return fmt.Errorf("sqldb: connect %s at %s: %w: %w", dialect, where, ErrUnreachable, err)
}

// refused reports whether a server answered a connection with an error that waiting for it does
// not fix, such as a wrong password or a database that does not exist, as opposed to one it gives
// while it starts, stops or is full.
func refused(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return !IsConnectionError(pgErr)
	}
	var myErr *mysql.MySQLError
	if errors.As(err, &myErr) {
		return !IsConnectionError(myErr)
	}
	return false
}

// CheckSQLiteFile checks, without opening the database, that an SQLite dsn's file can be opened
// for writing: its directory exists and is a directory, and the file, or the directory when the
// file is still to be created, is writable. SQLite reports each of those as "unable to open
// database file: out of memory", which names neither the file nor the fix.
func CheckSQLiteFile(dsn string) error {
	where := SQLitePath(dsn)
	if where == "" || strings.HasPrefix(where, "file:") || strings.HasPrefix(where, ":memory:") {
		return nil
	}
	dir := filepath.Dir(where)
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("the directory %s does not exist (qctl creates the database file, not its directory)", dir)
	case err == nil && !st.IsDir():
		return fmt.Errorf("%s is not a directory, so the database %s cannot be in it", dir, where)
	}
	if _, err := os.Stat(where); errors.Is(err, fs.ErrNotExist) {
		if !writable(dir) {
			return fmt.Errorf("the directory %s is not writable by this user, and the database %s is to be created there", dir, where)
		}
	} else if err == nil && !writable(where) {
		return fmt.Errorf("the database %s is not writable by this user", where)
	}
	return nil
}

// SQLitePath returns the file part of an SQLite dsn.
func SQLitePath(dsn string) string {
	if i := strings.IndexByte(dsn, '?'); i >= 0 {
		return dsn[:i]
	}
	return dsn
}

// sqliteDSN adds the per-connection pragmas qctl relies on to a file path. _txlock=immediate
// makes BEGIN take the write lock at once: a deferred transaction that reads and then writes gets
// SQLITE_BUSY without waiting when another process wrote in between.
func sqliteDSN(dsn string) string {
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	return dsn + sep + fmt.Sprintf("_pragma=busy_timeout(%d)", sqliteBusyTimeoutMS) +
		"&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// walMode switches the file to write-ahead logging, so readers never block the writer. The mode is
// stored in the file, so once is enough. Switching needs a moment's exclusive lock, and SQLite
// reports SQLITE_BUSY at once, without its busy handler, when several processes open a new file
// together; so this retries for as long as busy_timeout would have waited.
func walMode(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeoutMS * time.Millisecond)
	pause := 5 * time.Millisecond
	for {
		var mode string
		err := db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		if err == nil && mode != "wal" {
			err = fmt.Errorf("journal_mode is %q, want wal", mode)
		}
		if err == nil || !IsConnectionError(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, 100*time.Millisecond)
	}
}

// readCommitted reopens db with every connection in READ COMMITTED unless the DSN sets the
// isolation itself. Under InnoDB's default REPEATABLE READ a pop's SELECT … FOR UPDATE takes gap
// locks, and concurrent pops and deletes then deadlock each other many times a second; READ
// COMMITTED locks only the rows read. The variable is tx_isolation on MariaDB (its only name
// before 11.1) and transaction_isolation on MySQL (the only name since 8.0).
func readCommitted(ctx context.Context, db *sql.DB, cfg *mysql.Config) (*sql.DB, error) {
	if _, ok := cfg.Params["tx_isolation"]; ok {
		return db, nil
	}
	if _, ok := cfg.Params["transaction_isolation"]; ok {
		return db, nil
	}
	var version string
	if err := db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		db.Close()
		return nil, err
	}
	name := "transaction_isolation"
	if strings.Contains(version, "MariaDB") {
		name = "tx_isolation"
	}
	db.Close()
	cfg = cfg.Clone()
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params[name] = "'READ-COMMITTED'"
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db = sql.OpenDB(connector)
	serverPool(db)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}
