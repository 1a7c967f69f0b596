package manager

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// MonitoredQueue is one queue `qctl monitor` watches, with its size at the time it was read.
type MonitoredQueue struct {
	Connection string `json:"connection"`
	Queue      string `json:"queue"`
	Size       int64  `json:"size"` // ready, delayed and reserved jobs, as Laravel's Queue::size
	Over       bool   `json:"over"` // Size exceeds the limit
}

// ParseMonitored reads artisan queue:monitor's list, "[connection:]queue,...": a queue without a
// connection is on the default one. It returns the pairs in order, without duplicates.
func ParseMonitored(list string) ([][2]string, error) {
	var out [][2]string
	seen := map[[2]string]bool{}
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		conn, queue, ok := strings.Cut(item, ":")
		if !ok {
			conn, queue = "", item
		}
		if queue == "" {
			return nil, fmt.Errorf("%q names no queue: write connection:queue or queue", item)
		}
		pair := [2]string{conn, queue}
		if !seen[pair] {
			seen[pair] = true
			out = append(out, pair)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no queue to monitor: give [connection:]queue,...")
	}
	return out, nil
}

// Monitor reads the size of each [connection, queue] pair ("" = the default connection), opening
// each connection once, and marks the queues holding more than max jobs. An unknown connection
// wraps config.ErrUnknownConnection before anything is opened.
func (m *Manager) Monitor(ctx context.Context, queues [][2]string, max int64) ([]MonitoredQueue, error) {
	names := map[string]string{} // as given -> resolved name
	for _, q := range queues {
		conn, err := m.Connection(q[0])
		if err != nil {
			return nil, err
		}
		names[q[0]] = conn.Name
	}
	open := map[string]*Conn{}
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	out := make([]MonitoredQueue, 0, len(queues))
	for _, q := range queues {
		name := names[q[0]]
		conn := open[name]
		if conn == nil {
			var err error
			if conn, err = m.Open(ctx, name); err != nil {
				return out, err
			}
			open[name] = conn
		}
		n, err := conn.Backend.Size(ctx, q[1])
		if err != nil {
			return out, fmt.Errorf("reading the size of queue %q on connection %q: %w", q[1], name, err)
		}
		out = append(out, MonitoredQueue{Connection: name, Queue: q[1], Size: n, Over: n > max})
	}
	return out, nil
}
