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

// Bind unmarshals the job's data into v, so a handler can declare the shape it expects instead of
// walking json.RawMessage by hand.
func (j *Job) Bind(v any) error {
	if j.Payload == nil || len(j.Payload.Data) == 0 {
		return errors.New("bind job data: the job has no data")
	}
	if err := json.Unmarshal(j.Payload.Data, v); err != nil {
		return fmt.Errorf("bind job data of %q: %w", j.Payload.Job, err)
	}
	return nil
}

// Handler runs one job. Returning nil deletes the job; returning an error releases it with backoff
// until its tries are used up and then fails it; ReleaseAfter and Fail steer that choice. The
// context ends when the job's timeout passes or the worker stops hard, and a handler should return
// promptly when it does.
type Handler func(ctx context.Context, job *Job) error
