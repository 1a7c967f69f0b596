package sqldb

import (
	"fmt"
	"regexp"
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
