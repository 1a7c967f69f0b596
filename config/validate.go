package config

import (
	"slices"
	"strings"
	"time"
)

// Allowed values of the enumerated keys, in the order error messages list them.
var (
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

// tableName checks a table name, which connectors splice into SQL.
func (d *decoder) tableName(path []string, name string) {
	if !isTableName(name) {
		d.fail(path, "invalid table name %q (want letters, digits and _, optionally schema.table)", name)
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
