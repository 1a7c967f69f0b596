// Package config reads queue.toml: the connections a worker can use, where failed jobs are
// stored, and which commands run which jobs. It parses, fills in defaults and validates in one
// step, and reports every problem of a file at once, each with its key path and line, because a
// worker that starts on a half-understood config fails later and far from the cause.
//
// The package only turns bytes into values: LoadFile is its one piece of I/O, and nothing here
// opens a connection. Only the commands package reads it.
package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Driver names, the value of a connection's driver key. They follow Laravel's queue drivers so
// that a Laravel config/queue.php translates key by key.
const (
	DriverDatabase   = "database"
	DriverRedis      = "redis"
	DriverBeanstalkd = "beanstalkd"
	DriverSync       = "sync"
	DriverNull       = "null"
)

// SQL dialects of the database driver and of the failed-job store.
const (
	DialectSQLite   = "sqlite"
	DialectPostgres = "postgres"
	DialectMySQL    = "mysql"
)

// Payload formats: the JSON envelope written to and expected from the queue, so that qctl can
// share a queue with Laravel or with ThinkPHP's think-queue.
const (
	FormatLaravel = "laravel"
	FormatThink   = "think"
)

// Redis topologies for Connection.Mode; the empty mode lets the connector choose from the other
// keys (master_name means sentinel, several addrs mean cluster).
const (
	ModeSingle   = "single"
	ModeSentinel = "sentinel"
	ModeCluster  = "cluster"
)

// Config is a whole queue.toml after defaults and validation: every field a consumer reads is
// already filled in, so no other package needs to know a default.
type Config struct {
	Default     string                // name of the connection used when none is named
	Connections map[string]Connection // keyed by name; Connection.Name repeats the key
	Failed      Failed                // where failed jobs are logged
	Handlers    map[string]Handler    // exec handlers keyed by job name; Handler.Name repeats the key
	Supervisors map[string]Supervisor // `qctl supervise` pools keyed by name; nil when there are none
	AppKey      string                // Laravel's APP_KEY, to decrypt ShouldBeEncrypted jobs; secret: never print it
	Path        string                // file the config came from; "" for Default() and Load
	// Timezone is the zone failed-job times are written and read in (key "timezone", an IANA
	// name; default UTC): the PHP side's, Laravel's app.timezone or ThinkPHP's
	// default_timezone, because failed_at and fail_time keep a wall clock without a zone.
	Timezone *time.Location
	// HistoryRetention is how long the per-minute history the dashboard charts is kept in each
	// connection's state store (key "history_retention", integer seconds, default a day; at
	// least an hour, the span of the charts; 0 records none).
	HistoryRetention time.Duration
}

// Connection is one queue backend. Only the fields of its driver are meaningful; a file that sets
// a key of another driver is rejected rather than silently ignored. Which keys a driver reads,
// their defaults and checks are its DriverSpec's (drivers.go for the built-ins).
type Connection struct {
	Name       string
	Driver     string        // one of the Driver constants
	Queue      string        // queue used when none is named; default "default"
	RetryAfter time.Duration // lease of a reserved job before it is handed out again; default 90s, 0 = never
	BlockFor   time.Duration // how long a pop waits for a job; default 5s for redis and beanstalkd, else 0 (poll)
	Format     string        // payload format, FormatLaravel (default) or FormatThink; settable for database and redis

	// Database driver.
	Dialect    string // one of the Dialect constants; default sqlite
	DSN        string // driver-specific data source name; default "qctl.db" for sqlite, required otherwise
	Table      string // jobs table; default "jobs"
	CacheTable string // Laravel's database cache table; the restart signal then lives there
	// NotifyTrigger (postgres) has `qctl migrate` create a trigger on the jobs table that wakes
	// waiting workers on rows PHP inserts, as qctl's own pushes do.
	NotifyTrigger bool

	// Redis and beanstalkd drivers.
	Addr  string   // host:port; default 127.0.0.1:6379 (redis) or 127.0.0.1:11300 (beanstalkd), unless Addrs is set
	Addrs []string // redis cluster seeds or sentinel addresses; several beanstalkd servers. Exclusive with Addr.

	// Redis driver.
	Mode        string // "" (auto) or one of the Mode constants
	MasterName  string // sentinel master name
	Username    string
	Password    string
	DB          int    // database number; must be 0 in cluster mode
	TLS         bool   // connect with TLS
	Prefix      string // prefix of queue keys, as Laravel's client prefix (e.g. "laravel_database_")
	CachePrefix string // prefix of the restart-signal cache key (also database, with CacheTable)
	CacheDB     *int   // database of the restart-signal cache key; nil = DB

	// Beanstalkd driver.
	Priority   uint32 // priority of pushed jobs (lower is more urgent); default 1024
	BuryFailed bool   // bury failed jobs in beanstalkd instead of deleting them

	// Settings holds what the Decode of a driver registered outside the built-ins read from
	// the section (see RegisterDriver); nil for the built-in drivers, whose settings are above.
	Settings any
}

