package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// ErrUnknownConnection is wrapped by Config.Connection when asked for a name that is not
// configured, so that commands can tell a usage mistake from an I/O failure with errors.Is.
var ErrUnknownConnection = errors.New("unknown connection")

// Error is one problem in a config file. It carries the key path and, where known, the line,
// so that a user can jump straight to the mistake instead of reading the whole file.
type Error struct {
	Key  string // dotted TOML key path such as connections.redis.addr; "" for syntax errors
	Line int    // 1-based line in the source, 0 when unknown
	Msg  string
}

// Error formats the problem as "line 3: connections.redis.adr: unknown key"; the line and key
// parts are left out when unknown.
func (e Error) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found in one config file. Parse collects them all instead of stopping
// at the first, because fixing a config one error per run is slow and frustrating.
type Errors []Error

// Error lists the problems one per line, in the order Parse sorted them (by line, then key).
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// sortErrors orders problems by line then key then message so output is stable from run to run
// even though TOML tables decode into Go maps with random iteration order.
func sortErrors(es Errors) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Msg < b.Msg
	})
}
