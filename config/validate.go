package config

import (
	"slices"
	"strings"
	"time"
)

// Allowed values of the enumerated keys, in the order error messages list them.
var (
	allDrivers    = []string{DriverDatabase, DriverRedis, DriverBeanstalkd, DriverSync, DriverNull}
	failedDrivers = []string{DriverDatabase, DriverNull}
	allDialects   = []string{DialectSQLite, DialectPostgres, DialectMySQL}
	allFormats    = []string{FormatLaravel, FormatThink}
	redisModes    = []string{ModeSingle, ModeSentinel, ModeCluster}
	handlerStdins = []string{StdinPayload, StdinData}
)

// Defaults that more than one place needs.
const (
	defaultSQLiteFile = "qctl.db"
	defaultRetryAfter = 90 * time.Second
	defaultBlockFor   = 5 * time.Second
	defaultPriority   = 1024 // beanstalkd's own default priority

	// preferredDefault is the connection chosen when several exist and none is named: the
	// built-in default's name, so adding a redis section to a working file changes nothing.
	preferredDefault = "database"
)

// applyConnectionDefaults fills in what the file left out. set holds the keys present in the
// file, for settings where zero is a meaningful choice (retry_after = 0, priority = 0). For
// strings, empty means absent, so that a ${VAR} that is unset falls back to the default too.
func applyConnectionDefaults(c *Connection, set map[string]bool) {
	if c.Queue == "" {
		c.Queue = "default"
	}
	if !set["retry_after"] {
		c.RetryAfter = defaultRetryAfter
	}
	if c.Format == "" {
		c.Format = FormatLaravel
	}
	switch c.Driver {
	case DriverDatabase:
		if c.Dialect == "" {
			c.Dialect = DialectSQLite
		}
		if c.DSN == "" && c.Dialect == DialectSQLite {
			c.DSN = defaultSQLiteFile
		}
		if c.Table == "" {
			c.Table = "jobs"
		}
	case DriverRedis:
		if !set["block_for"] {
			c.BlockFor = defaultBlockFor
		}
		if c.Addr == "" && len(c.Addrs) == 0 {
			c.Addr = "127.0.0.1:6379"
		}
	case DriverBeanstalkd:
		if !set["block_for"] {
			c.BlockFor = defaultBlockFor
		}
		if c.Addr == "" && len(c.Addrs) == 0 {
			c.Addr = "127.0.0.1:11300"
		}
		if !set["priority"] {
			c.Priority = defaultPriority
		}
	}
}

// applyFailedDefaults fills in the failed store. Without its own database it uses the default
// connection's (fallback, nil unless that connection uses the database driver), so failed jobs
// live next to the jobs; with no database anywhere it uses the SQLite file, which needs no server.
func applyFailedDefaults(f *Failed, set map[string]bool, fallback *Connection) {
	if !set["uuids"] {
		f.UUIDs = true
	}
	if f.Driver != DriverDatabase {
		return
	}
	switch {
	case f.Dialect == "" && f.DSN == "":
		f.Dialect, f.DSN = DialectSQLite, defaultSQLiteFile
		if fallback != nil {
			f.Dialect, f.DSN = fallback.Dialect, fallback.DSN
		}
	case f.Dialect == "":
		f.Dialect = DialectSQLite
		if fallback != nil {
			f.Dialect = fallback.Dialect
		}
	case f.DSN == "":
		if fallback != nil && fallback.Dialect == f.Dialect {
			f.DSN = fallback.DSN
		} else if f.Dialect == DialectSQLite {
			f.DSN = defaultSQLiteFile
		}
	}
	if f.Table == "" {
		f.Table = "failed_jobs"
	}
}

// resolveDefault picks the default connection when the file does not name one and checks it
// when it does. Guessing is limited to the unambiguous cases: a connection called "database"
// (the built-in default's name) or a single connection.
func (d *decoder) resolveDefault(cfg *Config) {
	path := []string{"default"}
	switch _, ok := cfg.Connections[cfg.Default]; {
	case cfg.Default != "" && !ok:
		d.fail(path, "no connection named %q (known: %s)", cfg.Default, strings.Join(cfg.Names(), ", "))
	case cfg.Default != "":
	case hasKey(cfg.Connections, preferredDefault):
		cfg.Default = preferredDefault
	case len(cfg.Connections) == 1:
		cfg.Default = cfg.Names()[0]
	case len(cfg.Connections) > 1:
		d.fail(path, "required when there are several connections")
	}
}

