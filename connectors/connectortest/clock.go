package connectortest

import (
	"sync"
	"time"
)

// Clock is a controllable clock for connectors that take their notion of "now" from the caller
// (the database and Redis connectors do, as Laravel's do), so lease and delay tests advance time
// instead of sleeping.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock set to the current wall time, truncated to the second as the wire
// formats store times in whole unix seconds.
func NewClock() *Clock {
	return &Clock{now: time.Now().Truncate(time.Second)}
}

// Now returns the clock's current time. Pass the method value (clock.Now) to a connector.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
