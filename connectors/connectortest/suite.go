// Package connectortest is the conformance suite every queue connector must pass. Change the suite
// first when the contract's semantics change, then the connectors.
//
// Tests isolate themselves by queue name (a random suffix per test), so a connector's Open may
// return instances that share one table, key space or server, and tests run in parallel.
package connectortest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

// Opener returns a connector whose reservations last retryAfter and which reads the time from
// clock (unless RealTime). It may be called several times in one test: every instance must see the
// same jobs, like worker processes sharing a backend. It registers its own cleanup.
type Opener func(t *testing.T, clock *Clock, retryAfter time.Duration) connectors.Queue

// Options describes the connector under test.
type Options struct {
	// Open opens the connector under test on the backend every test of a Run shares.
	Open Opener
	// Private, when set, starts a backend of the test's own and returns an Opener for it. The
	// suite uses it for state a backend keeps once for all its queues, which queue names cannot
	// isolate and which other tests' workers read (beanstalkd keeps one restart signal per
	// server). Without it such tests use Open, whose backend must then keep that state per Run
	// (a Redis key prefix, a signals table of the Run's own).
	Private func(t *testing.T) Opener
	// RealTime is true for backends that keep time on the server (beanstalkd's delay and TTR):
	// the suite then waits for real, with one-second delays and leases, instead of advancing clock.
	RealTime bool
}

// Run runs every conformance test against the connector.
func Run(t *testing.T, o Options) {
	tests := []struct {
		name string
		fn   func(t *testing.T, h *harness)
	}{
		{"PushPop", testPushPop},
		{"PopEmpty", testPopEmpty},
		{"FIFO", testFIFO},
		{"QueuesAreIsolated", testQueuesIsolated},
		{"DelayedPush", testDelayedPush},
		{"LeaseExpiryReturnsJob", testLeaseExpiry},
		{"ReleaseNow", testReleaseNow},
		{"ReleaseWithDelay", testReleaseWithDelay},
		{"Delete", testDelete},
		{"AttemptsCount", testAttemptsCount},
		{"Size", testSize},
		{"Clear", testClear},
		{"NotJSONPayloadIsDelivered", testNotJSON},
		{"ConcurrentPoppersNeverShareAJob", testConcurrentPoppers},
		{"BatchPop", testBatchPop},
		{"BatchDelete", testBatchDelete},
		{"BulkPush", testBulkPush},
		{"LeaseExtension", testLeaseExtension},
		{"WaitWakesOnPush", testWaitWakes},
		{"StatsCountEachState", testStatsCounts},
		{"StatsWhenJobsBecomeReady", testStatsBecomeReady},
		{"StatsListQueues", testStatsQueues},
		{"RestartSignal", testRestartSignal},
		{"Browse", testBrowse},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newHarness(t, o))
		})
	}
}

// harness is one test's view of the connector: a clock, the lease length, a unique queue prefix.
type harness struct {
	t        *testing.T
	o        Options
	clock    *Clock
	lease    time.Duration
	delay    time.Duration // a delay long enough to be observably "not yet"
	prefix   string
	ctx      context.Context
	q        connectors.Queue
	maxDelay time.Duration // how long a real-time backend may take past a due time
}

func newHarness(t *testing.T, o Options) *harness {
	h := &harness{t: t, o: o, clock: NewClock(), ctx: context.Background(), prefix: "ct-" + randomHex(6) + "-"}
	if o.RealTime {
		h.lease, h.delay, h.maxDelay = time.Second, time.Second, 5*time.Second
	} else {
		h.lease, h.delay = 60*time.Second, 30*time.Second
	}
	h.q = h.open()
	return h
}

func (h *harness) open() connectors.Queue { return h.o.Open(h.t, h.clock, h.lease) }

// queue returns a test-unique queue name.
func (h *harness) queue(name string) string { return h.prefix + name }

// payload builds a Laravel string-job envelope carrying n, so tests can tell jobs apart.
func payload(n int) []byte {
	return []byte(fmt.Sprintf(`{"uuid":"%s","displayName":"Conformance","job":"Conformance@handle","maxTries":null,"maxExceptions":null,"failOnTimeout":false,"backoff":null,"timeout":null,"data":{"n":%d}}`, uuidLike(), n))
}

