package connectortest

import (
	"errors"
	"testing"
	"time"

	"github.com/qctl/qctl/connectors"
)

// testBrowse checks connectors.Browser: pages in pop order with a cursor, each state listed
// apart, a delayed job made ready now is popped, a deleted job never is, and a change to a job
// no longer in its state reports ErrJobNotFound.
func testBrowse(t *testing.T, h *harness) {
	b, ok := h.q.(connectors.Browser)
	if !ok {
		t.Skip("connector cannot browse its jobs")
	}
	if _, ok := h.q.(connectors.NextJobOnly); ok {
		testBrowseNextOnly(t, h, b)
		return
	}
	q := h.queue("browse")
	for i := 0; i < 5; i++ {
		h.push(q, i, 0)
	}
	h.push(q, 100, time.Hour)
	h.push(q, 101, 2*time.Hour)
	reserved := h.mustPop(q) // job 0

	list := func(state connectors.JobState, cursor string, n int) ([]connectors.BrowsedJob, string) {
		t.Helper()
		jobs, next, err := b.Browse(h.ctx, q, state, cursor, n)
		if err != nil {
			t.Fatalf("Browse(%s, %q): %v", state, cursor, err)
		}
		return jobs, next
	}
	numbers := func(jobs []connectors.BrowsedJob) []int {
		var ns []int
		for _, j := range jobs {
			ns = append(ns, h.number(&connectors.Reserved{Payload: j.Payload}))
		}
		return ns
	}
	page1, next := list(connectors.StateReady, "", 3)
	if got := numbers(page1); len(got) != 3 || got[0] != 1 || got[2] != 3 || next == "" {
		t.Fatalf("first ready page = %v (next %q), want [1 2 3] and a cursor", got, next)
	}
	page2, next := list(connectors.StateReady, next, 3)
	if got := numbers(page2); len(got) != 1 || got[0] != 4 || next != "" {
		t.Fatalf("second ready page = %v (next %q), want [4] and no cursor", got, next)
	}
	delayed, _ := list(connectors.StateDelayed, "", 10)
	if got := numbers(delayed); len(got) != 2 || got[0] != 100 {
		t.Fatalf("delayed = %v, want [100 101]", got)
	}
	// Delayed jobs page in the order they fall due.
	first, next := list(connectors.StateDelayed, "", 1)
	if got := numbers(first); len(got) != 1 || got[0] != 100 || next == "" {
		t.Fatalf("first delayed page of 1 = %v (next %q), want [100] and a cursor", got, next)
	}
	second, next := list(connectors.StateDelayed, next, 1)
	if got := numbers(second); len(got) != 1 || got[0] != 101 {
		t.Fatalf("second delayed page of 1 = %v (next %q), want [101]", got, next)
	}
	if next != "" {
		if rest, _ := list(connectors.StateDelayed, next, 1); len(rest) != 0 {
			t.Fatalf("third delayed page = %v, want none", numbers(rest))
		}
	}
	if held, _ := list(connectors.StateReserved, "", 10); len(held) != 1 || held[0].ID != reserved.ID {
		t.Fatalf("reserved lists %d jobs, want the one popped (%s)", len(held), reserved.ID)
	}

	// Job 2 deleted, job 101 ready now: the pops that follow take 1, 3, 4, 101 and nothing else.
	if err := b.DeleteJob(h.ctx, q, connectors.StateReady, page1[1].Ref); err != nil {
		t.Fatalf("DeleteJob(ready): %v", err)
	}
	if err := b.DeleteJob(h.ctx, q, connectors.StateReady, page1[1].Ref); !errors.Is(err, connectors.ErrJobNotFound) {
		t.Fatalf("deleting it again: %v, want ErrJobNotFound", err)
	}
	if err := b.ReadyNow(h.ctx, q, delayed[1].Ref); err != nil {
		t.Fatalf("ReadyNow: %v", err)
	}
	if err := b.ReadyNow(h.ctx, q, delayed[1].Ref); !errors.Is(err, connectors.ErrJobNotFound) {
		t.Fatalf("ReadyNow again: %v, want ErrJobNotFound", err)
	}
	if err := b.DeleteJob(h.ctx, q, connectors.StateDelayed, delayed[0].Ref); err != nil {
		t.Fatalf("DeleteJob(delayed): %v", err)
	}
	var got []int
	for _, want := range []int{1, 3, 4, 101} {
		r := h.mustPop(q)
		if n := h.number(r); n != want {
			t.Fatalf("popped %d after the changes, want %d (so far %v)", n, want, got)
		}
		got = append(got, want)
	}
	h.mustBeEmpty(q)
}

