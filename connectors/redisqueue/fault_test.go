package redisqueue

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

// TestRedisGoesAwayAndComesBack kills a private redis-server under a live *Queue: calls fail fast
// with ErrUnavailable, and the same *Queue works again once the server is back on its port.
func TestRedisGoesAwayAndComesBack(t *testing.T) {
	srv := startPrivateRedis(t, 0)
	ctx := context.Background()
	var mu sync.Mutex
	var logged []string
	logLine := func(msg string) { mu.Lock(); logged = append(logged, msg); mu.Unlock() }
	q, err := Open(ctx, Options{Addr: srv.addr(), RetryAfter: time.Minute, Log: logLine})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	roundTrip := func() error {
		if _, err := q.Push(ctx, "default", []byte(laravelJob), 0); err != nil {
			return err
		}
		r, err := q.Pop(ctx, "default")
		if err != nil {
			return err
		}
		if r == nil {
			t.Fatal("Pop found nothing right after a push")
		}
		return q.Delete(ctx, r)
	}
	if err := roundTrip(); err != nil {
		t.Fatal(err)
	}

	srv.stop()
	calls := map[string]func(context.Context) error{
		"Push":    func(ctx context.Context) error { _, err := q.Push(ctx, "default", []byte(laravelJob), 0); return err },
		"Pop":     func(ctx context.Context) error { _, err := q.Pop(ctx, "default"); return err },
		"Size":    func(ctx context.Context) error { _, err := q.Size(ctx, "default"); return err },
		"Wait":    func(ctx context.Context) error { _, err := q.Wait(ctx, "default", 5*time.Second); return err },
		"Restart": func(ctx context.Context) error { _, err := q.RestartSignal(ctx); return err },
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		start := time.Now()
		err := call(cctx)
		cancel()
		if !errors.Is(err, connectors.ErrUnavailable) {
			t.Errorf("%s with Redis down = %v, want ErrUnavailable", name, err)
		}
		if el := time.Since(start); el > 4*time.Second {
			t.Errorf("%s with Redis down took %v, want a quick failure", name, el)
		}
	}
	if _, err := Open(ctx, Options{Addr: srv.addr()}); !errors.Is(err, connectors.ErrUnavailable) {
		t.Errorf("Open with Redis down = %v, want ErrUnavailable", err)
	}

	srv.start() // same port
	// The pool may still hold dead connections; the worker's retry loop would call again.
	var lastErr error
	for range 5 {
		if lastErr = roundTrip(); lastErr == nil {
			break
		}
		if !errors.Is(lastErr, connectors.ErrUnavailable) {
			t.Fatalf("after restart: %v (not ErrUnavailable)", lastErr)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatalf("the same *Queue did not work again after Redis came back: %v", lastErr)
	}
	// Five failed calls, one outage: one line when it went away, one when it came back.
	mu.Lock()
	defer mu.Unlock()
	if len(logged) != 2 || !strings.Contains(logged[0], "is not answering") || !strings.Contains(logged[1], "answers again") {
		t.Fatalf("logged %q, want one line for the outage and one for the recovery", logged)
	}
}
