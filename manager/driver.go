package manager

import (
	"context"
	"fmt"
	"sync"

	"github.com/qctl/qctl/config"
	"github.com/qctl/qctl/connectors"
	"github.com/qctl/qctl/migrations"
)

// Driver is one queue backend as the manager knows it: how its config section reads and how a
// connection of it opens. A new backend is one package (its connectors.Queue) plus one Register
// call; no command, config table or switch elsewhere changes.
type Driver struct {
	// Config is the driver's config section: its keys, defaults and checks.
	Config config.DriverSpec
	// Open connects to conn's backend. env carries what the manager provides to every driver.
	Open func(ctx context.Context, conn config.Connection, env Env) (connectors.Queue, error)
	// Tables returns the migrations `qctl migrate` applies for conn, or nil when the backend
	// has no tables of its own.
	Tables func(conn config.Connection) *Tables
	// KeepsNoJobs marks a driver that stores nothing (sync runs each job in the pushing process,
	// null discards it): retry has nowhere to push back to, and bench nothing to measure.
	KeepsNoJobs bool
}

// Env is what the manager hands a driver's Open.
type Env struct {
	// RunSync runs a job pushed onto a sync connection here and now, through the worker's
	// executor; nil where the caller runs no jobs.
	RunSync func(ctx context.Context, job *connectors.Reserved) error
	// Log writes one line of the backend's own news (a server that stopped or resumed
	// answering) to the manager's Output.
	Log func(msg string)
}

// Tables is one database's migrations, as `qctl migrate` applies them.
type Tables struct {
	Dialect, DSN string
	Targets      []migrations.Target
}

var registry struct {
	sync.RWMutex
	drivers map[string]Driver
}

// Register makes a driver available to every connection whose driver key names it, and its
// config section known to the config parser. It panics on a duplicate name, as database/sql does.
func Register(d Driver) {
	config.RegisterDriver(d.Config)
	register(d)
}

// register adds d's open side. The built-in drivers' config sections are registered by the
// config package itself, since their settings are fields of config.Connection.
func register(d Driver) {
	registry.Lock()
	defer registry.Unlock()
	if d.Open == nil {
		panic(fmt.Sprintf("manager: driver %q registered without Open", d.Config.Name))
	}
	if _, dup := registry.drivers[d.Config.Name]; dup {
		panic(fmt.Sprintf("manager: driver %q registered twice", d.Config.Name))
	}
	if registry.drivers == nil {
		registry.drivers = map[string]Driver{}
	}
	registry.drivers[d.Config.Name] = d
}

// driver returns the registered driver of name.
func driver(name string) (Driver, bool) {
	registry.RLock()
	defer registry.RUnlock()
	d, ok := registry.drivers[name]
	return d, ok
}
