// Package laravel does, around each job a qctl worker runs, what Laravel's own worker does
// around it (Illuminate\Queue\CallQueuedHandler and the Queueable and Batchable traits), so PHP
// and qctl can take turns inside one chain or batch: it decrypts ShouldBeEncrypted commands,
// dispatches the next job of a chain, keeps a batch's job_batches row, and releases a
// ShouldBeUnique job's lock. Duties implements worker.Duties.
//
// What Laravel leaves to PHP stays with PHP: closures (a chain's catch callbacks, a batch's then,
// catch and finally) are never run by qctl, and a failed record says so where it matters.
//
// Files: duties.go is the hook the worker calls; encrypter.go is Laravel's encryption;
// chain.go dispatches the next job of a chain; unique.go releases unique locks; batches.go is
// the job_batches table and batch.go what a batched job's run changes in it.
package laravel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

// Options are what the duties need from the configuration.
type Options struct {
	// Key is the application's APP_KEY (see ParseKey); nil when none is configured, and then an
	// encrypted command fails with a reason that says so.
	Key *Key
	// Open opens a connection by name ("" for the default one) and returns its queue and
	// default queue name, for dispatching the next job of a chain where Laravel would.
	Open func(ctx context.Context, connection string) (q connectors.Queue, defaultQueue string, err error)
	// UntilProcessing names the classes that implement ShouldBeUniqueUntilProcessing, whose lock
	// is released before the job runs rather than after; the payload does not say so.
	UntilProcessing map[string]bool
	// OpenBatches opens the job_batches table; nil leaves batches to PHP. It is called on the
	// first job that belongs to a batch, so a worker whose jobs never do opens no database for
	// it; Close closes what it opened.
	OpenBatches func(ctx context.Context) (*Batches, error)
}

// Duties are Laravel's after-run duties for one worker. Safe for concurrent jobs; Close closes
// the connections they opened.
type Duties struct {
	opts Options

	mu     sync.Mutex
	queues map[string]openQueue // by connection name as the job named it

	batchMu sync.Mutex
	batches *Batches // opened by the first batched job
}

// openQueue is a connection Duties opened to dispatch to.
type openQueue struct {
	q            connectors.Queue
	defaultQueue string
}

// New returns the duties for o.
func New(o Options) *Duties {
	return &Duties{opts: o, queues: map[string]openQueue{}}
}

// Close closes the connections opened for dispatching and the job_batches table.
func (d *Duties) Close() error {
	var errs []error
	d.mu.Lock()
	for name, c := range d.queues {
		errs = append(errs, c.q.Close())
		delete(d.queues, name)
	}
	d.mu.Unlock()
	d.batchMu.Lock()
	if d.batches != nil {
		errs = append(errs, d.batches.Close())
		d.batches = nil
	}
	d.batchMu.Unlock()
	return errors.Join(errs...)
}

// batchStore returns the job_batches table, opening it on first use.
func (d *Duties) batchStore(ctx context.Context) (*Batches, error) {
	d.batchMu.Lock()
	defer d.batchMu.Unlock()
	if d.batches == nil {
		b, err := d.opts.OpenBatches(ctx)
		if err != nil {
			return nil, err
		}
		d.batches = b
	}
	return d.batches, nil
}

// queue returns the connection called name ("" for the default one), opening it on first use.
func (d *Duties) queue(ctx context.Context, name string) (openQueue, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if c, ok := d.queues[name]; ok {
		return c, nil
	}
	if d.opts.Open == nil {
		return openQueue{}, errors.New("no connections were given to the Laravel duties")
	}
	q, def, err := d.opts.Open(ctx, name)
	if err != nil {
		return openQueue{}, fmt.Errorf("connection %q: %w", name, err)
	}
	c := openQueue{q: q, defaultQueue: def}
	d.queues[name] = c
	return c, nil
}

// push stores payload on connection's queue ("" for the default connection, or its default queue).
func (d *Duties) push(ctx context.Context, connection, queue string, payload []byte, delay time.Duration) error {
	c, err := d.queue(ctx, connection)
	if err != nil {
		return fmt.Errorf("dispatching: %w", err)
	}
	if queue == "" {
		queue = c.defaultQueue
	}
	_, err = c.q.Push(ctx, queue, payload, delay)
	return err
}

// Before decrypts an encrypted command in place, so the handler (and an exec handler's stdin)
// sees the serialized job as Laravel's worker does after CallQueuedHandler::getCommand; the raw
// payload, which the failed store keeps, stays encrypted. It then releases the unique lock of a
// class declared until-processing, and skips (worker.ErrSkip) a job whose batch was cancelled.
func (d *Duties) Before(ctx context.Context, job *jobs.Job) error {
	if err := d.decrypt(job.Payload); err != nil {
		return err
	}
	command, _ := openCommand(job)
	if command == nil {
		return nil
	}
	if d.opts.UntilProcessing[command.Class] {
		if err := d.releaseUniqueLock(ctx, job, command); err != nil {
			return err
		}
	}
	return d.skipCancelled(ctx, command)
}

