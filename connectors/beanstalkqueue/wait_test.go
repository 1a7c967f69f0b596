package beanstalkqueue

import (
	"context"
	"errors"
	"testing"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"
)

// awaitWaiting returns once a client of the private server behind raw is blocked in a reserve
// (the server's current-waiting), so a Wait is certainly waiting, not about to start.
func awaitWaiting(t testing.TB, raw *beanstalk.Conn) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st, err := raw.Stats()
		if err != nil {
			t.Fatalf("stats: %v", err)
		}
		if st["current-waiting"] != "0" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Wait never blocked in a reserve")
		}
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

func TestWaitWakesOnPushAndTheNextPopRunsTheJob(t *testing.T) {
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
	awaitWaiting(t, raw)
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
	if ok, err := q.Wait(context.Background(), tube, time.Minute); !ok || err != nil {
		t.Fatalf("Wait with a parked job = %v, %v; want true at once", ok, err)
	}
	if r := mustPop(t, q, tube); r.ID != id || r.Attempts != 1 {
		t.Fatalf("popped job %s attempts %d, want job %s attempts 1: the reservation Wait made is the run", r.ID, r.Attempts, id)
	}
	if r, err := q.Pop(context.Background(), tube); r != nil || err != nil {
		t.Fatalf("second Pop = %+v, %v; want nothing: the parked job is handed out once", r, err)
	}
}

// A worker stopped between Wait and Pop must not leave the job it waited for with an attempt
// charged: Close puts a fresh copy back.
func TestCloseRequeuesAJobWaitReservedWithoutAnAttempt(t *testing.T) {
	t.Parallel()
	srv := startServer(t, freeAddr(t))
	q, err := Open(context.Background(), Options{Addr: srv.addr})
	if err != nil {
		t.Fatal(err)
	}
	raw := rawConn(t, srv.addr)
	tube := tubeName(t, "parked")
	mustPush(t, q, tube, "parked", 0, 7)
	if ok, err := q.Wait(context.Background(), tube, 0); !ok || err != nil {
		t.Fatalf("Wait on a tube with a ready job = %v, %v", ok, err)
	}
	q.Close()
	id, body, err := (&beanstalk.Tube{Conn: raw, Name: tube}).PeekReady()
	if err != nil || string(body) != "parked" {
		t.Fatalf("after Close peek-ready = %s, %v; want the parked job back", body, err)
	}
	st, err := raw.StatsJob(id)
	if err != nil || st["reserves"] != "0" || st["pri"] != "7" {
		t.Fatalf("requeued job stats %v, %v; want no reserves and its priority 7", st, err)
	}
	ts, err := (&beanstalk.Tube{Conn: raw, Name: tube}).Stats()
	if err != nil || ts["current-jobs-ready"] != "1" || ts["current-jobs-reserved"] != "0" {
		t.Fatalf("tube stats %v, %v; want exactly the one ready job", ts, err)
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
	awaitWaiting(t, rawConn(t, srv.addr))
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
