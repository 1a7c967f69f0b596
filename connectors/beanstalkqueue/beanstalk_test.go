package beanstalkqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"testing"
	"time"

	beanstalk "github.com/beanstalkd/go-beanstalk"

	"github.com/qctl/qctl/connectors"
)

// tubeName returns a test-unique tube name, so tests can share a server and run in parallel.
func tubeName(t testing.TB, name string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "bq-" + hex.EncodeToString(b) + "-" + name
}

// rawConn is a plain go-beanstalk connection for looking at a server behind the Queue's back.
func rawConn(t testing.TB, addr string) *beanstalk.Conn {
	t.Helper()
	c, err := beanstalk.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustPush(t testing.TB, q *Queue, tube, payload string, delay time.Duration, pri uint32) string {
	t.Helper()
	id, err := q.PushPriority(context.Background(), tube, []byte(payload), delay, pri)
	if err != nil {
		t.Fatalf("PushPriority(%s, %s): %v", tube, payload, err)
	}
	return id
}

func mustPop(t testing.TB, q *Queue, tube string) *connectors.Reserved {
	t.Helper()
	r, err := q.Pop(context.Background(), tube)
	if err != nil || r == nil {
		t.Fatalf("Pop(%s) = %v, %v; want a job", tube, r, err)
	}
	return r
}

func TestPriorityOrder(t *testing.T) {
	t.Parallel()
	q := openShared(t, Options{}) // nil Priority: DefaultPriority
	tube := tubeName(t, "priority")
	mustPush(t, q, tube, "p5", 0, 5)
	mustPush(t, q, tube, "p0", 0, 0)
	if _, err := q.Push(context.Background(), tube, []byte("p1024"), 0); err != nil { // Options.Priority
		t.Fatal(err)
	}
	for _, want := range []string{"p0", "p5", "p1024"} {
		r := mustPop(t, q, tube)
		if string(r.Payload) != want {
			t.Fatalf("popped %s, want %s: priorities 5, 0, 1024 must come out 0, 5, 1024", r.Payload, want)
		}
		if err := q.Delete(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestBuryKickPeekStats(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := openShared(t, Options{})
	tube := tubeName(t, "bury")
	buriedID := mustPush(t, q, tube, "fails", 0, 3)
	delayedID := mustPush(t, q, tube, "later", time.Hour, 1024)

	r := mustPop(t, q, tube)
	if r.ID != buriedID {
		t.Fatalf("popped %s, want %s", r.ID, buriedID)
	}
	if err := q.Bury(ctx, r); err != nil {
		t.Fatalf("Bury: %v", err)
	}
	if err := q.Delete(ctx, r); !errors.Is(err, connectors.ErrLeaseLost) {
		t.Fatalf("Delete after Bury = %v, want ErrLeaseLost: bury ends the reservation", err)
	}
	st, err := q.Stats(ctx, tube)
	if err != nil || st != (TubeStats{Delayed: 1, Buried: 1}) {
		t.Fatalf("Stats = %+v, %v; want one delayed and one buried", st, err)
	}
	if n, err := q.Size(ctx, tube); err != nil || n != 1 {
		t.Fatalf("Size = %d, %v; want 1 (buried jobs are failed ones, not counted)", n, err)
	}

	for state, want := range map[string]string{"buried": buriedID, "delayed": delayedID, "ready": ""} {
		p, err := q.Peek(ctx, tube, state)
		switch {
		case err != nil:
			t.Fatalf("Peek(%s): %v", state, err)
		case want == "" && p != nil:
			t.Fatalf("Peek(ready) = job %s, want none", p.ID)
		case want != "" && (p == nil || p.ID != want):
			t.Fatalf("Peek(%s) = %+v, want job %s", state, p, want)
		}
	}
	// Bury keeps the job's priority (3), and the failed run is counted.
	if p, _ := q.Peek(ctx, tube, "buried"); string(p.Payload) != "fails" || p.Priority != 3 || p.Attempts != 1 {
		t.Fatalf("Peek(buried) = %+v; want payload fails, priority 3, attempts 1", p)
	}
	if p, _ := q.Peek(ctx, tube, "delayed"); p.Priority != 1024 || p.Attempts != 0 || p.TimeLeft < 50*time.Minute || p.TimeLeft > time.Hour {
		t.Fatalf("Peek(delayed) = %+v; want priority 1024, attempts 0, about an hour left", p)
	}
	if _, err := q.Peek(ctx, tube, "reserved"); err == nil {
		t.Fatal("Peek(reserved) succeeded; beanstalkd has no such peek")
	}

	// kick moves buried jobs first and leaves the delayed one alone while any is buried.
	if n, err := q.Kick(ctx, tube, 10); err != nil || n != 1 {
		t.Fatalf("Kick = %d, %v; want 1", n, err)
	}
	again := mustPop(t, q, tube)
	if again.ID != buriedID || again.Attempts != 2 {
		t.Fatalf("after kick popped job %s attempts %d, want %s attempts 2", again.ID, again.Attempts, buriedID)
	}
	// Release keeps the job's own priority (3), unlike Laravel, which resets it to 1024.
	if err := q.Release(ctx, again, 0); err != nil {
		t.Fatal(err)
	}
	id, _ := strconv.ParseUint(buriedID, 10, 64)
	js, err := rawConn(t, sharedAddr).StatsJob(id)
	if err != nil || js["pri"] != "3" || js["state"] != "ready" {
		t.Fatalf("released job stats = %v, %v; want ready with pri 3", js, err)
	}

	if n, err := q.Clear(ctx, tube); err != nil || n != 2 {
		t.Fatalf("Clear = %d, %v; want 2 (one ready, one delayed)", n, err)
	}
	if st, err := q.Stats(ctx, tube); err != nil || st != (TubeStats{}) {
		t.Fatalf("Stats after Clear = %+v, %v", st, err)
	}
}

func TestRequeueGivesBuriedJobsFreshAttempts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := openShared(t, Options{RetryAfter: 7 * time.Second})
	tube := tubeName(t, "requeue")
	first := mustPush(t, q, tube, "first", 0, 3)
	second := mustPush(t, q, tube, "second", 0, 3)
	mustPush(t, q, tube, "later", time.Hour, 1024)
	for _, want := range []string{first, second} {
		r := mustPop(t, q, tube)
		if r.ID != want {
			t.Fatalf("popped %s, want %s", r.ID, want)
		}
		if err := q.Bury(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := q.Requeue(ctx, tube, 1); err != nil || n != 1 {
		t.Fatalf("Requeue(1) = %d, %v; want 1", n, err)
	}
	if st, err := q.Stats(ctx, tube); err != nil || st != (TubeStats{Ready: 1, Delayed: 1, Buried: 1}) {
		t.Fatalf("after Requeue(1) stats = %+v, %v; want 1 ready, 1 delayed (untouched), 1 buried", st, err)
	}
	if n, err := q.Requeue(ctx, tube, 10); err != nil || n != 1 {
		t.Fatalf("Requeue(10) = %d, %v; want 1 (the delayed job is not buried)", n, err)
	}
	raw := rawConn(t, sharedAddr)
	for _, want := range []string{"first", "second"} {
		r := mustPop(t, q, tube)
		if string(r.Payload) != want || r.Attempts != 1 || r.ID == first || r.ID == second {
			t.Fatalf("after Requeue popped %s %q attempts %d; want a new job %q on its first attempt", r.ID, r.Payload, r.Attempts, want)
		}
		id, _ := strconv.ParseUint(r.ID, 10, 64)
		if js, err := raw.StatsJob(id); err != nil || js["pri"] != "3" || js["ttr"] != "7" {
			t.Fatalf("requeued job stats = %v, %v; want the original priority 3 and TTR 7", js, err)
		}
		if err := q.Delete(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, old := range []string{first, second} {
		id, _ := strconv.ParseUint(old, 10, 64)
		if _, err := raw.StatsJob(id); !errors.Is(err, beanstalk.ErrNotFound) {
			t.Fatalf("original job %s still exists after Requeue (stats-job: %v)", old, err)
		}
	}
}

func TestStatsOfUnknownTubeAreZero(t *testing.T) {
	t.Parallel()
	q := openShared(t, Options{})
	st, err := q.Stats(context.Background(), tubeName(t, "never-used"))
	if err != nil || st != (TubeStats{}) {
		t.Fatalf("Stats = %+v, %v; want zeros", st, err)
	}
}

func TestInvalidTubeNameIsRefusedBeforeSending(t *testing.T) {
	t.Parallel()
	q := openShared(t, Options{})
	for _, tube := range []string{"", "-leading-hyphen", "has space", "colon:name", string(make([]byte, 200))} {
		_, err := q.Push(context.Background(), tube, []byte("x"), 0)
		if err == nil || errors.Is(err, connectors.ErrUnavailable) {
			t.Errorf("Push(%q) = %v, want a name error", tube, err)
		}
	}
	if _, err := q.Push(context.Background(), tubeName(t, "ok/+;.$_()"), []byte("x"), 0); err != nil {
		t.Errorf("Push with every allowed punctuation: %v", err)
	}
}

func TestReservationOfAnotherQueueIsRefused(t *testing.T) {
	t.Parallel()
	q1, q2 := openShared(t, Options{}), openShared(t, Options{})
	tube := tubeName(t, "foreign")
	mustPush(t, q1, tube, "x", 0, 1)
	r := mustPop(t, q1, tube)
	if err := q2.Delete(context.Background(), r); err == nil {
		t.Fatal("another Queue deleted the reservation; only the reserving connection can")
	}
	if err := q1.Delete(context.Background(), r); err != nil {
		t.Fatalf("Delete through the reserving Queue: %v", err)
	}
}

func TestLostConnectionLosesTheReservation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := openShared(t, Options{})
	tube := tubeName(t, "lost")
	mustPush(t, q, tube, "x", 0, 1)
	r := mustPop(t, q, tube)

	rc, err := parseReceipt(r.Receipt)
	if err != nil {
		t.Fatal(err)
	}
	c, ok := q.servers[rc.server].lookup(rc.conn)
	if !ok {
		t.Fatal("the reserving connection is not registered")
	}
	c.nc.Close() // as if the network dropped it

	err = q.Delete(ctx, r)
	if !errors.Is(err, connectors.ErrLeaseLost) || !errors.Is(err, connectors.ErrUnavailable) {
		t.Fatalf("Delete on a dead connection = %v, want ErrLeaseLost and ErrUnavailable", err)
	}
	// beanstalkd handed the job back when the connection closed; the Queue carries on.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		again, err := q.Pop(ctx, tube)
		if err != nil {
			t.Fatal(err)
		}
		if again != nil {
			if again.ID != r.ID || again.Attempts != 2 {
				t.Fatalf("got job %s attempts %d, want %s attempts 2", again.ID, again.Attempts, r.ID)
			}
			if err := q.Extend(ctx, r, time.Minute); !errors.Is(err, connectors.ErrLeaseLost) {
				t.Fatalf("Extend of the lost reservation = %v, want ErrLeaseLost", err)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the job never came back after its connection closed")
}

func TestOpenOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := Open(ctx, Options{Addr: "a:1", Addrs: []string{"b:1"}}); err == nil {
		t.Error("Open with both Addr and Addrs succeeded")
	}
	if _, err := Open(ctx, Options{Addrs: []string{"a:1", "a:1"}}); err == nil {
		t.Error("Open with a repeated address succeeded")
	}
	if got := wholeSeconds(1500 * time.Millisecond); got != 2*time.Second {
		t.Errorf("wholeSeconds(1.5s) = %v, want 2s (a delay never ends early)", got)
	}
}

func TestReceiptRoundTrip(t *testing.T) {
	r := receipt{instance: 3, server: 1, conn: 42, gen: 1 << 40}
	got, err := parseReceipt(r.String())
	if err != nil || got != r {
		t.Fatalf("parseReceipt(%q) = %+v, %v", r.String(), got, err)
	}
	for _, bad := range []string{"", "1.2.3", "1.2.3.x", "1.2.3.4.5", "a.b.c.d"} {
		if _, err := parseReceipt(bad); err == nil {
			t.Errorf("parseReceipt(%q) accepted it", bad)
		}
	}
}

// TestConfiguredPriorityZeroIsKept guards against 0 (most urgent) being taken for "unset".
func TestConfiguredPriorityZeroIsKept(t *testing.T) {
	t.Parallel()
	zero := uint32(0)
	q := openShared(t, Options{Priority: &zero})
	tube := tubeName(t, "priority-zero")
	if _, err := q.Push(context.Background(), tube, []byte("urgent"), 0); err != nil {
		t.Fatal(err)
	}
	defer q.Clear(context.Background(), tube)
	job, err := q.Peek(context.Background(), tube, "ready")
	if err != nil || job == nil {
		t.Fatalf("Peek = %v, %v", job, err)
	}
	if job.Priority != 0 {
		t.Fatalf("pushed with priority %d, want the configured 0", job.Priority)
	}
}