// number returns the n a payload carries, failing the test when the payload lost it.
func (h *harness) number(r *connectors.Reserved) int {
	h.t.Helper()
	var env struct {
		Job  string `json:"job"`
		Data struct {
			N *int `json:"n"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.Payload, &env); err != nil || env.Data.N == nil || env.Job != "Conformance@handle" {
		h.t.Fatalf("popped payload lost its job or data (err %v): %s", err, r.Payload)
	}
	return *env.Data.N
}

func (h *harness) push(queue string, n int, delay time.Duration) string {
	h.t.Helper()
	id, err := h.q.Push(h.ctx, queue, payload(n), delay)
	if err != nil {
		h.t.Fatalf("Push(%s): %v", queue, err)
	}
	if id == "" {
		h.t.Fatalf("Push(%s) returned an empty id", queue)
	}
	return id
}

func (h *harness) pop(queue string) *connectors.Reserved {
	h.t.Helper()
	r, err := h.q.Pop(h.ctx, queue)
	if err != nil {
		h.t.Fatalf("Pop(%s): %v", queue, err)
	}
	return r
}

func (h *harness) mustPop(queue string) *connectors.Reserved {
	h.t.Helper()
	r := h.pop(queue)
	if r == nil {
		h.t.Fatalf("Pop(%s) found no job, want one", queue)
	}
	if r.Queue != queue {
		h.t.Fatalf("Reserved.Queue = %q, want %q", r.Queue, queue)
	}
	return r
}

func (h *harness) mustBeEmpty(queue string) {
	h.t.Helper()
	if r := h.pop(queue); r != nil {
		h.t.Fatalf("Pop(%s) returned job %s (attempts %d), want none available", queue, r.ID, r.Attempts)
	}
}

// passTime makes d pass: on the fake clock at once, on a real-time backend by waiting.
func (h *harness) passTime(d time.Duration) {
	if h.o.RealTime {
		time.Sleep(d)
		return
	}
	h.clock.Advance(d)
}

// popAfter pops queue once time d has passed. On real-time backends it polls until maxDelay more,
// since the server decides exactly when a job becomes ready.
func (h *harness) popAfter(queue string, d time.Duration) *connectors.Reserved {
	h.t.Helper()
	if !h.o.RealTime {
		h.clock.Advance(d)
		return h.mustPop(queue)
	}
	deadline := time.Now().Add(d + h.maxDelay)
	for time.Now().Before(deadline) {
		if r := h.pop(queue); r != nil {
			return r
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("Pop(%s) found no job %v after it was due", queue, h.maxDelay)
	return nil
}

func (h *harness) size(queue string) int64 {
	h.t.Helper()
	n, err := h.q.Size(h.ctx, queue)
	if err != nil {
		h.t.Fatalf("Size(%s): %v", queue, err)
	}
	return n
}

func testPushPop(t *testing.T, h *harness) {
	q := h.queue("default")
	want := payload(7)
	id, err := h.q.Push(h.ctx, q, want, 0)
	if err != nil || id == "" {
		t.Fatalf("Push = %q, %v", id, err)
	}
	r := h.mustPop(q)
	if r.Attempts != 1 {
		t.Errorf("first pop Attempts = %d, want 1", r.Attempts)
	}
	if r.ID == "" {
		t.Error("Reserved.ID is empty")
	}
	var got, orig map[string]any
	if err := json.Unmarshal(r.Payload, &got); err != nil {
		t.Fatalf("popped payload is not JSON: %v: %s", err, r.Payload)
	}
	_ = json.Unmarshal(want, &orig)
	for _, k := range []string{"uuid", "displayName", "job", "data"} {
		if fmt.Sprint(got[k]) != fmt.Sprint(orig[k]) {
			t.Errorf("payload key %q = %v, want %v", k, got[k], orig[k])
		}
	}
	if err := h.q.Delete(h.ctx, r); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	h.mustBeEmpty(q)
}

func testPopEmpty(t *testing.T, h *harness) {
	h.mustBeEmpty(h.queue("nothing-here"))
}

func testFIFO(t *testing.T, h *harness) {
	q := h.queue("fifo")
	for i := 0; i < 5; i++ {
		h.push(q, i, 0)
	}
	for i := 0; i < 5; i++ {
		r := h.mustPop(q)
		if n := h.number(r); n != i {
			t.Fatalf("pop %d returned job %d: not first in, first out", i, n)
		}
	}
	h.mustBeEmpty(q)
}

func testQueuesIsolated(t *testing.T, h *harness) {
	a, b := h.queue("a"), h.queue("b")
	h.push(a, 1, 0)
	h.mustBeEmpty(b)
	if n := h.size(b); n != 0 {
		t.Fatalf("Size(b) = %d after pushing only to a", n)
	}
	if r := h.mustPop(a); h.number(r) != 1 {
		t.Fatal("wrong job from a")
	}
}

func testDelayedPush(t *testing.T, h *harness) {
	q := h.queue("delayed")
	h.push(q, 1, h.delay)
	h.mustBeEmpty(q)
	if n := h.size(q); n != 1 {
		t.Fatalf("Size = %d with one delayed job, want 1", n)
	}
	r := h.popAfter(q, h.delay+time.Second)
	if h.number(r) != 1 || r.Attempts != 1 {
		t.Fatalf("delayed job: n=%d attempts=%d", h.number(r), r.Attempts)
	}
}

func testLeaseExpiry(t *testing.T, h *harness) {
	q := h.queue("lease")
	h.push(q, 1, 0)
	first := h.mustPop(q)
	h.mustBeEmpty(q) // reserved, so not available
	again := h.popAfter(q, h.lease+time.Second)
	if h.number(again) != 1 {
		t.Fatal("a different job came back")
	}
	if again.Attempts != first.Attempts+1 {
		t.Fatalf("after lease expiry Attempts = %d, want %d", again.Attempts, first.Attempts+1)
	}
	if err := h.q.Delete(h.ctx, again); err != nil {
		t.Fatalf("Delete of the new reservation: %v", err)
	}
	if n := h.size(q); n != 0 {
		t.Fatalf("Size = %d after deleting the re-delivered job, want 0", n)
	}
}

func testReleaseNow(t *testing.T, h *harness) {
	q := h.queue("release-now")
	h.push(q, 1, 0)
	r := h.mustPop(q)
	if err := h.q.Release(h.ctx, r, 0); err != nil {
		t.Fatalf("Release: %v", err)
	}
	again := h.popAfter(q, 0)
	if h.number(again) != 1 || again.Attempts != 2 {
		t.Fatalf("released job: n=%d attempts=%d, want n=1 attempts=2", h.number(again), again.Attempts)
	}
}

func testReleaseWithDelay(t *testing.T, h *harness) {
	q := h.queue("release-delay")
	h.push(q, 1, 0)
	r := h.mustPop(q)
	if err := h.q.Release(h.ctx, r, h.delay); err != nil {
		t.Fatalf("Release: %v", err)
	}
	h.mustBeEmpty(q)
	if n := h.size(q); n != 1 {
		t.Fatalf("Size = %d with one released-delayed job, want 1", n)
	}
	again := h.popAfter(q, h.delay+time.Second)
	if again.Attempts != 2 {
		t.Fatalf("Attempts = %d after one release, want 2", again.Attempts)
	}
}

func testDelete(t *testing.T, h *harness) {
	q := h.queue("delete")
	h.push(q, 1, 0)
	h.push(q, 2, 0)
	r := h.mustPop(q)
	if err := h.q.Delete(h.ctx, r); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if n := h.size(q); n != 1 {
		t.Fatalf("Size = %d after deleting one of two, want 1", n)
	}
	// The deleted job never comes back, even after its lease would have ended.
	next := h.popAfter(q, h.lease+time.Second)
	if h.number(next) != 2 {
		t.Fatalf("got job %d, want 2: the deleted job came back", h.number(next))
	}
	if err := h.q.Delete(h.ctx, next); err != nil {
		t.Fatal(err)
	}
	h.passTime(h.lease + time.Second)
	h.mustBeEmpty(q)
}

func testAttemptsCount(t *testing.T, h *harness) {
	q := h.queue("attempts")
	h.push(q, 1, 0)
	for want := 1; want <= 3; want++ {
		r := h.popAfter(q, 0)
		if r.Attempts != want {
			t.Fatalf("pop %d: Attempts = %d", want, r.Attempts)
		}
		if err := h.q.Release(h.ctx, r, 0); err != nil {
			t.Fatal(err)
		}
	}
}

func testSize(t *testing.T, h *harness) {
	q := h.queue("size")
	h.push(q, 1, 0)       // ready
	h.push(q, 2, 0)       // will be reserved
	h.push(q, 3, h.delay) // delayed
	if r := h.mustPop(q); h.number(r) != 1 {
		// FIFO puts 1 first; reserve it so one of each state exists.
		t.Fatalf("unexpected first job %d", h.number(r))
	}
	if n := h.size(q); n != 3 {
		t.Fatalf("Size = %d with ready+reserved+delayed, want 3", n)
	}
}

func testClear(t *testing.T, h *harness) {
	q, other := h.queue("clear"), h.queue("clear-other")
	for i := 0; i < 3; i++ {
		h.push(q, i, 0)
	}
	h.push(q, 9, h.delay)
	h.push(other, 1, 0)
	n, err := h.q.Clear(h.ctx, q)
	if err != nil {
		t.Fatalf("Clear: %v", err)
	}
	if n != 4 {
		t.Errorf("Clear returned %d, want 4", n)
	}
	if s := h.size(q); s != 0 {
		t.Fatalf("Size = %d after Clear", s)
	}
	if s := h.size(other); s != 1 {
		t.Fatalf("Clear touched another queue: its size is %d, want 1", s)
	}
}

// testNotJSON checks that a payload a PHP producer garbled is still delivered, so the worker can
// move it to the failed store instead of the backend dropping it.
func testNotJSON(t *testing.T, h *harness) {
	q := h.queue("garbage")
	if _, err := h.q.Push(h.ctx, q, []byte("this is not json"), 0); err != nil {
		t.Fatalf("Push: %v", err)
	}
	r, err := h.q.Pop(h.ctx, q)
	if err != nil {
		t.Fatalf("Pop of a non-JSON payload must not fail: %v", err)
	}
	if r == nil || string(r.Payload) != "this is not json" {
		t.Fatalf("Pop = %+v, want the payload byte for byte", r)
	}
	if err := h.q.Delete(h.ctx, r); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}

func testConcurrentPoppers(t *testing.T, h *harness) {
	q := h.queue("race")
	const jobs, poppers = 120, 6
	for i := 0; i < jobs; i++ {
		h.push(q, i, 0)
	}
	var (
		mu   sync.Mutex
		seen = map[int]int{}
		wg   sync.WaitGroup
	)
	for p := 0; p < poppers; p++ {
		conn := h.q
		if p%2 == 1 {
			conn = h.open() // a second "process" on the same backend
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				r, err := conn.Pop(h.ctx, q)
				if err != nil {
					t.Errorf("Pop: %v", err)
					return
				}
				if r == nil {
					return
				}
				var env struct {
					Data struct{ N int } `json:"data"`
				}
				_ = json.Unmarshal(r.Payload, &env)
				mu.Lock()
				seen[env.Data.N]++
				mu.Unlock()
				if err := conn.Delete(h.ctx, r); err != nil {
					t.Errorf("Delete: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(seen) != jobs {
		t.Errorf("%d distinct jobs popped, want %d", len(seen), jobs)
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("job %d popped %d times", n, c)
		}
	}
}

func testBatchPop(t *testing.T, h *harness) {
	bp, ok := h.q.(connectors.BatchPopper)
	if !ok {
		t.Skip("connector has no batch pop")
	}
	q := h.queue("batch")
	for i := 0; i < 5; i++ {
		h.push(q, i, 0)
	}
	h.push(q, 99, h.delay) // not due: must not be popped
	first, err := bp.PopN(h.ctx, q, 3)
	if err != nil {
		t.Fatal(err)
	}
	second, err := bp.PopN(h.ctx, q, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, r := range append(first, second...) {
		if r.Attempts != 1 || r.Queue != q {
			t.Errorf("batch-popped job: attempts %d queue %q", r.Attempts, r.Queue)
		}
		got = append(got, h.number(r))
	}
	if len(first) != 3 || len(second) != 2 || fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("PopN(3) then PopN(10) got %d+%d jobs %v, want 3+2 [0 1 2 3 4]", len(first), len(second), got)
	}
	third, err := bp.PopN(h.ctx, q, 10)
	if err != nil || len(third) != 0 {
		t.Fatalf("PopN on a drained queue = %d jobs, %v", len(third), err)
	}
}

func testBatchDelete(t *testing.T, h *harness) {
	bd, ok := h.q.(connectors.BatchDeleter)
	if !ok {
		t.Skip("connector has no batch delete")
	}
	q := h.queue("batch-delete")
	var reserved []*connectors.Reserved
	for i := 0; i < 4; i++ {
		h.push(q, i, 0)
	}
	for i := 0; i < 3; i++ {
		reserved = append(reserved, h.mustPop(q))
	}
	if err := bd.DeleteN(h.ctx, reserved); err != nil {
		t.Fatalf("DeleteN: %v", err)
	}
	if n := h.size(q); n != 1 {
		t.Fatalf("Size = %d after DeleteN of 3 of 4, want 1", n)
	}
	h.passTime(h.lease + time.Second)
	if r := h.mustPop(q); h.number(r) != 3 {
		t.Fatalf("a batch-deleted job came back: %d", h.number(r))
	}
}

func testBulkPush(t *testing.T, h *harness) {
	bp, ok := h.q.(connectors.BulkPusher)
	if !ok {
		t.Skip("connector has no bulk push")
	}
	q := h.queue("bulk")
	var payloads [][]byte
	for i := 0; i < 50; i++ {
		payloads = append(payloads, payload(i))
	}
	ids, err := bp.PushBulk(h.ctx, q, payloads, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 50 {
		t.Fatalf("PushBulk returned %d ids, want 50", len(ids))
	}
	unique := map[string]bool{}
	for _, id := range ids {
		unique[id] = true
	}
	if len(unique) != 50 {
		t.Fatalf("PushBulk returned %d distinct ids, want 50", len(unique))
	}
	if n := h.size(q); n != 50 {
		t.Fatalf("Size = %d after bulk push of 50", n)
	}
	for i := 0; i < 50; i++ {
		if r := h.mustPop(q); h.number(r) != i {
			t.Fatalf("bulk-pushed job %d popped at position %d", h.number(r), i)
		}
	}
}

func testLeaseExtension(t *testing.T, h *harness) {
	le, ok := h.q.(connectors.LeaseExtender)
	if !ok {
		t.Skip("connector has no lease extension")
	}
	q := h.queue("extend")
	h.push(q, 1, 0)
	r := h.mustPop(q)
	// Keep extending across three lease lengths: the job must never be handed out again.
	for i := 0; i < 6; i++ {
		h.passTime(h.lease / 2)
		if err := le.Extend(h.ctx, r, h.lease); err != nil {
			t.Fatalf("Extend: %v", err)
		}
		h.mustBeEmpty(q)
	}
	// Once extensions stop, the lease lapses and the job comes back.
	again := h.popAfter(q, h.lease+time.Second)
	if again.Attempts != 2 {
		t.Fatalf("Attempts = %d after the extended lease lapsed, want 2", again.Attempts)
	}
	if err := le.Extend(h.ctx, r, h.lease); !errors.Is(err, connectors.ErrLeaseLost) {
		t.Fatalf("Extend of a lost reservation = %v, want ErrLeaseLost", err)
	}
}

func testWaitWakes(t *testing.T, h *harness) {
	w, ok := h.q.(connectors.Waiter)
	if !ok {
		t.Skip("connector has no blocking wait")
	}
	q := h.queue("wait")
	woke := make(chan bool, 1)
	go func() {
		ok, err := w.Wait(h.ctx, q, 20*time.Second)
		if err != nil {
			t.Errorf("Wait: %v", err)
		}
		woke <- ok
	}()
	h.push(q, 1, 0)
	select {
	case ok := <-woke:
		if !ok {
			t.Fatal("Wait reported a timeout although a job was pushed")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Wait did not wake up after a push")
	}
	h.mustPop(q)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuidLike() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}
