package manager_test

import (
	"slices"
	"testing"
)

func TestSecretsAreEveryDSNPasswordAndHandlerEnv(t *testing.T) {
	m, _ := setup(t, `
[connections.pg]
driver = "database"
dialect = "postgres"
dsn = "postgres://app:pg-url-pass@db:5432/app"

[connections.kv]
driver = "database"
dialect = "postgres"
dsn = "host=db user=app password=kv-pass dbname=app"

[connections.maria]
driver = "database"
dialect = "mysql"
dsn = "app:my-pass@tcp(db:3306)/app"

[connections.cache]
driver = "redis"
password = "redis-pass"

[handlers."X"]
command = ["true"]
env = { TOKEN = "env-token" }
`)
	got := m.Secrets()
	for _, want := range []string{"postgres://app:pg-url-pass@db:5432/app", "pg-url-pass", "kv-pass", "my-pass", "redis-pass", "env-token"} {
		if !slices.Contains(got, want) {
			t.Errorf("Secrets() = %q lacks %q", got, want)
		}
	}
}
