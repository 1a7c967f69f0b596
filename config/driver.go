package config

import (
	"fmt"
	"slices"
	"sync"
)

// DriverSpec is what a connection driver tells the config about itself: the keys a
// [connections.NAME] table of that driver may hold, and how they are read, defaulted and checked.
// Each driver declares all of it in one value, so adding a driver touches no code here: the
// driver's package registers its spec (through the manager package, which also takes its open
// function) and the config reads its sections from then on.
type DriverSpec struct {
	// Name is the value of the driver key, such as "redis".
	Name string
	// Keys lists every key the driver reads besides "driver" and "queue". The shared keys
	// retry_after, block_for and format keep their common meaning and are decoded for the driver
	// when it lists them; Decode reads the rest. A key of another driver is reported as "not used
	// by driver", any other as "unknown key".
	Keys []string
	// Decode reads the driver's own keys from t into c, fills in their defaults and reports bad
	// values through t. A driver outside qctl's built-ins keeps its settings in c.Settings.
	Decode func(t *Table, c *Connection)
}

// drivers is the registry of connection drivers, in registration order: the built-ins first,
// so error messages list them as Laravel's docs do.
var drivers struct {
	sync.RWMutex
	specs []DriverSpec
}

// RegisterDriver makes a connection driver known to Parse. It panics when the name is empty or
// already registered, as database/sql.Register does: both are programming errors found at start.
func RegisterDriver(spec DriverSpec) {
	drivers.Lock()
	defer drivers.Unlock()
	if spec.Name == "" || spec.Decode == nil {
		panic("config: RegisterDriver needs a name and a Decode function")
	}
	for _, s := range drivers.specs {
		if s.Name == spec.Name {
			panic(fmt.Sprintf("config: driver %q registered twice", spec.Name))
		}
	}
	drivers.specs = append(drivers.specs, spec)
}

// DriverNames lists the registered connection drivers, built-ins first.
func DriverNames() []string {
	drivers.RLock()
	defer drivers.RUnlock()
	names := make([]string, len(drivers.specs))
	for i, s := range drivers.specs {
		names[i] = s.Name
	}
	return names
}

// driverSpec returns the spec registered under name.
func driverSpec(name string) (DriverSpec, bool) {
	drivers.RLock()
	defer drivers.RUnlock()
	for _, s := range drivers.specs {
		if s.Name == name {
			return s, true
		}
	}
	return DriverSpec{}, false
}

// anyDriverReads reports whether some registered driver reads key, to tell a key copied from
// another driver's section from a typo.
func anyDriverReads(key string) bool {
	drivers.RLock()
	defer drivers.RUnlock()
	for _, s := range drivers.specs {
		if slices.Contains(s.Keys, key) {
			return true
		}
	}
	return false
}

// Table is one [connections.NAME] section as a driver's Decode sees it: typed getters that
// expand ${VAR}, and report a wrong type or value with the key's path and line, so every driver's
// errors read alike and all of a file's problems are reported in one run.
type Table struct {
	d    *decoder
	base []string
	tbl  map[string]any
}

func (t *Table) path(key string) []string { return append(t.base[:len(t.base):len(t.base)], key) }

// Has reports whether the file sets key, for settings where zero is a meaningful choice.
func (t *Table) Has(key string) bool { _, ok := t.tbl[key]; return ok }

// String returns key's expanded string, or "" when absent or bad.
func (t *Table) String(key string) string {
	if v, ok := t.tbl[key]; ok {
		return t.d.str(t.path(key), v)
	}
	return ""
}

// Strings returns key's expanded list of strings, or nil when absent.
func (t *Table) Strings(key string) []string {
	if v, ok := t.tbl[key]; ok {
		return t.d.strs(t.path(key), v)
	}
	return nil
}

// Int returns key's integer, which must lie in [lo, hi]; lo when absent or bad.
func (t *Table) Int(key string, lo, hi int64) int64 {
	if v, ok := t.tbl[key]; ok {
		return t.d.integer(t.path(key), v, lo, hi)
	}
	return lo
}

// Bool returns key's boolean, or false when absent or bad.
func (t *Table) Bool(key string) bool {
	if v, ok := t.tbl[key]; ok {
		return t.d.boolean(t.path(key), v)
	}
	return false
}

// Fail reports a problem with key.
func (t *Table) Fail(key, format string, args ...any) { t.d.fail(t.path(key), format, args...) }

// OneOf reports whether value is one of allowed, reporting it against key as an unknown what
// otherwise.
func (t *Table) OneOf(key, what, value string, allowed []string) bool {
	return t.d.oneOf(t.path(key), what, value, allowed)
}

// TableName reports name unless it is a plain SQL identifier, optionally schema-qualified.
func (t *Table) TableName(key, name string) { t.d.tableName(t.path(key), name) }