// testBrowseNextOnly checks a Browser that sees only the next job of each state (beanstalkd):
// one ready job, the delayed job due first, never a cursor, reserved refused; delete and ready-now
// act on the job listed and only while it is in the state it was listed in.
func testBrowseNextOnly(t *testing.T, h *harness, b connectors.Browser) {
	q := h.queue("browse")
	for i := 0; i < 3; i++ {
		h.push(q, i, 0)
	}
	h.push(q, 101, 2*time.Hour)
	h.push(q, 100, time.Hour)
	reserved := h.mustPop(q) // job 0
	one := func(state connectors.JobState, want int) connectors.BrowsedJob {
		t.Helper()
		jobs, next, err := b.Browse(h.ctx, q, state, "", 20)
		if err != nil || len(jobs) != 1 || next != "" {
			t.Fatalf("Browse(%s) = %d jobs, next %q, %v; want one job and no cursor", state, len(jobs), next, err)
		}
		if n := h.number(&connectors.Reserved{Payload: jobs[0].Payload}); n != want {
			t.Fatalf("Browse(%s) lists job %d, want %d", state, n, want)
		}
		return jobs[0]
	}
	ready := one(connectors.StateReady, 1)
	if jobs, next, err := b.Browse(h.ctx, q, connectors.StateReady, ready.Ref, 20); err != nil || len(jobs) != 0 || next != "" {
		t.Fatalf("a second ready page = %d jobs, %q, %v; want none", len(jobs), next, err)
	}
	delayed := one(connectors.StateDelayed, 100)
	if delayed.Available.Before(time.Now().Add(50 * time.Minute)) {
		t.Errorf("the delayed job is due at %s, want about an hour from now", delayed.Available)
	}
	if _, _, err := b.Browse(h.ctx, q, connectors.StateReserved, "", 20); err == nil {
		t.Fatalf("Browse(reserved) succeeded on a backend that cannot list reserved jobs")
	}

	for _, bad := range []struct {
		state connectors.JobState
		ref   string
	}{{connectors.StateReady, reserved.ID}, {connectors.StateDelayed, ready.Ref}, {connectors.StateReady, delayed.Ref}, {connectors.StateReady, "999999999"}} {
		if err := b.DeleteJob(h.ctx, q, bad.state, bad.ref); !errors.Is(err, connectors.ErrJobNotFound) {
			t.Fatalf("DeleteJob(%s, %s) of a job not in that state = %v, want ErrJobNotFound", bad.state, bad.ref, err)
		}
	}
	if err := b.ReadyNow(h.ctx, q, ready.Ref); !errors.Is(err, connectors.ErrJobNotFound) {
		t.Fatalf("ReadyNow of a ready job = %v, want ErrJobNotFound", err)
	}
	if err := b.DeleteJob(h.ctx, q, connectors.StateReady, ready.Ref); err != nil {
		t.Fatalf("DeleteJob(ready): %v", err)
	}
	if err := b.ReadyNow(h.ctx, q, delayed.Ref); err != nil {
		t.Fatalf("ReadyNow: %v", err)
	}
	if err := b.ReadyNow(h.ctx, q, delayed.Ref); !errors.Is(err, connectors.ErrJobNotFound) {
		t.Fatalf("ReadyNow again: %v, want ErrJobNotFound", err)
	}
	if err := b.DeleteJob(h.ctx, q, connectors.StateDelayed, one(connectors.StateDelayed, 101).Ref); err != nil {
		t.Fatalf("DeleteJob(delayed): %v", err)
	}
	if jobs, _, err := b.Browse(h.ctx, q, connectors.StateDelayed, "", 20); err != nil || len(jobs) != 0 {
		t.Fatalf("delayed after deleting both = %d jobs, %v; want none", len(jobs), err)
	}
	// Job 1 deleted, 100 made ready, 101 deleted: the pops take 2 and 100 and nothing else.
	for _, want := range []int{2, 100} {
		if n := h.number(h.mustPop(q)); n != want {
			t.Fatalf("popped %d after the changes, want %d", n, want)
		}
	}
	h.mustBeEmpty(q)
}
