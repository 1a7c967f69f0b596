package beanstalkqueue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

func mustPopN(t testing.TB, q *Queue, tube string, n int) []*connectors.Reserved {
	t.Helper()
	jobs, err := q.PopN(context.Background(), tube, n)
	if err != nil {
		t.Fatalf("PopN(%s, %d): %v", tube, n, err)
	}
	return jobs
}

// One connection holds every job of a batch: each of them can still be released, buried, touched
// and deleted on its own, and the connection goes back to the pool only after the last one.
func TestBatchReservationsEndOneByOne(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := openShared(t, Options{})
	tube := tubeName(t, "batch-each")
	for i := range 5 {
		mustPush(t, q, tube, fmt.Sprint("job", i), 0, 1024)
	}
	jobs := mustPopN(t, q, tube, 10)
	if len(jobs) != 5 {
		t.Fatalf("PopN(10) of 5 ready jobs = %d jobs", len(jobs))
	}
	for i, r := range jobs {
		if string(r.Payload) != fmt.Sprint("job", i) || r.Attempts != 1 {
			t.Fatalf("job %d = %s attempts %d; want job%d, attempts 1, in push order", i, r.Payload, r.Attempts, i)
		}
	}
	s := q.serverFor(tube)
	if s.mu.Lock(); len(s.idle) != 0 {
		t.Errorf("%d idle connections while all are bound to the batch", len(s.idle))
	}
	s.mu.Unlock()

	if err := q.Release(ctx, jobs[0], 0); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if err := q.Bury(ctx, jobs[1]); err != nil {
		t.Fatalf("Bury: %v", err)
	}
	if err := q.Extend(ctx, jobs[2], time.Minute); err != nil {
		t.Fatalf("Extend: %v", err)
	}
	if err := q.Delete(ctx, jobs[3]); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	// jobs[3] is gone already and jobs[0] was released: DeleteN skips both.
	if err := q.DeleteN(ctx, []*connectors.Reserved{jobs[2], jobs[3], jobs[4], jobs[0]}); err != nil {
		t.Fatalf("DeleteN: %v", err)
	}
	st, err := q.Stats(ctx, tube)
	if err != nil || st != (TubeStats{Ready: 1, Buried: 1}) {
		t.Fatalf("Stats = %+v, %v; want the released job ready and the buried one buried", st, err)
	}
	if s.mu.Lock(); len(s.idle) != 1 {
		t.Errorf("%d idle connections after the batch ended, want its one connection back", len(s.idle))
	}
	s.mu.Unlock()
	again := mustPop(t, q, tube)
	if string(again.Payload) != "job0" || again.Attempts != 2 {
		t.Fatalf("after release popped %s attempts %d; want job0, attempts 2", again.Payload, again.Attempts)
	}
}

// A connection that watched one tube is reused for another: the pipelined reserves must not go
// out before the watch list changes, or they would take the first tube's jobs.
func TestBatchPopFollowsTheTube(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := openShared(t, Options{})
	a, b := tubeName(t, "batch-a"), tubeName(t, "batch-b")
	for i := range 4 {
		mustPush(t, q, a, "a", 0, 1024)
		mustPush(t, q, b, fmt.Sprint("b", i), 0, 1024)
	}
	for _, step := range []struct {
		tube string
		want int
	}{{a, 3}, {b, 3}, {a, 1}, {b, 1}, {a, 0}, {b, 0}} {
		jobs := mustPopN(t, q, step.tube, 3)
		if len(jobs) != step.want {
			t.Fatalf("PopN(%s, 3) = %d jobs, want %d", step.tube, len(jobs), step.want)
		}
		for _, r := range jobs {
			if r.Queue != step.tube || (step.tube == a) != (string(r.Payload) == "a") {
				t.Fatalf("PopN(%s) returned %s of tube %s", step.tube, r.Payload, r.Queue)
			}
		}
		if err := q.DeleteN(ctx, jobs); err != nil {
			t.Fatal(err)
		}
	}
}

// Jobs of several batches sit on several connections; one DeleteN deletes them all.
func TestDeleteNAcrossConnections(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q := openShared(t, Options{})
	tube := tubeName(t, "batch-conns")
	for range 6 {
		mustPush(t, q, tube, "x", 0, 1024)
	}
	var all []*connectors.Reserved
	for range 3 {
		all = append(all, mustPopN(t, q, tube, 2)...)
	}
	if len(all) != 6 {
		t.Fatalf("three PopN(2) = %d jobs, want 6", len(all))
	}
	if err := q.DeleteN(ctx, all); err != nil {
		t.Fatalf("DeleteN: %v", err)
	}
	if st, err := q.Stats(ctx, tube); err != nil || st != (TubeStats{}) {
		t.Fatalf("Stats = %+v, %v; want the tube empty", st, err)
	}
	for _, r := range all {
		if err := q.Delete(ctx, r); !errors.Is(err, connectors.ErrLeaseLost) {
			t.Fatalf("Delete after DeleteN = %v, want ErrLeaseLost", err)
		}
	}
}

