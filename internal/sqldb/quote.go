package sqldb

import (
	"fmt"
	"hash/crc32"
	"regexp"
	"strings"
)

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// CheckTable rejects a table name that is not a plain SQL identifier (letters, digits and
// underscores, at most 64 characters), so names can be quoted into statements without escaping.
func CheckTable(name string) error {
	if !identifier.MatchString(name) {
		return fmt.Errorf("table name %q: want letters, digits and underscores, at most 64, not starting with a digit", name)
	}
	return nil
}

// Quote quotes an identifier checked by CheckTable for dialect: backticks for MySQL, double quotes
// otherwise.
func Quote(dialect, name string) string {
	if dialect == MySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

// maxIdentifier is PostgreSQL's longest identifier (NAMEDATALEN - 1); LISTEN truncates a longer
// channel name, and pg_notify refuses one.
const maxIdentifier = 63

// NotifyChannel is the PostgreSQL NOTIFY channel of a jobs table: pushes to table notify it and
// waiting workers LISTEN on it. It is the same for qctl's own pushes and for the optional trigger
// `qctl migrate` creates (notify_trigger), so both wake the same workers. A name too long for an
// identifier keeps its start and ends in a hash of the whole, so it stays unique.
func NotifyChannel(table string) string {
	ch := "qctl_" + table
	if len(ch) <= maxIdentifier {
		return ch
	}
	return fmt.Sprintf("%s_%08x", ch[:maxIdentifier-9], crc32.ChecksumIEEE([]byte(table)))
}

// QuoteLiteral quotes s as a PostgreSQL or SQLite string literal.
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
