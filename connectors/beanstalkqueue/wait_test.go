package beanstalkqueue

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"
)

// peekReadyCount reads how many peek-ready commands the server has answered (global stats).
func peekReadyCount(t testing.TB, raw *beanstalk.Conn) int {
	t.Helper()
	st, err := raw.Stats()
	if err != nil {
		t.Fatalf("stats: %v", err)
	}
	n, err := strconv.Atoi(st["cmd-peek-ready"])
	if err != nil {
		t.Fatalf("stats cmd-peek-ready = %q", st["cmd-peek-ready"])
	}
	return n
}

// awaitPolling returns once a Wait has polled a private server (whose only peek-ready client it
// is) at least twice more, so it is certainly waiting, not about to start.
func awaitPolling(t testing.TB, raw *beanstalk.Conn) {
	t.Helper()
	start := peekReadyCount(t, raw)
	for deadline := time.Now().Add(5 * time.Second); peekReadyCount(t, raw) < start+2; {
		if time.Now().After(deadline) {
			t.Fatal("Wait never polled the server")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPopDoesNotBlockOnAnEmptyTube(t *testing.T) {
	t.Parallel()
	// BlockFor no longer makes Pop wait: with --queue=high,low an empty high would otherwise hold
	// up low by block_for on every round. A blocking Pop would run into the context's deadline.
	q := openShared(t, Options{BlockFor: 30 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for range 3 {
		r, err := q.Pop(ctx, tubeName(t, "empty"))
		if r != nil || err != nil {
			t.Fatalf("Pop of an empty tube = %+v, %v; want nil, nil at once", r, err)
		}
	}
}

func TestWaitWakesOnPushWithoutCountingAnAttempt(t *testing.T) {
	t.Parallel()
	srv := startServer(t, freeAddr(t))
	q := openShared(t, Options{Addr: srv.addr, BlockFor: 30 * time.Second})
	raw := rawConn(t, srv.addr)
	tube := tubeName(t, "wait")
	woke := make(chan error, 1)
	go func() {
		ok, err := q.Wait(context.Background(), tube, 20*time.Second)
		if err == nil && !ok {
			err = errors.New("Wait reported a timeout although a job was pushed")
		}
		woke <- err
	}()
	awaitPolling(t, raw)
	select {
	case err := <-woke:
		t.Fatalf("Wait returned before anything was pushed: %v", err)
	default:
	}
	id := mustPush(t, q, tube, "wake", 0, 1)
	select {
	case err := <-woke:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not wake up after a push")
	}
	n, _ := strconv.ParseUint(id, 10, 64)
	if st, err := raw.StatsJob(n); err != nil || st["reserves"] != "0" || st["state"] != "ready" {
		t.Fatalf("after Wait the job's stats are %v, %v; want ready and never reserved", st, err)
	}
	if r := mustPop(t, q, tube); r.ID != id || r.Attempts != 1 {
		t.Fatalf("popped job %s attempts %d, want job %s attempts 1: Wait must not count an attempt", r.ID, r.Attempts, id)
	}
}

func TestWaitStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	srv := startServer(t, freeAddr(t))
	q := openShared(t, Options{Addr: srv.addr})
	tube := tubeName(t, "cancel")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := q.Wait(ctx, tube, time.Minute)
		done <- err
	}()
	awaitPolling(t, rawConn(t, srv.addr))
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Wait after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait kept waiting after its context was cancelled")
	}
	mustPush(t, q, tube, "after", 0, 1)
	if r := mustPop(t, q, tube); string(r.Payload) != "after" {
		t.Fatalf("popped %q", r.Payload)
	}
}

func TestWaitTimesOutAndIsCappedByBlockFor(t *testing.T) {
	t.Parallel()
	q := openShared(t, Options{BlockFor: time.Second})
	tube := tubeName(t, "timeout")
	// Without the cap at BlockFor (1 s) this Wait would run into the context's deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if ok, err := q.Wait(ctx, tube, time.Hour); ok || err != nil {
		t.Fatalf("Wait on an empty tube = %v, %v; want false, nil after BlockFor", ok, err)
	}
	if ok, err := q.Wait(ctx, tube, 0); ok || err != nil {
		t.Fatalf("Wait(0) on an empty tube = %v, %v; want false, nil", ok, err)
	}
	mustPush(t, q, tube, "ready", 0, 1)
	if ok, err := q.Wait(ctx, tube, 0); !ok || err != nil {
		t.Fatalf("Wait(0) on a tube with a ready job = %v, %v; want true", ok, err)
	}
	// A delayed job is not ready: Wait is about what a Pop would take now.
	other := tubeName(t, "delayed")
	mustPush(t, q, other, "later", time.Hour, 1)
	if ok, err := q.Wait(ctx, other, 100*time.Millisecond); ok || err != nil {
		t.Fatalf("Wait on a tube with only a delayed job = %v, %v; want false", ok, err)
	}
}
