package redisqueue

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/qctl/qctl/connectors"
)

// Modes name how the connector reaches Redis.
const (
	ModeAuto     = ""         // MasterName set: sentinel; more than one address: cluster; else single
	ModeSingle   = "single"   // one server (Addr, or the one entry of Addrs)
	ModeSentinel = "sentinel" // Sentinel addresses in Addrs (or Addr), master MasterName
	ModeCluster  = "cluster"  // Redis Cluster seeds in Addrs (or Addr)
)

// mode resolves ModeAuto from the options.
func (o *Options) mode() string {
	if o.Mode != ModeAuto {
		return o.Mode
	}
	switch {
	case o.MasterName != "":
		return ModeSentinel
	case len(o.Addrs) > 1:
		return ModeCluster
	}
	return ModeSingle
}

// addrs returns every configured address, Addr first.
func (o *Options) addrs() []string {
	var all []string
	if o.Addr != "" {
		all = append(all, o.Addr)
	}
	all = append(all, o.Addrs...)
	if len(all) == 0 {
		all = []string{"127.0.0.1:6379"}
	}
	return all
}

// Retry settings: go-redis retries a command that failed on a broken connection (so the first call
// after a Redis restart finds a fresh connection), but an unreachable server must be reported
// within about a second, so the worker logs and backs off on its own schedule instead of hanging
// in the client (go-redis's defaults take several seconds per call).
const (
	maxRetries         = 2
	maxRetryBackoff    = 250 * time.Millisecond
	dialerRetries      = 2
	dialerRetryTimeout = 50 * time.Millisecond
)

// newClient builds the go-redis client for mode. Context deadlines apply to socket I/O, so a
// caller's timeout bounds every call.
func newClient(o *Options, mode string) (redis.UniversalClient, error) {
	c, err := newModeClient(o, mode)
	if err == nil && o.outage != nil {
		c.AddHook(o.outage)
	}
	return c, err
}

func newModeClient(o *Options, mode string) (redis.UniversalClient, error) {
	var tlsConfig *tls.Config
	if o.TLS {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12} // server name comes from each address
	}
	addrs := o.addrs()
	switch mode {
	case ModeSingle:
		if len(addrs) > 1 {
			return nil, fmt.Errorf("redisqueue: mode single takes one address, got %s", strings.Join(addrs, ", "))
		}
		return redis.NewClient(&redis.Options{
			Addr: addrs[0], Username: o.Username, Password: o.Password, DB: o.DB,
			TLSConfig: tlsConfig, ContextTimeoutEnabled: true,
			MaxRetries: maxRetries, MaxRetryBackoff: maxRetryBackoff,
			DialerRetries: dialerRetries, DialerRetryTimeout: dialerRetryTimeout,
		}), nil
	case ModeSentinel:
		if o.MasterName == "" {
			return nil, fmt.Errorf("redisqueue: mode sentinel needs a master name")
		}
		return redis.NewFailoverClient(&redis.FailoverOptions{
			MasterName: o.MasterName, SentinelAddrs: addrs, Username: o.Username, Password: o.Password,
			DB: o.DB, TLSConfig: tlsConfig, ContextTimeoutEnabled: true,
			MaxRetries: maxRetries, MaxRetryBackoff: maxRetryBackoff,
			DialerRetries: dialerRetries, DialerRetryTimeout: dialerRetryTimeout,
		}), nil
	case ModeCluster:
		if o.DB != 0 {
			return nil, fmt.Errorf("redisqueue: Redis Cluster has only database 0, got db %d", o.DB)
		}
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: addrs, Username: o.Username, Password: o.Password,
			TLSConfig: tlsConfig, ContextTimeoutEnabled: true,
			MaxRetries: maxRetries, MaxRetryBackoff: maxRetryBackoff,
			DialerRetries: dialerRetries, DialerRetryTimeout: dialerRetryTimeout,
		}), nil
	}
	return nil, fmt.Errorf("redisqueue: unknown mode %q (want single, sentinel or cluster)", o.Mode)
}

// connect builds the client and checks that Redis answers. In auto mode a single address that
// turns out to be a cluster node is reopened as a cluster client, so keys get their hash tags.
func connect(ctx context.Context, o *Options) (client redis.UniversalClient, cluster bool, err error) {
	mode := o.mode()
	if client, err = newClient(o, mode); err != nil {
		return nil, false, err
	}
	where := strings.Join(o.addrs(), ",")
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		if unavailable(err) {
			return nil, false, fmt.Errorf("redisqueue: cannot reach Redis (%s) at %s: %w: %w", mode, where, connectors.ErrUnavailable, err)
		}
		return nil, false, fmt.Errorf("redisqueue: Redis (%s) at %s refused the connection: %w", mode, where, err) // e.g. WRONGPASS
	}
	if o.Mode == ModeAuto && mode == ModeSingle && isClusterNode(ctx, client) {
		client.Close()
		return connect(ctx, &Options{Mode: ModeCluster, Addrs: o.addrs(), Username: o.Username,
			Password: o.Password, TLS: o.TLS, outage: o.outage})
	}
	if o.Mode == ModeSingle && isClusterNode(ctx, client) {
		client.Close()
		return nil, false, fmt.Errorf("redisqueue: %s is a Redis Cluster node: set mode = \"cluster\" (or leave mode empty)", where)
	}
	return client, mode == ModeCluster, nil
}

// isClusterNode reports whether the server says cluster_enabled:1. A server that refuses INFO is
// taken for a plain one.
func isClusterNode(ctx context.Context, client redis.UniversalClient) bool {
	info, err := client.Info(ctx, "cluster").Result()
	return err == nil && strings.Contains(info, "cluster_enabled:1")
}
