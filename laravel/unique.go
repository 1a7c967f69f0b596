package laravel

import (
	"context"
	"fmt"
	"strconv"

	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/jobs"
)

// uniqueLockPrefix starts the cache lock a ShouldBeUnique job holds while it is queued
// (Illuminate\Bus\UniqueLock::getKey); the class and the job's uniqueId follow.
const uniqueLockPrefix = "laravel_unique_job:"

// releaseUniqueLock does CallQueuedHandler::ensureUniqueJobLockIsReleased: it force-releases
// laravel_unique_job:{class}{uniqueId} in the cache store beside the job's connection (Redis,
// or the database cache's lock table). The payload does not say whether the class is unique, so
// every object job's lock name is released: for a class that is not unique there is none, and
// deleting nothing costs one round trip. The uniqueId is the uniqueId property; a uniqueId()
// method is PHP code, and a job that has one keeps its lock (uniqueFor still ends it).
func (d *Duties) releaseUniqueLock(ctx context.Context, job *jobs.Job, command *jobs.SerializedObject) error {
	c, err := d.queue(ctx, job.Connection)
	if err != nil {
		return fmt.Errorf("releasing the unique lock of %s: %w", command.Class, err)
	}
	releaser, ok := c.q.(connectors.LockReleaser)
	if !ok {
		return nil
	}
	if err := releaser.ForceReleaseLock(ctx, uniqueLockName(command)); err != nil {
		return fmt.Errorf("releasing the unique lock of %s: %w", command.Class, err)
	}
	return nil
}

// uniqueLockName is UniqueLock::getKey for a job whose uniqueId is a property (or absent).
func uniqueLockName(command *jobs.SerializedObject) string {
	id := ""
	if v, ok := command.Get("uniqueId"); ok {
		if s, ok := v.String(); ok {
			id = s
		} else if n, ok := v.Int(); ok {
			id = strconv.FormatInt(n, 10)
		}
	}
	return uniqueLockPrefix + command.Class + id
}
