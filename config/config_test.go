package config

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.bad.err from the current output")

// noEnv is an empty environment, so fixtures parse the same on every machine.
func noEnv(string) (string, bool) { return "", false }

// envOf returns a lookup over a fixed environment.
func envOf(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

// TestBadFixtures parses every testdata/*.bad.toml and compares the whole error text with the
// golden *.bad.err next to it. Run `go test ./config -update` after a deliberate change, then
// read the diff.
func TestBadFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/*.bad.toml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("found %d bad fixtures, want at least 12", len(files))
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".bad.toml"), func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(data, noEnv)
			if err == nil {
				t.Fatalf("Parse succeeded, want errors; got %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config together with an error")
			}
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is %T, want non-empty Errors: %v", err, err)
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".toml") + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// TestGoodFixtures checks every testdata/*.good.toml field by field. A fixture without a check
// fails, so none is added without saying what it proves.
func TestGoodFixtures(t *testing.T) {
	checks := map[string]func(t *testing.T, c *Config){
		"laravel_cache": func(t *testing.T, c *Config) {
			equal(t, "database", must(t, c, "database"), Connection{
				Name: "database", Driver: DriverDatabase, Queue: "default", RetryAfter: 90 * time.Second,
				Format: FormatLaravel, Dialect: DialectPostgres, DSN: "host=127.0.0.1 dbname=shop", Table: "jobs",
				CacheTable: "cache", CachePrefix: "shop_cache",
			})
		},
		"database_defaults": func(t *testing.T, c *Config) {
			equal(t, "Default", c.Default, "database")
			equal(t, "database", must(t, c, "database"), Connection{
				Name: "database", Driver: DriverDatabase, Queue: "default", RetryAfter: 90 * time.Second,
				Format: FormatLaravel, Dialect: DialectSQLite, DSN: "qctl.db", Table: "jobs",
			})
			equal(t, "Failed", c.Failed, Failed{Driver: DriverDatabase, Dialect: DialectSQLite, DSN: "qctl.db", Table: "failed_jobs", UUIDs: true})
			equal(t, "Handlers", c.Handlers, map[string]Handler{})
		},
		"redis_defaults": func(t *testing.T, c *Config) {
			equal(t, "Default", c.Default, "redis")
			equal(t, "redis", must(t, c, "redis"), Connection{
				Name: "redis", Driver: DriverRedis, Queue: "default", RetryAfter: 90 * time.Second,
				BlockFor: 5 * time.Second, Format: FormatThink, Addr: "127.0.0.1:6379", Prefix: "laravel_database_",
			})
			equal(t, "sync", must(t, c, "sync"), Connection{
				Name: "sync", Driver: DriverSync, Queue: "default", RetryAfter: 90 * time.Second, Format: FormatLaravel,
			})
			equal(t, "Failed", c.Failed, Failed{Driver: DriverDatabase, Dialect: DialectSQLite, DSN: "qctl.db", Table: "failed_jobs", UUIDs: true})
		},
		"beanstalkd_defaults": func(t *testing.T, c *Config) {
			equal(t, "Default", c.Default, "beanstalkd")
			equal(t, "beanstalkd", must(t, c, "beanstalkd"), Connection{
				Name: "beanstalkd", Driver: DriverBeanstalkd, Queue: "default", RetryAfter: 90 * time.Second,
				BlockFor: 5 * time.Second, Format: FormatLaravel, Addrs: []string{"10.0.0.1:11300", "10.0.0.2:11300"},
				Priority: 1024, BuryFailed: true,
			})
		},
		"failed_from_default": func(t *testing.T, c *Config) {
			equal(t, "Default", c.Default, "database")
			db := must(t, c, "database")
			equal(t, "database.RetryAfter", db.RetryAfter, time.Duration(0))
			equal(t, "database.DSN", db.DSN, "host=db user=app dbname=app")
			equal(t, "redis.BlockFor", must(t, c, "redis").BlockFor, time.Duration(0))
			equal(t, "Failed", c.Failed, Failed{Driver: DriverDatabase, Dialect: DialectPostgres, DSN: "host=db user=app dbname=app", Table: "failed", UUIDs: true})
		},
		"failed_dialect_only": func(t *testing.T, c *Config) {
			equal(t, "Failed", c.Failed, Failed{Driver: DriverDatabase, Dialect: DialectPostgres, DSN: "host=127.0.0.1 dbname=test", Table: "failed_jobs", UUIDs: true})
		},
		"history_retention": func(t *testing.T, c *Config) {
			equal(t, "HistoryRetention", c.HistoryRetention, 7*24*time.Hour)
		},
		"timezone": func(t *testing.T, c *Config) {
			equal(t, "Timezone", c.Timezone.String(), "Asia/Shanghai")
		},
		"failed_null": func(t *testing.T, c *Config) {
			equal(t, "Failed", c.Failed, Failed{Driver: DriverNull, UUIDs: true})
		},
		"everything": func(t *testing.T, c *Config) {
			equal(t, "Default", c.Default, "cache")
			equal(t, "cache", must(t, c, "cache"), Connection{
				Name: "cache", Driver: DriverRedis, Queue: "high", RetryAfter: 120 * time.Second, BlockFor: 2 * time.Second,
				Format: FormatThink, Addrs: []string{"10.0.0.1:26379", "10.0.0.2:26379"}, Mode: ModeSentinel,
				MasterName: "mymaster", Username: "app", Password: "secret", DB: 2, TLS: true, Prefix: "app_",
				CachePrefix: "app_cache_", CacheDB: ptr(1),
			})
			equal(t, "tube", must(t, c, "tube"), Connection{
				Name: "tube", Driver: DriverBeanstalkd, Queue: "default", RetryAfter: 90 * time.Second,
				BlockFor: 5 * time.Second, Format: FormatLaravel, Addr: "10.0.0.3:11300", Priority: 0, BuryFailed: true,
			})
			equal(t, "mysql.Table", must(t, c, "mysql").Table, "app.queue_jobs")
			equal(t, "mysql.Format", must(t, c, "mysql").Format, FormatThink)
			equal(t, "Failed", c.Failed, Failed{Driver: DriverDatabase, Dialect: DialectMySQL,
				DSN: "root@tcp(127.0.0.1:3306)/failures?parseTime=true", Table: "failed", UUIDs: false})
			equal(t, "Handlers", c.Handlers, map[string]Handler{`App\Jobs\SendEmail`: {
				Name: `App\Jobs\SendEmail`, Command: []string{"php", "artisan", "mail:send"}, Dir: "/srv/app",
				Env: map[string]string{"MAIL_FROM": "noreply@example.com"}, Timeout: 30 * time.Second, Stdin: StdinData,
			}})
		},
	}
	files, err := filepath.Glob("testdata/*.good.toml")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".good.toml")
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			check, ok := checks[name]
			if !ok {
				t.Fatalf("no field checks for %s", file)
			}
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := Parse(data, noEnv)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			check(t, cfg)
		})
	}
	for name := range checks {
		if !seen[name] {
			t.Errorf("check for missing fixture testdata/%s.good.toml", name)
		}
	}
}

// TestShippedConfig loads the queue.toml at the repository root, which must stay valid and
// serverless by default because the README's first command uses it.
func TestShippedConfig(t *testing.T) {
	const path = "../queue.toml"
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	equal(t, "Path", cfg.Path, path)
	// Parse with an empty environment too, so the ${VAR:-default} fallbacks are what is checked.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err = Parse(data, noEnv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	def, err := cfg.Connection("")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "default connection", def, Default().Connections["database"])
	equal(t, "Failed", cfg.Failed, Default().Failed)
	equal(t, "Timezone", cfg.Timezone, time.UTC)
	equal(t, "Names", cfg.Names(), []string{"beanstalkd", "database", "mysql", "null", "pgsql", "redis", "sync"})
	equal(t, "redis.Addr", must(t, cfg, "redis").Addr, "127.0.0.1:6379")
	equal(t, "pgsql.DSN", must(t, cfg, "pgsql").DSN, "host=127.0.0.1 user=postgres dbname=test sslmode=disable")
	equal(t, "mysql.DSN", must(t, cfg, "mysql").DSN, "root@tcp(127.0.0.1:3306)/test?parseTime=true")
	h, ok := cfg.Handlers["SendEmail"]
	if !ok || len(h.Command) == 0 || h.Name != "SendEmail" {
		t.Fatalf("handler SendEmail = %+v, want a command", h)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	equal(t, "Default", c, &Config{
		Default: "database",
		Connections: map[string]Connection{"database": {
			Name: "database", Driver: DriverDatabase, Queue: "default", RetryAfter: 90 * time.Second,
			Format: FormatLaravel, Dialect: DialectSQLite, DSN: "qctl.db", Table: "jobs",
		}},
		Failed:   Failed{Driver: DriverDatabase, Dialect: DialectSQLite, DSN: "qctl.db", Table: "failed_jobs", UUIDs: true},
		Handlers: map[string]Handler{},
		Timezone: time.UTC,

		HistoryRetention: DefaultHistoryRetention,
	})
	// Each call returns a fresh value, so a caller changing its copy cannot change the next one.
	c.Connections["database"] = Connection{}
	equal(t, "second Default", Default().Connections["database"].Driver, DriverDatabase)
}

func TestConnection(t *testing.T) {
	cfg, err := Parse([]byte(`
default = "redis"
[connections.redis]
driver = "redis"
[connections.database]
driver = "database"
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cfg.Connection("")
	if err != nil || c.Name != "redis" {
		t.Errorf(`Connection("") = %q, %v; want the default, redis`, c.Name, err)
	}
	c, err = cfg.Connection("database")
	if err != nil || c.Name != "database" || c.Driver != DriverDatabase {
		t.Errorf(`Connection("database") = %+v, %v`, c, err)
	}
	_, err = cfg.Connection("nope")
	if !errors.Is(err, ErrUnknownConnection) {
		t.Fatalf(`Connection("nope") error = %v, want one wrapping ErrUnknownConnection`, err)
	}
	equal(t, "error text", err.Error(), `unknown connection "nope" (known: database, redis)`)
	equal(t, "Names", cfg.Names(), []string{"database", "redis"})
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "queue.toml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFile of a missing file: %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestLoadFileErrorsNamePath(t *testing.T) {
	const path = "testdata/several.bad.toml"
	_, err := LoadFile(path)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("LoadFile error %T is not Errors: %v", err, err)
	}
	if want := path + ": " + strconv.Itoa(len(errs)) + " problems:\n"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error starts %q, want prefix %q", firstLine(err.Error()), want)
	}
	_, err = LoadFile("testdata/syntax.bad.toml")
	equal(t, "single error", err.Error(), "testdata/syntax.bad.toml: line 3: syntax error: expected value but found \"default\" instead")
}

func TestLoadUsesProcessEnvironment(t *testing.T) {
	t.Setenv("QCTL_TEST_REDIS_ADDR", "10.1.2.3:6380")
	cfg, err := Load([]byte("[connections.redis]\ndriver = \"redis\"\naddr = \"${QCTL_TEST_REDIS_ADDR:-x}\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "Addr", must(t, cfg, "redis").Addr, "10.1.2.3:6380")
}

// TestExpansionInConfig checks that every kind of string value is expanded after decoding.
func TestExpansionInConfig(t *testing.T) {
	src := []byte(`
default = "${CONN:-redis}"
[connections.redis]
driver = "redis"
addr = "${REDIS_HOST}:${REDIS_PORT:-6379}"
addrs_note = ""
`)
	// addrs_note is unknown: expansion must not hide decode errors.
	if _, err := Parse(src, noEnv); err == nil || !strings.Contains(err.Error(), "connections.redis.addrs_note: unknown key") {
		t.Fatalf("Parse = %v, want the unknown key reported", err)
	}
	src = []byte(`
default = "${CONN:-redis}"
[connections.redis]
driver = "${DRIVER:-redis}"
addr = "${REDIS_HOST}:${REDIS_PORT:-6379}"
queue = "${QUEUE}"
password = "$$ literal $HOME ${PASS:-}"
[handlers.Job]
command = ["${BIN:-/bin/true}", "--to=${TO}", "x"]
env = { TOKEN = "${TOKEN:-none}", PLAIN = "a$b" }
dir = "${APP_DIR:-/srv}"
`)
	env := envOf(map[string]string{"REDIS_HOST": "cache", "REDIS_PORT": "", "TO": "ops@example.com", "TOKEN": "t0k"})
	cfg, err := Parse(src, env)
	if err != nil {
		t.Fatal(err)
	}
	r := must(t, cfg, "redis")
	equal(t, "Default", cfg.Default, "redis")
	equal(t, "Driver", r.Driver, DriverRedis)
	equal(t, "Addr (set-but-empty PORT takes the default)", r.Addr, "cache:6379")
	equal(t, "Queue (unset var falls back to the default queue)", r.Queue, "default")
	equal(t, "Password", r.Password, "$$ literal $HOME ")
	equal(t, "Handler", cfg.Handlers["Job"], Handler{
		Name: "Job", Command: []string{"/bin/true", "--to=ops@example.com", "x"}, Dir: "/srv",
		Env: map[string]string{"TOKEN": "t0k", "PLAIN": "a$b"}, Stdin: StdinPayload,
	})
}

// TestExpansionIsNotTextual checks that a value containing TOML syntax cannot change the
// document's structure.
func TestExpansionIsNotTextual(t *testing.T) {
	cfg, err := Parse([]byte("[connections.redis]\ndriver = \"redis\"\npassword = \"${P}\"\n"),
		envOf(map[string]string{"P": "x\"\ntls = true\n#"}))
	if err != nil {
		t.Fatal(err)
	}
	r := must(t, cfg, "redis")
	equal(t, "Password", r.Password, "x\"\ntls = true\n#")
	equal(t, "TLS", r.TLS, false)
}

// TestEmptyDriverFromEnv checks that a driver expanded to "" is reported as missing.
func TestEmptyDriverFromEnv(t *testing.T) {
	_, err := Parse([]byte("[connections.x]\ndriver = \"${QUEUE_DRIVER}\"\n"), noEnv)
	equal(t, "error", errText(err), "line 2: connections.x.driver: required")
}

func TestErrorFormat(t *testing.T) {
	equal(t, "full", Error{Key: "connections.redis.adr", Line: 3, Msg: "unknown key"}.Error(), "line 3: connections.redis.adr: unknown key")
	equal(t, "no line", Error{Key: "connections.x.driver", Msg: "required"}.Error(), "connections.x.driver: required")
	equal(t, "no key", Error{Line: 7, Msg: "syntax error: x"}.Error(), "line 7: syntax error: x")
	es := Errors{{Key: "b", Line: 2, Msg: "m"}, {Key: "a", Msg: "n"}}
	equal(t, "Errors", es.Error(), "line 2: b: m\na: n")
}

func TestSortErrors(t *testing.T) {
	es := Errors{{Key: "z", Line: 2}, {Key: "b", Line: 1}, {Key: "a", Line: 2}, {Key: "c"}}
	sortErrors(es)
	equal(t, "order", es, Errors{{Key: "c"}, {Key: "b", Line: 1}, {Key: "a", Line: 2}, {Key: "z", Line: 2}})
}

// must returns connection name or stops the test.
func must(t *testing.T, c *Config, name string) Connection {
	t.Helper()
	conn, err := c.Connection(name)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// equal fails the test when got and want differ deeply.
func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func errText(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func ptr[T any](v T) *T { return &v }

// TestLaravelDutyKeys: app_key (top level, expanded like any string), [failed] batches_table
// and a handler's unique_until_processing reach the Config.
func TestLaravelDutyKeys(t *testing.T) {
	t.Setenv("QCTL_TEST_APP_KEY", "base64:c2VjcmV0")
	cfg, err := Load([]byte(`app_key = "${QCTL_TEST_APP_KEY}"
[connections.database]
driver = "database"
[failed]
batches_table = "batches"
[handlers.'App\Jobs\Report']
command = ["true"]
unique_until_processing = true
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AppKey != "base64:c2VjcmV0" || cfg.Failed.BatchesTable != "batches" || !cfg.Handlers[`App\Jobs\Report`].UniqueUntilProcessing {
		t.Errorf("got app_key %q, batches_table %q, handlers %+v", cfg.AppKey, cfg.Failed.BatchesTable, cfg.Handlers)
	}
}