// Failed is the failed-job store. By default it shares the default connection's database, so a
// plain SQLite setup keeps everything in one file.
type Failed struct {
	Driver  string // DriverDatabase (default) or DriverNull to discard failed jobs
	Dialect string // one of the Dialect constants
	DSN     string
	Table   string // default "failed_jobs"
	UUIDs   bool   // Laravel's uuid-keyed table (default); false for think-queue 3's integer ids and fail_time
	// BatchesTable is Laravel's job_batches table (queue.batching.table), kept in the failed
	// store's database as a Laravel app keeps both in its default one; "" means "job_batches".
	BatchesTable string
}

// What an exec handler's command reads on stdin, for Handler.Stdin.
const (
	StdinPayload = "payload" // the payload JSON as popped, envelope and all
	StdinData    = "data"    // the job's data alone; a Laravel object job's command decoded to JSON
)

// Handler runs a job by executing a command with the job's JSON on stdin, so that jobs can be
// written in any language without a Go build.
type Handler struct {
	Name    string
	Command []string          // argv; never empty
	Dir     string            // working directory; "" for the worker's own
	Env     map[string]string // added to the worker's environment
	Timeout time.Duration     // per-job limit; 0 means the worker's --timeout
	Stdin   string            // StdinPayload (default) or StdinData
	// UniqueUntilProcessing declares the Laravel class ShouldBeUniqueUntilProcessing: its unique
	// lock is released before the job runs, as Laravel's worker does, not after.
	UniqueUntilProcessing bool
}

// defaultTOML is the configuration used when there is no queue.toml. Default parses it rather
// than building a struct by hand so that the built-in config can never disagree with the
// defaults a file gets.
const defaultTOML = `
default = "database"

[connections.database]
driver = "database"
`

// Default returns the built-in configuration used when no queue.toml exists: one "database"
// connection on the SQLite file qctl.db, queue "default", retry_after 90, and the failed-job
// store in the same file. It needs no server.
func Default() *Config {
	cfg, err := Parse([]byte(defaultTOML), func(string) (string, bool) { return "", false })
	if err != nil {
		panic("config: built-in default is invalid: " + err.Error())
	}
	return cfg
}

// Load parses a queue.toml, expanding ${VAR} and ${VAR:-default} from the process environment.
// On any problem it returns a nil Config and an Errors value listing all of them.
func Load(data []byte) (*Config, error) {
	return Parse(data, os.LookupEnv)
}

// Parse is Load with the environment lookup passed in, so tests and embedding programs control
// expansion without touching the process environment.
func Parse(data []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	src := string(data)
	var doc map[string]any
	if _, err := toml.Decode(src, &doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{Line: pe.Position.Line, Msg: "syntax error: " + pe.Message}}
		}
		return nil, Errors{{Msg: err.Error()}}
	}
	d := &decoder{lookupEnv: lookupEnv, lines: indexLines(src)}
	cfg := d.document(doc)
	if len(d.errs) > 0 {
		sortErrors(d.errs)
		return nil, d.errs
	}
	return cfg, nil
}

// LoadFile reads path and calls Load, recording path in Config.Path. A missing file returns an
// error wrapping fs.ErrNotExist so the caller can fall back to Default; config problems are
// returned as Errors (reachable with errors.As) prefixed with the path.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Load(data)
	if err != nil {
		var errs Errors
		if errors.As(err, &errs) && len(errs) > 1 {
			return nil, fmt.Errorf("%s: %d problems:\n%w", path, len(errs), err)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg.Path = path
	return cfg, nil
}

// Connection returns the named connection, or the default one for "". An unknown name returns
// an error wrapping ErrUnknownConnection that lists the known names, because the usual cause is
// a typo on the command line.
func (c *Config) Connection(name string) (Connection, error) {
	if name == "" {
		name = c.Default
	}
	conn, ok := c.Connections[name]
	if !ok {
		return Connection{}, fmt.Errorf("%w %q (known: %s)", ErrUnknownConnection, name, strings.Join(c.Names(), ", "))
	}
	return conn, nil
}

// Names returns the connection names sorted, for stable listings and error messages.
func (c *Config) Names() []string {
	names := make([]string, 0, len(c.Connections))
	for name := range c.Connections {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