func TestParseStatsYAML(t *testing.T) {
	yaml := []byte("---\nid: 7\ntube: default\nstate: reserved\npri: 5\nage: 0\ndelay: 0\nttr: 60\ntime-left: 59\nfile: 0\nreserves: 3\ntimeouts: 1\n")
	attempts, res, err := parseStatsYAML(yaml)
	if err != nil || attempts != 3 || res.pri != 5 || res.ttr != time.Minute {
		t.Fatalf("parseStatsYAML = %d, %+v, %v; want 3 attempts, pri 5, ttr 1m", attempts, res, err)
	}
	if _, _, err := parseStatsYAML([]byte("---\nid: 7\n")); err == nil {
		t.Fatal("parseStatsYAML of a reply without reserves/pri/ttr succeeded")
	}
}

// PushBulk pipelines its puts on a connection that last put on another tube: every job must land
// on the bulk's tube, in order, and a job the server refuses must not stop or shift the others.
func TestPushBulkKeepsOrderTubeAndReportsRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, freeAddr(t), "-z", "100") // max-job-size 100 bytes
	q := openShared(t, Options{Addr: srv.addr})
	other, tube := tubeName(t, "other"), tubeName(t, "bulk")
	mustPush(t, q, other, "elsewhere", 0, 1024) // the idle connection now uses `other`

	var payloads [][]byte
	for i := range 600 {
		payloads = append(payloads, []byte(fmt.Sprint("job", i)))
	}
	payloads[300] = make([]byte, 200) // over max-job-size
	ids, err := q.PushBulk(ctx, tube, payloads, 0)
	if err == nil || !strings.Contains(err.Error(), "refused 1 of 600") || !strings.Contains(err.Error(), "JOB_TOO_BIG") {
		t.Fatalf("PushBulk with one oversized job: err = %v; want the one refusal named", err)
	}
	if len(ids) != 599 {
		t.Fatalf("PushBulk returned %d ids, want 599 (every job put)", len(ids))
	}
	if st, err := q.Stats(ctx, other); err != nil || st.Ready != 1 {
		t.Fatalf("tube %s: %+v, %v; want only its own job", other, st, err)
	}
	var got []string
	for {
		jobs := mustPopN(t, q, tube, 100)
		if len(jobs) == 0 {
			break
		}
		for _, r := range jobs {
			got = append(got, string(r.Payload))
		}
		if err := q.DeleteN(ctx, jobs); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 599 || got[0] != "job0" || got[299] != "job299" || got[300] != "job301" || got[598] != "job599" {
		t.Fatalf("popped %d jobs (%v ... ); want job0..job599 in order without job300", len(got), got[:min(3, len(got))])
	}
}

// A lazily counted job was never described: release and bury must still restate its own
// priority, and its attempts are counted when asked, then remembered.
func TestLazyAttemptsReleaseAndBuryKeepThePriority(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startServer(t, freeAddr(t))
	q := openShared(t, Options{Addr: srv.addr})
	q.CountAttemptsAtPop(false)
	raw := rawConn(t, srv.addr)
	tube := tubeName(t, "lazy")
	id := mustPush(t, q, tube, "lazy", 0, 7)
	n, _ := strconv.ParseUint(id, 10, 64)

	r := mustPopN(t, q, tube, 5)[0]
	if r.Attempts != 0 {
		t.Fatalf("pop without counting: Attempts = %d, want 0 (not counted)", r.Attempts)
	}
	st, _ := raw.Stats()
	statsJobs := st["cmd-stats-job"]
	if err := q.Release(ctx, r, 0); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if js, err := raw.StatsJob(n); err != nil || js["pri"] != "7" || js["state"] != "ready" {
		t.Fatalf("after Release the job is %v, %v; want ready with its priority 7", js, err)
	}
	if st, _ := raw.Stats(); st["cmd-stats-job"] == statsJobs {
		t.Fatal("Release of an undescribed job sent no stats-job, so it could not know the priority")
	}

	r = mustPop(t, q, tube)
	if a, err := q.CountAttempts(ctx, r); err != nil || a != 2 {
		t.Fatalf("CountAttempts after one release = %d, %v; want 2", a, err)
	}
	if err := q.Bury(ctx, r); err != nil {
		t.Fatalf("Bury: %v", err)
	}
	if js, err := raw.StatsJob(n); err != nil || js["pri"] != "7" || js["state"] != "buried" {
		t.Fatalf("after Bury the job is %v, %v; want buried with its priority 7", js, err)
	}
	if _, err := q.CountAttempts(ctx, r); !errors.Is(err, connectors.ErrLeaseLost) {
		t.Fatalf("CountAttempts after Bury = %v, want ErrLeaseLost", err)
	}
}

// A worker logs one line per error: DeleteN's error for several jobs must not span lines.
func TestDeleteNErrorIsOneLine(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	q1, q2 := openShared(t, Options{}), openShared(t, Options{})
	tube := tubeName(t, "one-line")
	mustPush(t, q1, tube, "a", 0, 1)
	mustPush(t, q1, tube, "b", 0, 1)
	jobs := []*connectors.Reserved{mustPop(t, q1, tube), mustPop(t, q1, tube)}
	err := q2.DeleteN(ctx, jobs) // reserved through another Queue: refused, twice
	if err == nil || strings.Contains(err.Error(), "\n") {
		t.Fatalf("DeleteN = %q, want one error on one line", err)
	}
	if err := q1.DeleteN(ctx, jobs); err != nil {
		t.Fatal(err)
	}
}
