package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Job is what a handler receives: one reserved run of a payload. The worker builds it from what the
// connector popped, so a handler sees the backend's id and attempt count even when the payload
// itself carries neither (database and beanstalkd keep them outside the JSON).
type Job struct {
	ID         string   // backend id of this reservation
	Queue      string   // queue the job was popped from
	Connection string   // connection name from queue.toml
	Attempts   int      // this run's attempt number, 1-based
	Payload    *Payload // the decoded envelope
	Raw        []byte   // the payload bytes exactly as popped
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