// validateConnection checks the values of one connection after defaults, where base is its path.
func (d *decoder) validateConnection(base []string, c Connection) {
	at := func(key string) []string { return append(base[:len(base):len(base)], key) }
	switch {
	case c.Driver == "":
		d.fail(at("driver"), "required")
	case !slices.Contains(allDrivers, c.Driver):
		d.fail(at("driver"), "unknown driver %q (want one of: %s)", c.Driver, strings.Join(allDrivers, ", "))
	}
	d.oneOf(at("format"), "format", c.Format, allFormats)
	switch c.Driver {
	case DriverDatabase:
		d.database(base, c)
	case DriverRedis:
		if c.Mode != "" {
			d.oneOf(at("mode"), "mode", c.Mode, redisModes)
		}
		if c.Mode == ModeSentinel && c.MasterName == "" {
			d.fail(at("master_name"), "required when mode is %q", ModeSentinel)
		}
		if c.Mode == ModeCluster && c.DB != 0 {
			d.fail(at("db"), "must be 0 in cluster mode (Redis Cluster has only database 0)")
		}
		if c.Mode == ModeCluster && c.CacheDB != nil && *c.CacheDB != 0 {
			d.fail(at("cache_db"), "must be 0 in cluster mode (Redis Cluster has only database 0)")
		}
		d.addresses(base, c)
	case DriverBeanstalkd:
		d.addresses(base, c)
	}
}

// validateFailed checks the failed store after defaults. A dialect or dsn inherited from the
// default connection is not checked again here: its problems are reported once, on that
// connection, where the fix belongs.
func (d *decoder) validateFailed(base []string, f Failed, set map[string]bool, fallback *Connection) {
	at := func(key string) []string { return append(base[:len(base):len(base)], key) }
	if !slices.Contains(failedDrivers, f.Driver) {
		d.fail(at("driver"), "unknown driver %q (want one of: %s)", f.Driver, strings.Join(failedDrivers, ", "))
		return
	}
	if f.Driver != DriverDatabase {
		return
	}
	if set["dialect"] && !d.oneOf(at("dialect"), "dialect", f.Dialect, allDialects) {
		return
	}
	if f.DSN == "" && (fallback == nil || fallback.Dialect != f.Dialect) {
		d.fail(at("dsn"), "required for dialect %q", f.Dialect)
	}
	d.tableName(at("table"), f.Table)
}

// validateHandler checks one handler; tbl is its raw table, to avoid repeating a type error
// already reported for command.
func (d *decoder) validateHandler(base []string, h Handler, tbl map[string]any) {
	path := append(base[:len(base):len(base)], "command")
	raw, isList := tbl["command"].([]any)
	switch {
	case tbl["command"] == nil || isList && len(raw) == 0:
		d.fail(path, "required")
	case !isList:
	case h.Command[0] == "":
		if _, isString := raw[0].(string); isString {
			d.failItem(path, 0, "empty program name")
		}
	}
	d.oneOf(append(base[:len(base):len(base)], "stdin"), "stdin", h.Stdin, handlerStdins)
}

// database checks the dialect, dsn and table of a database connection.
func (d *decoder) database(base []string, c Connection) {
	at := func(key string) []string { return append(base[:len(base):len(base)], key) }
	if !d.oneOf(at("dialect"), "dialect", c.Dialect, allDialects) {
		return
	}
	if c.DSN == "" {
		d.fail(at("dsn"), "required for dialect %q", c.Dialect)
	}
	d.tableName(at("table"), c.Table)
	if c.NotifyTrigger && c.Dialect != DialectPostgres {
		d.fail(at("notify_trigger"), "needs dialect %q (NOTIFY is PostgreSQL's); %s workers poll instead", DialectPostgres, c.Dialect)
	}
	if c.CacheTable != "" {
		d.tableName(at("cache_table"), c.CacheTable)
		if c.Format == FormatThink {
			d.fail(at("cache_table"), "is Laravel's database cache; think-queue's restart key lives in ThinkPHP's cache (use a redis connection's cache_prefix)")
		}
	}
}

// tableName checks a table name, which connectors splice into SQL.
func (d *decoder) tableName(path []string, name string) {
	if !isTableName(name) {
		d.fail(path, "invalid table name %q (want letters, digits and _, optionally schema.table)", name)
	}
}

// addresses checks addr and addrs of the redis and beanstalkd drivers.
func (d *decoder) addresses(base []string, c Connection) {
	path := append(base[:len(base):len(base)], "addrs")
	if c.Addr != "" && len(c.Addrs) > 0 {
		d.fail(path, "set addr or addrs, not both")
	}
	for i, a := range c.Addrs {
		if a == "" {
			d.failItem(path, i, "empty address")
		}
	}
}

// oneOf reports whether value is one of allowed, reporting it as an unknown what otherwise.
func (d *decoder) oneOf(path []string, what, value string, allowed []string) bool {
	if slices.Contains(allowed, value) {
		return true
	}
	d.fail(path, "unknown %s %q (want one of: %s)", what, value, strings.Join(allowed, ", "))
	return false
}

// isTableName reports whether name is a plain SQL identifier, optionally schema-qualified. The
// name is spliced into SQL by the connectors, so anything that would need quoting is refused here.
func isTableName(name string) bool {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for i := 0; i < len(p); i++ {
			if !isBareKeyByte(p[i]) || p[i] == '-' {
				return false
			}
		}
	}
	return true
}

// hasKey reports whether m has key k.
func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}