// Succeeded does what CallQueuedHandler::call does after a handler returns: release the unique
// lock, dispatch the next job of the chain, and count the job in its batch.
func (d *Duties) Succeeded(ctx context.Context, job *jobs.Job) error {
	command, err := openCommand(job)
	if err != nil && hasChain(job) {
		return fmt.Errorf("cannot dispatch the rest of the chain: %w", err)
	}
	if command == nil {
		return nil
	}
	if !d.opts.UntilProcessing[command.Class] {
		if err := d.releaseUniqueLock(ctx, job, command); err != nil {
			return err
		}
	}
	if err := d.dispatchNextInChain(ctx, job, command); err != nil {
		return err
	}
	return d.recordBatchSuccess(ctx, job, command)
}

// Failed does what CallQueuedHandler::failed does when a job fails for good. The chain stops
// there, as in Laravel; its catch callbacks are PHP closures, which the note says were not run.
func (d *Duties) Failed(ctx context.Context, job *jobs.Job, cause error) string {
	_ = d.decrypt(job.Payload) // a job failed before its run (tries used up) was not opened yet
	command, _ := openCommand(job)
	if command == nil {
		return ""
	}
	var notes []string
	if !d.opts.UntilProcessing[command.Class] {
		if err := d.releaseUniqueLock(ctx, job, command); err != nil {
			notes = append(notes, "qctl: "+err.Error())
		}
	}
	notes = append(notes, d.recordBatchFailure(ctx, job, command)...)
	if catch, ok := command.Get(propChainCatch); ok {
		if callbacks, ok := catch.Members(); ok && len(callbacks) > 0 {
			notes = append(notes, fmt.Sprintf("qctl: the chain stopped here; its %d catch callback(s) are PHP closures and were not run", len(callbacks)))
		}
	}
	return strings.Join(notes, "\n")
}

// hasChain reports whether an object job's command has jobs chained after it, for a command
// the editor could not open.
func hasChain(job *jobs.Job) bool {
	data, _ := readCommand(job.Payload)
	return strings.Contains(data.Command, `s:7:"chained";a:`) && !strings.Contains(data.Command, `s:7:"chained";a:0:{}`)
}

// openCommand opens an object job's command (decrypted by Before) for reading and editing. A job
// that is not an object job, or whose command cannot be opened, gives a nil command; the error
// says why for the latter.
func openCommand(job *jobs.Job) (*jobs.SerializedObject, error) {
	data, ok := readCommand(job.Payload)
	if !ok || !strings.HasPrefix(data.Command, "O:") {
		return nil, nil
	}
	return jobs.ParseSerializedObject([]byte(data.Command))
}

// sealedWith says which cipher sealed the job's command on the queue ("" when it was not
// encrypted): the raw payload keeps what Before decrypted.
func sealedWith(job *jobs.Job) string {
	original, err := jobs.Decode(job.Raw)
	if err != nil {
		return ""
	}
	sealed, ok := readCommand(original)
	if !ok {
		return ""
	}
	return cipherOf(sealed.Command)
}

// commandData is an object job's data: the class and its serialized (maybe encrypted) command.
type commandData struct {
	CommandName string `json:"commandName"`
	Command     string `json:"command"`
}

// readCommand returns an object job's data, or ok false for any other job.
func readCommand(p *jobs.Payload) (data commandData, ok bool) {
	if !p.IsObjectJob() || json.Unmarshal(p.Data, &data) != nil || data.Command == "" {
		return commandData{}, false
	}
	return data, true
}

// decrypt replaces an encrypted data.command with its plaintext. Laravel decrypts whatever does
// not start with "O:" when an encrypter is bound; without a key only what looks like Laravel's
// encryption (base64 of a JSON object) is an error here, and anything else is left for
// Payload.Command to describe.
func (d *Duties) decrypt(p *jobs.Payload) error {
	data, ok := readCommand(p)
	if !ok || strings.HasPrefix(data.Command, "O:") {
		return nil
	}
	class := data.CommandName
	if d.opts.Key == nil {
		if strings.HasPrefix(data.Command, "eyJ") {
			return jobs.Fail(fmt.Errorf("%s: the command is encrypted (the job implements ShouldBeEncrypted): %w; set app_key in queue.toml to the application's APP_KEY", class, ErrNoKey))
		}
		return nil
	}
	command, err := d.opts.Key.DecryptCommand(data.Command)
	if err != nil {
		return jobs.Fail(fmt.Errorf("%s: %w", class, err))
	}
	data.Command = command
	raw, err := json.Marshal(data)
	if err != nil {
		return jobs.Fail(fmt.Errorf("%s: the decrypted command cannot be written as JSON: %w", class, err))
	}
	p.Data = raw
	return nil
}
