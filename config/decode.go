package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
	_ "time/tzdata" // so "timezone" resolves in containers that have no /usr/share/zoneinfo

	"github.com/BurntSushi/toml"
)

// decoder turns the generic TOML tree into a Config. It walks the tree by hand instead of
// letting toml.Decode fill a struct because struct decoding stops at the first type mismatch,
// while a user fixing a file wants every problem in one run. Walking by hand also makes unknown
// keys fall out of the same loop that reads the known ones.
type decoder struct {
	lookupEnv func(string) (string, bool)
	lines     lineIndex
	errs      Errors
}

// fail records a problem with the key at path.
func (d *decoder) fail(path []string, format string, args ...any) {
	d.errs = append(d.errs, Error{
		Key:  toml.Key(path).String(),
		Line: d.lines.find(path),
		Msg:  fmt.Sprintf(format, args...),
	})
}

// failItem records a problem with element i of the array at path, as key "path[i]".
func (d *decoder) failItem(path []string, i int, format string, args ...any) {
	d.errs = append(d.errs, Error{
		Key:  fmt.Sprintf("%s[%d]", toml.Key(path), i),
		Line: d.lines.find(path),
		Msg:  fmt.Sprintf(format, args...),
	})
}

// failedKeys lists the keys of [failed] and the store drivers that read them.
var failedKeys = map[string][]string{
	"driver":  {DriverDatabase, DriverNull},
	"dialect": {DriverDatabase},
	"dsn":     {DriverDatabase},
	"table":   {DriverDatabase},
	"uuids":   {DriverDatabase},

	"batches_table": {DriverDatabase},
}

// document decodes the top level, then resolves what depends on several sections: the default
// connection and the failed store's fallback database.
func (d *decoder) document(doc map[string]any) *Config {
	cfg := &Config{Connections: map[string]Connection{}, Handlers: map[string]Handler{}}
	var failedTable, supervisors map[string]any
	for _, key := range sortedKeys(doc) {
		path := []string{key}
		switch key {
		case "default":
			cfg.Default = d.str(path, doc[key])
		case "connections":
			conns := d.table(path, doc[key])
			if conns != nil && len(conns) == 0 {
				d.fail(path, "at least one [connections.NAME] table is required")
			}
			for _, name := range sortedKeys(conns) {
				if tbl := d.table(append(path, name), conns[name]); tbl != nil {
					cfg.Connections[name] = d.connection(name, tbl)
				}
			}
		case "failed":
			failedTable = d.table(path, doc[key])
		case "timezone":
			cfg.Timezone = d.timezone(path, doc[key])
		case "supervisors":
			supervisors = d.table(path, doc[key])
		case "history_retention":
			cfg.HistoryRetention = d.retention(path, doc[key])
		case "app_key":
			cfg.AppKey = d.str(path, doc[key])
		case "handlers":
			handlers := d.table(path, doc[key])
			for _, name := range sortedKeys(handlers) {
				if tbl := d.table(append(path, name), handlers[name]); tbl != nil {
					cfg.Handlers[name] = d.handler(name, tbl)
				}
			}
		default:
			d.fail(path, "unknown key")
		}
	}
	if _, ok := doc["connections"]; !ok {
		d.fail([]string{"connections"}, "at least one [connections.NAME] table is required")
	}
	d.resolveDefault(cfg)
	cfg.Failed = d.failed(failedTable, cfg)
	for _, name := range sortedKeys(supervisors) {
		if tbl := d.table([]string{"supervisors", name}, supervisors[name]); tbl != nil {
			if cfg.Supervisors == nil {
				cfg.Supervisors = map[string]Supervisor{}
			}
			cfg.Supervisors[name] = d.supervisor(name, tbl, cfg)
		}
	}
	if cfg.Timezone == nil {
		cfg.Timezone = time.UTC
	}
	if _, set := doc["history_retention"]; !set {
		cfg.HistoryRetention = DefaultHistoryRetention
	}
	return cfg
}

// DefaultHistoryRetention is how long the dashboard's per-minute history is kept when
// history_retention is not set.
const DefaultHistoryRetention = 24 * time.Hour

// retention reads history_retention: 0 (record none) or at least an hour, the Overview charts'
// span, so a chart never shows a gap that is only the retention.
func (d *decoder) retention(path []string, v any) time.Duration {
	r := d.seconds(path, v)
	if r > 0 && r < time.Hour {
		d.fail(path, "must be 0 (keep no history) or at least 3600 seconds (the hour the Overview charts), got %d", int64(r/time.Second))
		return 0
	}
	return r
}

