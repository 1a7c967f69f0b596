package beanstalkqueue

import (
	"context"
	"slices"
	"testing"

	beanstalk "github.com/beanstalkd/go-beanstalk"
)

// The restart signal is one tube per server, so these tests use private servers: a broadcast on
// the shared one would stop other tests' workers.

func TestRestartSignalRoundTripAcrossQueues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, freeAddr(t))
	q1, q2 := openShared(t, Options{Addr: srv.addr}), openShared(t, Options{Addr: srv.addr})
	if v, err := q1.RestartSignal(ctx); v != "" || err != nil {
		t.Fatalf("RestartSignal before any broadcast = %q, %v; want \"\"", v, err)
	}
	for _, v := range []string{"1700000000000000001", "1700000000000000002"} {
		if err := q1.BroadcastRestart(ctx, v); err != nil {
			t.Fatal(err)
		}
		for i, q := range []*Queue{q1, q2} {
			if got, err := q.RestartSignal(ctx); got != v || err != nil {
				t.Fatalf("Queue %d RestartSignal = %q, %v; want %q", i+1, got, err, v)
			}
		}
	}
	// The tube keeps exactly one job, whatever the number of broadcasts.
	st, err := beanstalk.NewTube(rawConn(t, srv.addr), restartTube).Stats()
	if err != nil || st["current-jobs-ready"] != "1" || st["total-jobs"] != "2" {
		t.Fatalf("restart tube stats = %v, %v; want 1 ready job of 2 put", st, err)
	}
}

func TestRestartSignalLivesOnTheTubesServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := startServer(t, freeAddr(t)), startServer(t, freeAddr(t))
	q1 := openShared(t, Options{Addrs: []string{a.addr, b.addr}})
	q2 := openShared(t, Options{Addrs: []string{a.addr, b.addr}})
	if err := q1.BroadcastRestart(ctx, "42"); err != nil {
		t.Fatal(err)
	}
	if got, err := q2.RestartSignal(ctx); got != "42" || err != nil {
		t.Fatalf("the other Queue reads %q, %v; want 42", got, err)
	}
	owner := q1.serverFor(restartTube).addr
	for _, s := range []*privateServer{a, b} {
		_, _, err := beanstalk.NewTube(rawConn(t, s.addr), restartTube).PeekReady()
		if (s.addr == owner) != (err == nil) {
			t.Fatalf("peek-ready %s on %s = %v; the signal must be on %s only", restartTube, s.addr, err, owner)
		}
	}
}

// The restart signal lives in a tube of qctl's own, which is no queue: `qctl status` must not
// list it.
func TestQueuesLeaveOutTheRestartTube(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := openShared(t, Options{Addr: startServer(t, freeAddr(t)).addr})
	if err := q.BroadcastRestart(ctx, "1"); err != nil {
		t.Fatal(err)
	}
	names, err := q.Queues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(names, restartTube) {
		t.Fatalf("Queues = %q, want no %q", names, restartTube)
	}
}
