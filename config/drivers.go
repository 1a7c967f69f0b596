package config

import "math"

// The built-in drivers, each described in one place: the keys it reads, their defaults and
// their checks. Their settings are fields of Connection because every part of qctl reads them;
// a driver registered from outside keeps its own in Connection.Settings.
func init() {
	RegisterDriver(DriverSpec{Name: DriverDatabase, Decode: decodeDatabase, Keys: []string{
		"retry_after", "format", "dialect", "dsn", "table", "cache_table", "cache_prefix", "notify_trigger",
	}})
	RegisterDriver(DriverSpec{Name: DriverRedis, Decode: decodeRedis, Keys: []string{
		"retry_after", "block_for", "format", "addr", "addrs", "mode", "master_name", "username", "password",
		"db", "tls", "prefix", "cache_prefix", "cache_db",
	}})
	RegisterDriver(DriverSpec{Name: DriverBeanstalkd, Decode: decodeBeanstalkd, Keys: []string{
		"retry_after", "block_for", "addr", "addrs", "priority", "bury_failed",
	}})
	RegisterDriver(DriverSpec{Name: DriverSync, Decode: func(*Table, *Connection) {}})
	RegisterDriver(DriverSpec{Name: DriverNull, Decode: func(*Table, *Connection) {}})
}

// decodeDatabase reads a database connection: a jobs table in SQLite (the default, in qctl.db),
// PostgreSQL or MySQL.
func decodeDatabase(t *Table, c *Connection) {
	c.Dialect, c.DSN, c.Table = t.String("dialect"), t.String("dsn"), t.String("table")
	c.CacheTable, c.CachePrefix = t.String("cache_table"), t.String("cache_prefix")
	c.NotifyTrigger = t.Bool("notify_trigger")
	if c.Dialect == "" {
		c.Dialect = DialectSQLite
	}
	if c.DSN == "" && c.Dialect == DialectSQLite {
		c.DSN = defaultSQLiteFile
	}
	if c.Table == "" {
		c.Table = "jobs"
	}
	if !t.OneOf("dialect", "dialect", c.Dialect, allDialects) {
		return
	}
	if c.DSN == "" {
		t.Fail("dsn", "required for dialect %q", c.Dialect)
	}
	t.TableName("table", c.Table)
	if c.NotifyTrigger && c.Dialect != DialectPostgres {
		t.Fail("notify_trigger", "needs dialect %q (NOTIFY is PostgreSQL's); %s workers poll instead", DialectPostgres, c.Dialect)
	}
	if c.CacheTable != "" {
		t.TableName("cache_table", c.CacheTable)
		if c.Format == FormatThink {
			t.Fail("cache_table", "is Laravel's database cache; think-queue's restart key lives in ThinkPHP's cache (use a redis connection's cache_prefix)")
		}
	}
}

// decodeRedis reads a redis connection: one server, a Sentinel group or a Cluster.
func decodeRedis(t *Table, c *Connection) {
	decodeAddresses(t, c, "127.0.0.1:6379")
	c.Mode, c.MasterName = t.String("mode"), t.String("master_name")
	c.Username, c.Password = t.String("username"), t.String("password")
	c.DB = int(t.Int("db", 0, math.MaxInt32))
	c.TLS = t.Bool("tls")
	c.Prefix, c.CachePrefix = t.String("prefix"), t.String("cache_prefix")
	if t.Has("cache_db") {
		n := int(t.Int("cache_db", 0, math.MaxInt32))
		c.CacheDB = &n
	}
	if c.Mode != "" {
		t.OneOf("mode", "mode", c.Mode, redisModes)
	}
	if c.Mode == ModeSentinel && c.MasterName == "" {
		t.Fail("master_name", "required when mode is %q", ModeSentinel)
	}
	if c.Mode == ModeCluster && c.DB != 0 {
		t.Fail("db", "must be 0 in cluster mode (Redis Cluster has only database 0)")
	}
	if c.Mode == ModeCluster && c.CacheDB != nil && *c.CacheDB != 0 {
		t.Fail("cache_db", "must be 0 in cluster mode (Redis Cluster has only database 0)")
	}
}

// decodeBeanstalkd reads a beanstalkd connection: one server or several.
func decodeBeanstalkd(t *Table, c *Connection) {
	decodeAddresses(t, c, "127.0.0.1:11300")
	c.Priority = defaultPriority
	if t.Has("priority") {
		c.Priority = uint32(t.Int("priority", 0, math.MaxUint32))
	}
	c.BuryFailed = t.Bool("bury_failed")
}

// decodeAddresses reads addr and addrs, exclusive of each other, defaulting addr to def.
func decodeAddresses(t *Table, c *Connection, def string) {
	c.Addr, c.Addrs = t.String("addr"), t.Strings("addrs")
	if c.Addr != "" && len(c.Addrs) > 0 {
		t.Fail("addrs", "set addr or addrs, not both")
	}
	for i, a := range c.Addrs {
		if a == "" {
			t.d.failItem(t.path("addrs"), i, "empty address")
		}
	}
	if c.Addr == "" && len(c.Addrs) == 0 {
		c.Addr = def
	}
}
