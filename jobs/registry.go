package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
)

// ErrNoHandler is wrapped by Lookup's error when no registered name matches a payload, so the
// worker can fail the job with a message that names it instead of dropping it.
var ErrNoHandler = errors.New("no handler")

// Registry maps job names to handlers. Registration usually happens at start-up and lookups on
// every job from many goroutines, so both are guarded by one RWMutex and either may run
// concurrently with the other.
type Registry struct {
	mu       sync.RWMutex
	handlers map[string]Handler
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{handlers: make(map[string]Handler)}
}

// Register maps name to h. The name is matched as written: "SendEmail" serves every method of
// that job, "SendEmail@handle" only that one, and an object job is registered under its class
// ("App\Jobs\SendEmail"). Registering a name again replaces its handler, so a program can
// override a handler that configuration declared. An empty name or a nil handler is a programming
// error and panics.
func (r *Registry) Register(name string, h Handler) {
	if name == "" {
		panic("jobs: Register with an empty job name")
	}
	if h == nil {
		panic("jobs: Register " + name + " with a nil handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[name] = h
}

// Lookup finds the handler for a payload, trying in order the exact "job" value
// ("SendEmail@handle"), its name without the method ("SendEmail"), the displayName, and for
// Laravel object jobs the class in data.commandName. The first match wins, so a handler registered
// for one method takes precedence over one registered for the whole job. When nothing matches the
// error wraps ErrNoHandler and names the job and the queue.toml key that would route it.
func (r *Registry) Lookup(p *Payload) (Handler, error) {
	if p == nil {
		return nil, fmt.Errorf("%w: the job has no payload", ErrNoHandler)
	}
	objectJob := p.Job == CallQueuedHandlerJob
	commandName := ""
	if objectJob {
		commandName = commandNameOf(p.Data)
	}

	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, name := range []string{p.Job, p.Name(), p.DisplayName, commandName} {
		if name == "" {
			continue
		}
		if h, ok := r.handlers[name]; ok {
			return h, nil
		}
	}

	tried, key := p.Job, p.Name()
	if objectJob {
		// The handler-side name of an object job is its class; naming the generic
		// CallQueuedHandler would not help anyone register the right handler.
		switch {
		case p.DisplayName != "":
			tried, key = p.DisplayName, p.DisplayName
		case commandName != "":
			tried, key = commandName, commandName
		}
	}
	// %q escapes a backslash as \\, which is also how a TOML basic string spells it, so the
	// suggested key can be pasted into queue.toml as is.
	return nil, fmt.Errorf("%w registered for job %q (register one, or declare [handlers.%q] in queue.toml)", ErrNoHandler, tried, key)
}

// commandNameOf returns data.commandName of a Laravel object job, or "" when data has none.
func commandNameOf(data json.RawMessage) string {
	var d struct {
		CommandName string `json:"commandName"`
	}
	if json.Unmarshal(data, &d) != nil {
		return ""
	}
	return d.CommandName
}

// Handles reports whether a job named name (as a worker's events name it: the "job" value or an
// object job's class) has a handler, so metrics can keep such names as labels and pool the rest.
func (r *Registry) Handles(name string) bool {
	_, err := r.Lookup(&Payload{Job: name})
	return err == nil
}

// Names returns the registered job names in sorted order, for `qctl work` to print what it serves.
func (r *Registry) Names() []string {
	r.mu.RLock()
	names := make([]string, 0, len(r.handlers))
	for name := range r.handlers {
		names = append(names, name)
	}
	r.mu.RUnlock()
	sort.Strings(names)
	return names
}
