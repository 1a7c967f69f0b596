package sqldb

import (
	"testing"

	"github.com/qctl/qctl/config"
)

// TestDialectNamesMatchConfig keeps the one definition of the dialect names below the config in
// step with the names config validates: a config that passes must name a dialect Open knows.
func TestDialectNamesMatchConfig(t *testing.T) {
	for _, c := range []struct{ config, sqldb string }{
		{config.DialectSQLite, SQLite},
		{config.DialectPostgres, Postgres},
		{config.DialectMySQL, MySQL},
	} {
		if c.config != c.sqldb {
			t.Errorf("config names a dialect %q, sqldb %q", c.config, c.sqldb)
		}
	}
}
