package laravel

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/qctl/qctl/jobs"
)

// The chain properties of Laravel's Queueable trait, which every job of a chain carries.
const (
	propChained       = "chained"
	propChainConn     = "chainConnection"
	propChainQueue    = "chainQueue"
	propChainCatch    = "chainCatchCallbacks"
	propConnection    = "connection"
	propQueue         = "queue"
	propDelay         = "delay"
	propTries         = "tries"
	propMaxExceptions = "maxExceptions"
	propFailOnTimeout = "failOnTimeout"
	propBackoff       = "backoff"
	propTimeout       = "timeout"
	propRetryUntil    = "retryUntil"
)

// dispatchNextInChain does what Queueable::dispatchNextJobInChain does after a job of a chain
// succeeds: the first job of the current job's chained list is unserialized, given the rest of
// the list and the chain's connection, queue and catch callbacks, and dispatched to its own
// connection and queue, or else the chain's. The next job's bytes are PHP's own, with only those
// properties rewritten, so PHP's worker reads it as if Laravel had pushed it.
func (d *Duties) dispatchNextInChain(ctx context.Context, job *jobs.Job, command *jobs.SerializedObject) error {
	chainedValue, ok := command.Get(propChained)
	if !ok {
		return nil
	}
	chained, ok := chainedValue.Strings()
	if !ok {
		return fmt.Errorf("%s: chained is not a list of serialized jobs", command.Class)
	}
	if len(chained) == 0 {
		return nil
	}
	next, err := jobs.ParseSerializedObject([]byte(chained[0]))
	if err != nil {
		return fmt.Errorf("the next job of the chain of %s: %w", command.Class, err)
	}
	chainConn, _ := command.Get(propChainConn)
	chainQueue, _ := command.Get(propChainQueue)
	catch, hasCatch := command.Get(propChainCatch)
	if !hasCatch {
		catch = jobs.PHPNull()
	}
	connection, queue := elvis(next, propConnection, chainConn), elvis(next, propQueue, chainQueue)
	for _, set := range []struct {
		name  string
		value jobs.PHPValue
	}{
		{propChained, jobs.PHPStringList(chained[1:])},
		{propConnection, connection},
		{propQueue, queue},
		{propChainConn, orNull(chainConn)},
		{propChainQueue, orNull(chainQueue)},
		{propChainCatch, catch},
	} {
		if err := next.Set(set.name, set.value); err != nil {
			return fmt.Errorf("the next job of the chain of %s: %w", command.Class, err)
		}
	}
	serialized, err := next.Bytes()
	if err != nil {
		return fmt.Errorf("the next job of the chain of %s: %w", command.Class, err)
	}
	return d.dispatch(ctx, next, string(serialized), sealedWith(job))
}

// elvis is PHP's `$next->name ?: $fallback`: the next job's own value unless it is falsy.
func elvis(next *jobs.SerializedObject, name string, fallback jobs.PHPValue) jobs.PHPValue {
	if v, ok := next.Get(name); ok && !falsy(v) {
		return v
	}
	return orNull(fallback)
}

// orNull is a property value that may be missing (a class without Queueable's property).
func orNull(v jobs.PHPValue) jobs.PHPValue {
	if v.Raw() == nil {
		return jobs.PHPNull()
	}
	return v
}

// falsy reports whether PHP reads v as false: null, false, 0, "", "0" or an empty array.
func falsy(v jobs.PHPValue) bool {
	switch string(v.Raw()) {
	case "N;", "b:0;", "i:0;", `s:0:"";`, `s:1:"0";`, "a:0:{}", "d:0;":
		return true
	}
	return false
}

// dispatch pushes a job object as Bus\Dispatcher::dispatchToQueue does: to its connection (the
// default when null), its queue (the connection's own when null), after its delay, in the payload
// Queue::createObjectPayload builds. A job that came out of an encrypted command is sealed again
// with the same cipher, so what was secret on the queue stays secret.
func (d *Duties) dispatch(ctx context.Context, job *jobs.SerializedObject, serialized, cipher string) error {
	command := serialized
	if cipher != "" || propIsTrue(job, "shouldBeEncrypted") {
		if d.opts.Key == nil {
			return fmt.Errorf("%s must be encrypted and %w", job.Class, ErrNoKey)
		}
		sealed, err := d.opts.Key.EncryptCommand(serialized, cipher == cipherGCM)
		if err != nil {
			return fmt.Errorf("%s: %w", job.Class, err)
		}
		command = sealed
	}
	p := jobs.NewObjectPayload(job.Class, command)
	p.MaxTries, p.MaxExceptions, p.Timeout = propInt(job, propTries), propInt(job, propMaxExceptions), propInt(job, propTimeout)
	p.FailOnTimeout = propIsTrue(job, propFailOnTimeout)
	p.Backoff = backoffOf(job)
	if until := propInt(job, propRetryUntil); until != nil {
		u := int64(*until)
		p.RetryUntil = &u
	}
	raw, err := p.Encode()
	if err != nil {
		return err
	}
	delay, err := delayOf(job)
	if err != nil {
		return err
	}
	connection, _ := propString(job, propConnection)
	queue, _ := propString(job, propQueue)
	return d.push(ctx, connection, queue, raw, delay)
}

func propString(o *jobs.SerializedObject, name string) (string, bool) {
	v, ok := o.Get(name)
	if !ok {
		return "", false
	}
	return v.String()
}

func propInt(o *jobs.SerializedObject, name string) *int {
	v, ok := o.Get(name)
	if !ok {
		return nil
	}
	n, ok := v.Int()
	if !ok {
		return nil
	}
	i := int(n)
	return &i
}

func propIsTrue(o *jobs.SerializedObject, name string) bool {
	v, ok := o.Get(name)
	if !ok {
		return false
	}
	b, _ := v.Bool()
	return b
}

// backoffOf is Queue::getJobBackoff for a backoff property: an int, or a list of ints, joined
// with commas. A backoff() method is PHP code qctl cannot call.
func backoffOf(o *jobs.SerializedObject) string {
	v, ok := o.Get(propBackoff)
	if !ok || v.IsNull() {
		return ""
	}
	if n, ok := v.Int(); ok {
		return strconv.FormatInt(n, 10)
	}
	if s, ok := v.String(); ok {
		return s
	}
	members, _ := v.Members()
	var parts []string
	for _, m := range members {
		if n, ok := m.Int(); ok {
			parts = append(parts, strconv.FormatInt(n, 10))
		}
	}
	return strings.Join(parts, ",")
}

// delayOf reads the delay property as seconds. Laravel also takes a DateTime or DateInterval
// there, which qctl cannot evaluate without PHP; such a job is refused rather than run early.
func delayOf(o *jobs.SerializedObject) (time.Duration, error) {
	v, ok := o.Get(propDelay)
	if !ok || v.IsNull() {
		return 0, nil
	}
	if n, ok := v.Int(); ok {
		return time.Duration(n) * time.Second, nil
	}
	return 0, fmt.Errorf("%s has a delay qctl cannot read (only whole seconds; a DateTime or DateInterval needs PHP)", o.Class)
}
