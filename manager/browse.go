package manager

import (
	"context"
	"fmt"

	"github.com/qctl/qctl/connectors"
)

// CanBrowse reports whether the connection's backend can list its jobs (connectors.Browser).
func (c *Conn) CanBrowse() bool {
	_, ok := c.Backend.(connectors.Browser)
	return ok
}

// BrowsesNextOnly reports whether the backend can show only the next job of each state and no
// reserved job (connectors.NextJobOnly: beanstalkd).
func (c *Conn) BrowsesNextOnly() bool {
	_, ok := c.Backend.(connectors.NextJobOnly)
	return ok
}

// browser returns the backend's Browser, or an error wrapping ErrNotSupported.
func (c *Conn) browser() (connectors.Browser, error) {
	b, ok := c.Backend.(connectors.Browser)
	if !ok {
		return nil, fmt.Errorf("%w: connection %q (%s) cannot list its jobs", ErrNotSupported, c.Name, c.Driver)
	}
	return b, nil
}

// Browse lists up to n jobs of queue ("" = the connection's) in state, from cursor ("" = the
// first page); next is the following page's cursor, "" after the last.
func (c *Conn) Browse(ctx context.Context, queue string, state connectors.JobState, cursor string, n int) ([]connectors.BrowsedJob, string, error) {
	b, err := c.browser()
	if err != nil {
		return nil, "", err
	}
	if queue == "" {
		queue = c.Queue
	}
	list, next, err := b.Browse(ctx, queue, state, cursor, n)
	if err != nil {
		return nil, "", fmt.Errorf("listing %s jobs of queue %q on %q: %w", state, queue, c.Name, err)
	}
	return list, next, nil
}

// DeleteJob deletes one ready or delayed job that Browse listed (by its Ref).
func (c *Conn) DeleteJob(ctx context.Context, queue string, state connectors.JobState, ref string) error {
	b, err := c.browser()
	if err != nil {
		return err
	}
	if err := b.DeleteJob(ctx, queue, state, ref); err != nil {
		return fmt.Errorf("deleting a %s job of queue %q on %q: %w", state, queue, c.Name, err)
	}
	return nil
}

// ReadyNow makes one delayed job that Browse listed (by its Ref) due now.
func (c *Conn) ReadyNow(ctx context.Context, queue, ref string) error {
	b, err := c.browser()
	if err != nil {
		return err
	}
	if err := b.ReadyNow(ctx, queue, ref); err != nil {
		return fmt.Errorf("running a delayed job of queue %q on %q now: %w", queue, c.Name, err)
	}
	return nil
}
