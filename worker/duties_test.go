package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// recordingDuties records which duties ran for which job, and fails the ones it is told to.
type recordingDuties struct {
	mu            sync.Mutex
	calls         []string
	failBefore    string // job name whose Before fails
	skip          string // job name whose Before skips it
	failSucceeded string // job name whose Succeeded fails
}

func (d *recordingDuties) add(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, s)
}

func (d *recordingDuties) Before(_ context.Context, j *jobs.Job) error {
	d.add("before " + j.Payload.Job)
	if j.Payload.Job == d.failBefore {
		return errors.New("cannot open the command")
	}
	if j.Payload.Job == d.skip {
		return fmt.Errorf("its batch was cancelled: %w", worker.ErrSkip)
	}
	return nil
}

func (d *recordingDuties) Succeeded(_ context.Context, j *jobs.Job) error {
	d.add("succeeded " + j.Payload.Job)
	if j.Payload.Job == d.failSucceeded {
		return errors.New("cannot push the next job of the chain")
	}
	return nil
}

func (d *recordingDuties) Failed(_ context.Context, j *jobs.Job, cause error) string {
	d.add("failed " + j.Payload.Job + ": " + cause.Error())
	return "note from the duties"
}

// TestDutiesRunWhereTheOutcomeIsApplied: Succeeded after a handler succeeds, Failed (with its note
// in the failed record) when a job fails for good, a failing Succeeded handled like a handler
// error, a failing Before fails the job without running the handler or Failed, and a Before that
// skips the job deletes it as done without running the handler.
func TestDutiesRunWhereTheOutcomeIsApplied(t *testing.T) {
	b := setup(t)
	ran := map[string]int{}
	var mu sync.Mutex
	for _, name := range []string{"Ok", "Boom", "ChainBreaks", "Sealed", "Cancelled"} {
		b.handlers.Register(name, func(_ context.Context, j *jobs.Job) error {
			mu.Lock()
			ran[j.Payload.Job]++
			mu.Unlock()
			if j.Payload.Job == "Boom" {
				return errors.New("boom")
			}
			return nil
		})
		b.push("default", name, nil)
	}
	d := &recordingDuties{failBefore: "Sealed", failSucceeded: "ChainBreaks", skip: "Cancelled"}
	w := worker.New(worker.Deps{Queue: b.queue, Handlers: b.handlers, Failed: b.failed, Report: b.events.add, Now: b.clock.Now, Duties: d},
		worker.Options{Connection: "database", Tries: 1, StopWhenEmpty: true})
	b.run(w)

	want := []string{
		"before Ok", "succeeded Ok",
		"before Boom", "failed Boom: boom",
		"before ChainBreaks", "succeeded ChainBreaks", "failed ChainBreaks: cannot push the next job of the chain",
		"before Sealed",
		"before Cancelled", "succeeded Cancelled",
	}
	if strings.Join(d.calls, "\n") != strings.Join(want, "\n") {
		t.Errorf("duties ran:\n%s\nwant:\n%s", strings.Join(d.calls, "\n"), strings.Join(want, "\n"))
	}
	if ran["Sealed"] != 0 || ran["Cancelled"] != 0 || ran["Ok"] != 1 || b.size("default") != 0 {
		t.Errorf("handlers ran %v", ran)
	}
	recs := b.failedRecords()
	if len(recs) != 3 {
		t.Fatalf("%d failed records, want 3", len(recs))
	}
	for _, r := range recs {
		sealed := strings.Contains(r.Exception, "cannot open the command")
		if sealed == strings.Contains(r.Exception, "note from the duties") {
			t.Errorf("failed record %q: the note belongs to every failure but Before's", r.Exception)
		}
	}
}

// flakyBefore's Before fails its first call with AttemptFailed, as a batches table that cannot be
// reached for a moment does.
type flakyBefore struct {
	recordingDuties
	calls int
}

func (d *flakyBefore) Before(ctx context.Context, j *jobs.Job) error {
	d.calls++
	if d.calls == 1 {
		return worker.AttemptFailed(errors.New("job batches: database unreachable"))
	}
	return d.recordingDuties.Before(ctx, j)
}

// TestBeforeCanFailOnlyTheAttempt: a Before error made with AttemptFailed is handled as the
// handler's own error would be (released while tries are left, then run), not failed at once.
func TestBeforeCanFailOnlyTheAttempt(t *testing.T) {
	b := setup(t)
	ran := 0
	b.handlers.Register("Batched", func(context.Context, *jobs.Job) error { ran++; return nil })
	b.push("default", "Batched", nil)
	d := &flakyBefore{}
	w := worker.New(worker.Deps{Queue: b.queue, Handlers: b.handlers, Failed: b.failed, Report: b.events.add, Now: b.clock.Now, Duties: d},
		worker.Options{Connection: "database", Tries: 2, StopWhenEmpty: true})
	b.run(w)
	if ran != 1 || b.events.count(worker.EventReleased) != 1 || len(b.failedRecords()) != 0 {
		t.Fatalf("ran %d, released %d, failed %d; want released once, then run", ran, b.events.count(worker.EventReleased), len(b.failedRecords()))
	}
	if !errors.Is(worker.AttemptFailed(errors.New("x")), worker.ErrAttemptFailed) || worker.AttemptFailed(errors.New("x")).Error() != "x" {
		t.Error("AttemptFailed must match ErrAttemptFailed and keep its error's text")
	}
}
