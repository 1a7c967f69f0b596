package laravel

import (
	"context"
	"errors"
	"fmt"

	"github.com/qctl/qctl/jobs"
	"github.com/qctl/qctl/worker"
)

// batchOf returns the batch of a job that uses Laravel's Batchable trait (its batchId
// property) and the table it was read from, or a nil batch when it has none, no batches table
// was given, or the row is gone (then Batchable::batch() is null and Laravel records nothing
// either).
func (d *Duties) batchOf(ctx context.Context, command *jobs.SerializedObject) (*Batch, *Batches, error) {
	if d.opts.OpenBatches == nil {
		return nil, nil, nil
	}
	v, ok := command.Get("batchId")
	if !ok {
		return nil, nil, nil
	}
	id, ok := v.String()
	if !ok || id == "" {
		return nil, nil, nil
	}
	store, err := d.batchStore(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading batch %s of %s: %w", id, command.Class, err)
	}
	b, err := store.Find(ctx, id)
	if errors.Is(err, ErrBatchNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading batch %s of %s: %w", id, command.Class, err)
	}
	return b, store, nil
}

// skipCancelled skips a job whose batch was cancelled, as a batched job's handler does when
// $this->batch()->cancelled(); the job then counts as done in its batch.
func (d *Duties) skipCancelled(ctx context.Context, command *jobs.SerializedObject) error {
	b, _, err := d.batchOf(ctx, command)
	if err != nil {
		// Laravel reads the batch inside the job's run: a table it cannot read now fails this
		// attempt, and the job is retried as its tries say, not failed at once.
		return worker.AttemptFailed(err)
	}
	if b == nil || !b.Cancelled() {
		return nil
	}
	return fmt.Errorf("%s: batch %s was cancelled: %w", command.Class, b.ID, worker.ErrSkip)
}

// recordBatchSuccess is CallQueuedHandler::ensureSuccessfulBatchJobIsRecorded. The batch's then
// and finally callbacks are PHP closures; qctl leaves them unrun.
func (d *Duties) recordBatchSuccess(ctx context.Context, job *jobs.Job, command *jobs.SerializedObject) error {
	b, store, err := d.batchOf(ctx, command)
	if err != nil || b == nil {
		return err
	}
	if _, _, err := store.recordSuccess(ctx, b.ID, job.Payload.UUID); err != nil {
		return fmt.Errorf("recording %s in batch %s: %w", command.Class, b.ID, err)
	}
	return nil
}

// recordBatchFailure is CallQueuedHandler::ensureFailedBatchJobIsRecorded. It returns notes for
// the failed record: the catch and finally callbacks Laravel would have run at this point.
func (d *Duties) recordBatchFailure(ctx context.Context, job *jobs.Job, command *jobs.SerializedObject) []string {
	b, store, err := d.batchOf(ctx, command)
	if err != nil {
		return []string{"qctl: " + err.Error()}
	}
	if b == nil {
		return nil
	}
	c, err := store.recordFailure(ctx, b, job.Payload.UUID)
	if err != nil {
		return []string{fmt.Sprintf("qctl: recording the failure in batch %s: %v", b.ID, err)}
	}
	var notes []string
	if c.failed == 1 && b.HasCallbacks("catch") {
		notes = append(notes, fmt.Sprintf("qctl: batch %s's catch callbacks are PHP closures and were not run", b.ID))
	}
	if c.pending-c.failed == 0 && b.HasCallbacks("finally") {
		notes = append(notes, fmt.Sprintf("qctl: batch %s's finally callbacks are PHP closures and were not run", b.ID))
	}
	return notes
}
