package manager

import (
	"context"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/beanstalkqueue"
	"github.com/qctl/qctl/connectors/dbqueue"
	"github.com/qctl/qctl/connectors/nullqueue"
	"github.com/qctl/qctl/connectors/redisqueue"
	"github.com/qctl/qctl/connectors/syncqueue"
)

// The built-in drivers: how each opens. Their config sections are in config/drivers.go.
func init() {
	register(Driver{Config: config.DriverSpec{Name: config.DriverDatabase}, Open: openDatabase, Tables: databaseTables})
	register(Driver{Config: config.DriverSpec{Name: config.DriverRedis}, Open: openRedis})
	register(Driver{Config: config.DriverSpec{Name: config.DriverBeanstalkd}, Open: openBeanstalkd})
	register(Driver{Config: config.DriverSpec{Name: config.DriverSync}, KeepsNoJobs: true,
		Open: func(_ context.Context, _ config.Connection, env Env) (connectors.Queue, error) {
			return syncqueue.New(env.RunSync), nil
		}})
	register(Driver{Config: config.DriverSpec{Name: config.DriverNull}, KeepsNoJobs: true,
		Open: func(context.Context, config.Connection, Env) (connectors.Queue, error) { return nullqueue.New(), nil }})
}

func openDatabase(ctx context.Context, conn config.Connection, _ Env) (connectors.Queue, error) {
	return dbqueue.Open(ctx, dbqueue.Options{
		Dialect: conn.Dialect, DSN: conn.DSN, Table: conn.Table, RetryAfter: conn.RetryAfter,
		Format: conn.Format, AutoMigrate: conn.Dialect == config.DialectSQLite,
		CacheTable: conn.CacheTable, CachePrefix: conn.CachePrefix, NotifyTrigger: conn.NotifyTrigger,
	})
}

// databaseTables is the jobs table in the connection's format: Laravel's or think-queue's columns.
func databaseTables(conn config.Connection) *Tables {
	o := dbqueue.Options{Table: conn.Table, Format: conn.Format, NotifyTrigger: conn.NotifyTrigger}
	return &Tables{Dialect: conn.Dialect, DSN: conn.DSN, Targets: append(o.Targets(), o.FleetTarget())}
}

func openRedis(ctx context.Context, conn config.Connection, env Env) (connectors.Queue, error) {
	return redisqueue.Open(ctx, redisqueue.Options{
		Addr: conn.Addr, Addrs: conn.Addrs, Mode: conn.Mode, MasterName: conn.MasterName,
		Username: conn.Username, Password: conn.Password, DB: conn.DB, TLS: conn.TLS,
		Prefix: conn.Prefix, CachePrefix: conn.CachePrefix, CacheDB: conn.CacheDB, Format: conn.Format,
		RetryAfter: conn.RetryAfter, BlockFor: conn.BlockFor, Log: env.Log,
	})
}

func openBeanstalkd(ctx context.Context, conn config.Connection, _ Env) (connectors.Queue, error) {
	return beanstalkqueue.Open(ctx, beanstalkqueue.Options{
		Addr: conn.Addr, Addrs: conn.Addrs, Priority: &conn.Priority, // config defaults it to 1024
		RetryAfter: conn.RetryAfter, BlockFor: conn.BlockFor,
	})
}
