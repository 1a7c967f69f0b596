package commands

import (
	"context"
	"fmt"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/connectors/beanstalkqueue"
	"github.com/qctl/qctl/connectors/redisqueue"
)

// openServerQueue connects to the network-server drivers (redis, beanstalkd).
func openServerQueue(ctx context.Context, conn config.Connection) (connectors.Queue, error) {
	switch conn.Driver {
	case config.DriverRedis:
		return redisqueue.Open(ctx, redisqueue.Options{
			Addr: conn.Addr, Addrs: conn.Addrs, Mode: conn.Mode, MasterName: conn.MasterName,
			Username: conn.Username, Password: conn.Password, DB: conn.DB, TLS: conn.TLS,
			Prefix: conn.Prefix, CachePrefix: conn.CachePrefix, CacheDB: conn.CacheDB, Format: conn.Format,
			RetryAfter: conn.RetryAfter, BlockFor: conn.BlockFor,
		})
	case config.DriverBeanstalkd:
		return beanstalkqueue.Open(ctx, beanstalkqueue.Options{
			Addr: conn.Addr, Addrs: conn.Addrs, Priority: &conn.Priority, // config defaults it to 1024
			RetryAfter: conn.RetryAfter, BlockFor: conn.BlockFor,
		})
	}
	return nil, fmt.Errorf("unknown driver %q", conn.Driver)
}
