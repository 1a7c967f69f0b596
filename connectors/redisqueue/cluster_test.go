package redisqueue

import (
	"context"
	"errors"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startCluster starts a private three-master Redis Cluster (no replicas) and returns its seeds.
func startCluster(t *testing.T) []string {
	t.Helper()
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli is not installed")
	}
	var addrs []string
	for range 3 {
		port := freePort(t)
		dir := t.TempDir()
		s := startPrivateRedis(t, port, "--cluster-enabled", "yes",
			"--cluster-config-file", filepath.Join(dir, "nodes-"+strconv.Itoa(port)+".conf"),
			"--cluster-node-timeout", "5000")
		addrs = append(addrs, s.addr())
	}
	out, err := exec.Command("redis-cli", append(append([]string{"--cluster", "create"}, addrs...),
		"--cluster-replicas", "0", "--cluster-yes")...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, addr := range addrs {
		c := redis.NewClient(&redis.Options{Addr: addr})
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			info, _ := c.ClusterInfo(context.Background()).Result()
			if strings.Contains(info, "cluster_state:ok") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("cluster node %s not ok: %s", addr, info)
			}
		}
		c.Close()
	}
	return addrs
}

// TestCluster runs the conformance suite and the slot checks against a live local cluster.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-node cluster")
	}
	addrs := startCluster(t)
	inspect := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	t.Cleanup(func() { inspect.Close() })

	t.Run("conformance/laravel", func(t *testing.T) {
		conformance(t, inspect, Options{Addrs: addrs})
	})
	t.Run("conformance/think", func(t *testing.T) {
		conformance(t, inspect, Options{Addrs: addrs, Format: FormatThink})
	})
	t.Run("single seed in auto mode is detected", func(t *testing.T) {
		q, err := Open(context.Background(), Options{Addr: addrs[0]})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		if !q.cluster {
			t.Fatal("auto mode with one cluster seed did not switch to cluster mode")
		}
		k, _ := q.keysFor("default")
		if k.queue != "queues:{default}" {
			t.Fatalf("queue key = %q, want queues:{default}", k.queue)
		}
	})
	t.Run("explicit single mode on a cluster node is refused", func(t *testing.T) {
		if _, err := Open(context.Background(), Options{Addr: addrs[0], Mode: ModeSingle}); err == nil {
			t.Fatal("Open in single mode on a cluster node succeeded")
		}
	})
	t.Run("CROSSSLOT prefix refused at Open", func(t *testing.T) {
		_, err := Open(context.Background(), Options{Addrs: addrs, Prefix: "{}"})
		if !errors.Is(err, ErrCrossSlot) {
			t.Fatalf("Open with prefix {} = %v, want ErrCrossSlot", err)
		}
	})
	t.Run("CROSSSLOT queue refused at first use", func(t *testing.T) {
		q, err := Open(context.Background(), Options{Addrs: addrs})
		if err != nil {
			t.Fatal(err)
		}
		defer q.Close()
		if _, err := q.Push(context.Background(), "", []byte(laravelJob), 0); !errors.Is(err, ErrCrossSlot) {
			t.Fatalf("Push to queue \"\" = %v, want ErrCrossSlot", err)
		}
	})
}
