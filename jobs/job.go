package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
)

// Job is what a handler receives: one reserved run of a payload. The worker builds it from what the
// connector popped, so a handler sees the backend's id and attempt count even when the payload
// itself carries neither (database and beanstalkd keep them outside the JSON).
type Job struct {
	ID         string   // backend id of this reservation
	Queue      string   // queue the job was popped from
	Connection string   // connection name from queue.toml
	Payload    *Payload // the decoded envelope
	Raw        []byte   // the payload bytes exactly as popped

	mu       sync.Mutex
	attempts int                 // 0 until known
	count    func() (int, error) // asks the backend for attempts; nil when it cannot
}

// SetAttempts records this run's attempt number, or, with n = 0, how to ask the backend for it on
// first use (see Attempts). The worker calls it before the handler runs.
func (j *Job) SetAttempts(n int, count func() (int, error)) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.attempts, j.count = n, count
}

// Attempts returns this run's attempt number, 1-based, like Laravel's $job->attempts(). On
// beanstalkd counting costs a round trip of its own (stats-job), so when nothing needed the number
// before the handler ran (tries are unlimited) the first call asks the server, and a handler that
// never calls it never pays for it. It returns 0 only if the server could not be asked.
func (j *Job) Attempts() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.attempts == 0 && j.count != nil {
		if n, err := j.count(); err == nil {
			j.attempts = n
		}
	}
	return j.attempts
}

// Data returns the JSON a handler works with. For a string job that is the payload's data as
// pushed. For a Laravel object job it is the command's properties decoded from PHP's serialize
// format (see Payload.Command), so a handler gets the values the job's constructor was given
// rather than PHP's serialized text. An undecodable command is an error wrapping ErrBadCommand;
// the command is decoded on every call, so a handler that needs it twice should keep the result.
func (j *Job) Data() (json.RawMessage, error) {
	if j.Payload == nil {
		return nil, errors.New("job data: the job has no payload")
	}
	if !j.Payload.IsObjectJob() {
		return j.Payload.Data, nil
	}
	_, props, err := j.Payload.Command()
	return props, err
}

// Bind unmarshals the job's data (see Data) into v, so a handler can declare the shape it expects
// instead of walking json.RawMessage by hand. For a Laravel object job that is the command's
// properties, so `dispatch(new SendEmail($to, $subject))` binds to
//
//	var args struct {
//		To      string `json:"to"`
//		Subject string `json:"subject"`
//	}
//
// whatever the PHP visibility of $to and $subject. A handler should return Bind's error as it is
// (or wrapped with %w): when it wraps ErrBadCommand the worker fails the job without retrying.
func (j *Job) Bind(v any) error {
	data, err := j.Data()
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return errors.New("bind job data: the job has no data")
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("bind job data of %q: %w", j.name(), err)
	}
	return nil
}

// name is the job's name for messages: an object job's class, else the payload's job string.
func (j *Job) name() string {
	if j.Payload.IsObjectJob() && j.Payload.DisplayName != "" {
		return j.Payload.DisplayName
	}
	return j.Payload.Job
}

// Handler runs one job. Returning nil deletes the job; returning an error releases it with backoff
// until its tries are used up and then fails it; ReleaseAfter and Fail steer that choice. The
// context ends when the job's timeout passes or the worker stops hard, and a handler should return
// promptly when it does.
type Handler func(ctx context.Context, job *Job) error
