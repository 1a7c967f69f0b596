// Package laravel does, around each job a qctl worker runs, what Laravel's own worker does
// around it (Illuminate\Queue\CallQueuedHandler and the Queueable and Batchable traits), so PHP
// and qctl can take turns inside one chain or batch: it decrypts ShouldBeEncrypted commands,
// dispatches the next job of a chain, keeps a batch's job_batches row, and releases a
// ShouldBeUnique job's lock. Duties implements worker.Duties.
//
// Files: duties.go is the hook the worker calls; encrypter.go opens Laravel's encryption.
package laravel

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/qctl/qctl/jobs"
)

// Options are what the duties need from the configuration.
type Options struct {
	// Key is the application's APP_KEY (see ParseKey); nil when none is configured, and then an
	// encrypted command fails with a reason that says so.
	Key *Key
}

// Duties are Laravel's after-run duties for one worker. Safe for concurrent jobs.
type Duties struct {
	opts Options
}

// New returns the duties for o.
func New(o Options) *Duties {
	return &Duties{opts: o}
}

// Before decrypts an encrypted command in place, so the handler (and an exec handler's stdin)
// sees the serialized job as Laravel's worker does after CallQueuedHandler::getCommand. The raw
// payload, which the failed store keeps, stays encrypted.
func (d *Duties) Before(ctx context.Context, job *jobs.Job) error {
	return d.decrypt(job.Payload)
}

// Succeeded does what CallQueuedHandler::call does after a handler returns.
func (d *Duties) Succeeded(ctx context.Context, job *jobs.Job) error {
	return nil
}

// Failed does what CallQueuedHandler::failed does when a job fails for good.
func (d *Duties) Failed(ctx context.Context, job *jobs.Job, cause error) string {
	return ""
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