// timezone reads an IANA zone name such as "Asia/Shanghai"; "" means the default, UTC.
func (d *decoder) timezone(path []string, v any) *time.Location {
	name := d.str(path, v)
	if name == "" {
		return nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		d.fail(path, "unknown time zone %q (want an IANA name such as \"UTC\" or \"Asia/Shanghai\", as in PHP's config/app.php)", name)
		return nil
	}
	return loc
}

// sharedKeys are the connection keys with one meaning for every driver that lists them.
var sharedKeys = []string{"retry_after", "block_for", "format"}

// connection decodes [connections.name]: the driver, the keys every driver shares, then the
// driver's own keys through its registered spec, which also fills in its defaults and checks them.
func (d *decoder) connection(name string, tbl map[string]any) Connection {
	base := []string{"connections", name}
	at := func(key string) []string { return append(base[:2:2], key) }
	c := Connection{Name: name}
	if v, ok := tbl["driver"]; ok {
		c.Driver = d.str(at("driver"), v)
	}
	spec, knownDriver := driverSpec(c.Driver)
	for _, key := range sortedKeys(tbl) {
		switch {
		case key == "driver" || key == "queue":
		case knownDriver && slices.Contains(spec.Keys, key):
		case knownDriver && anyDriverReads(key):
			d.fail(at(key), "not used by driver %q", c.Driver)
		case !anyDriverReads(key):
			d.fail(at(key), "unknown key")
		}
	}
	if v, ok := tbl["queue"]; ok {
		c.Queue = d.str(at("queue"), v)
	}
	if c.Queue == "" {
		c.Queue = "default"
	}
	c.RetryAfter, c.Format = defaultRetryAfter, FormatLaravel
	for _, key := range sharedKeys {
		v, set := tbl[key]
		if !knownDriver || !set || !slices.Contains(spec.Keys, key) {
			continue
		}
		switch key {
		case "retry_after":
			c.RetryAfter = d.seconds(at(key), v)
		case "block_for":
			c.BlockFor = d.seconds(at(key), v)
		case "format":
			if c.Format = d.str(at(key), v); c.Format == "" {
				c.Format = FormatLaravel
			}
		}
	}
	if knownDriver && slices.Contains(spec.Keys, "block_for") && !hasKey(tbl, "block_for") {
		c.BlockFor = defaultBlockFor
	}
	switch {
	case c.Driver == "":
		d.fail(at("driver"), "required")
	case !knownDriver:
		d.fail(at("driver"), "unknown driver %q (want one of: %s)", c.Driver, strings.Join(DriverNames(), ", "))
	}
	d.oneOf(at("format"), "format", c.Format, allFormats)
	if knownDriver {
		spec.Decode(&Table{d: d, base: base, tbl: tbl}, &c)
	}
	return c
}

// failed decodes [failed] (tbl is nil when the section is absent) and fills what it leaves out
// from the default connection.
func (d *decoder) failed(tbl map[string]any, cfg *Config) Failed {
	base := []string{"failed"}
	f := Failed{}
	if v, ok := tbl["driver"]; ok {
		f.Driver = d.str(append(base, "driver"), v)
	}
	if f.Driver == "" {
		f.Driver = DriverDatabase
	}
	knownDriver := slices.Contains(failedKeys["driver"], f.Driver)
	set := map[string]bool{}
	for _, key := range d.keysFor(base[:1:1], tbl, failedKeys, f.Driver, knownDriver) {
		path := append(base[:1:1], key)
		set[key] = true
		v := tbl[key]
		switch key {
		case "dialect":
			f.Dialect = d.str(path, v)
		case "dsn":
			f.DSN = d.str(path, v)
		case "table":
			f.Table = d.str(path, v)
		case "uuids":
			f.UUIDs = d.boolean(path, v)
		case "batches_table":
			f.BatchesTable = d.str(path, v)
		}
	}
	var fallback *Connection
	if c, ok := cfg.Connections[cfg.Default]; ok && c.Driver == DriverDatabase {
		fallback = &c
	}
	applyFailedDefaults(&f, set, fallback)
	d.validateFailed(base, f, set, fallback)
	return f
}

// handler decodes [handlers."name"].
func (d *decoder) handler(name string, tbl map[string]any) Handler {
	base := []string{"handlers", name}
	h := Handler{Name: name}
	for _, key := range sortedKeys(tbl) {
		path := append(base[:2:2], key)
		v := tbl[key]
		switch key {
		case "command":
			h.Command = d.strs(path, v)
		case "dir":
			h.Dir = d.str(path, v)
		case "env":
			h.Env = d.strMap(path, v)
		case "timeout":
			h.Timeout = d.seconds(path, v)
		case "stdin":
			h.Stdin = d.str(path, v)
		case "unique_until_processing":
			h.UniqueUntilProcessing = d.boolean(path, v)
		default:
			d.fail(path, "unknown key")
		}
	}
	if h.Stdin == "" { // as for every string setting, empty (or an unset ${VAR}) means the default
		h.Stdin = StdinPayload
	}
	d.validateHandler(base, h, tbl)
	return h
}

// table returns v as a TOML table, or reports a type error and returns nil.
// keysFor returns the keys of tbl to decode, sorted and without "driver", after reporting the
// ones that are unknown (absent from keys, which maps each key to the drivers that use it) and the
// ones that belong to another driver. A driver that is itself unknown was reported already, so its
// keys are not judged against it.
func (d *decoder) keysFor(base []string, tbl map[string]any, keys map[string][]string, driver string, knownDriver bool) []string {
	var out []string
	for _, key := range sortedKeys(tbl) {
		path := append(base[:len(base):len(base)], key)
		drivers, known := keys[key]
		switch {
		case !known:
			d.fail(path, "unknown key")
		case key == "driver":
		case knownDriver && !slices.Contains(drivers, driver):
			d.fail(path, "not used by driver %q", driver)
		default:
			out = append(out, key)
		}
	}
	return out
}

func (d *decoder) table(path []string, v any) map[string]any {
	t, ok := v.(map[string]any)
	if !ok {
		d.fail(path, "want a table, got %s", typeName(v))
	}
	return t
}

// str returns v as an expanded string, or reports a problem and returns "".
func (d *decoder) str(path []string, v any) string {
	s, ok := v.(string)
	if !ok {
		d.fail(path, "want a string, got %s", typeName(v))
		return ""
	}
	expanded, err := expand(s, d.lookupEnv)
	if err != nil {
		d.fail(path, "%v", err)
		return s // not "": an empty value would add a misleading "required" error
	}
	return expanded
}

// strs returns v as a list of expanded strings, reporting each bad element.
func (d *decoder) strs(path []string, v any) []string {
	items, ok := v.([]any)
	if !ok {
		d.fail(path, "want an array of strings, got %s", typeName(v))
		return nil
	}
	out := make([]string, 0, len(items))
	for i, item := range items {
		s, ok := item.(string)
		if !ok { // keep the slot so later indexes still match the file
			d.failItem(path, i, "want a string, got %s", typeName(item))
		}
		expanded, err := expand(s, d.lookupEnv)
		if err != nil {
			d.failItem(path, i, "%v", err)
			expanded = s
		}
		out = append(out, expanded)
	}
	return out
}

// strMap returns v as a table of expanded strings, reporting each bad value under its own key.
func (d *decoder) strMap(path []string, v any) map[string]string {
	tbl, ok := v.(map[string]any)
	if !ok {
		d.fail(path, "want a table of strings, got %s", typeName(v))
		return nil
	}
	out := make(map[string]string, len(tbl))
	for _, k := range sortedKeys(tbl) {
		out[k] = d.str(append(path[:len(path):len(path)], k), tbl[k])
	}
	return out
}

// integer returns v as an integer in [lo, hi], or reports a problem and returns lo.
func (d *decoder) integer(path []string, v any, lo, hi int64) int64 {
	n, ok := v.(int64)
	switch {
	case !ok:
		d.fail(path, "want an integer, got %s", typeName(v))
	case n < lo || n > hi:
		d.fail(path, "must be between %d and %d, got %d", lo, hi, n)
	default:
		return n
	}
	return lo
}

// maxSeconds is the largest whole number of seconds a time.Duration holds.
const maxSeconds = math.MaxInt64 / int64(time.Second)

// seconds returns v, an integer number of seconds, as a Duration. Durations are plain integers
// (not "90s" strings) to match Laravel's config/queue.php and keep files portable between both.
func (d *decoder) seconds(path []string, v any) time.Duration {
	n, ok := v.(int64)
	switch {
	case !ok:
		d.fail(path, "want an integer number of seconds, got %s", typeName(v))
	case n < 0:
		d.fail(path, "must not be negative, got %d", n)
	case n > maxSeconds:
		d.fail(path, "too large: %d seconds", n)
	default:
		return time.Duration(n) * time.Second
	}
	return 0
}

// boolean returns v as a bool, or reports a type error and returns false.
func (d *decoder) boolean(path []string, v any) bool {
	b, ok := v.(bool)
	if !ok {
		d.fail(path, "want a boolean (true or false), got %s", typeName(v))
	}
	return b
}

// typeName names the TOML type of a decoded value for error messages.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case int64:
		return "integer"
	case float64:
		return "float"
	case bool:
		return "boolean"
	case time.Time:
		return "datetime"
	case []any:
		return "array"
	case map[string]any:
		return "table"
	case []map[string]any:
		return "array of tables"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// sortedKeys returns the keys of m in order, so that decoding (and any error it reports) does
// not depend on Go's random map order.
func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
