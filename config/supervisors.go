package config

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Balance strategies of a supervisor, as Horizon names them.
const (
	BalanceOff    = "off"    // one pool of max_processes, each working every queue in priority order
	BalanceSimple = "simple" // max_processes split evenly over the queues
	BalanceAuto   = "auto"   // processes follow each queue's load, within min_processes and max_processes
)

// Auto-scaling strategies: how "auto" measures a queue's load.
const (
	ScaleByTime = "time" // ready jobs times their average run time: the time the backlog needs
	ScaleBySize = "size" // ready jobs alone
)

// Supervisor is one [supervisors.NAME] section: a pool of `qctl work` processes that
// `qctl supervise` keeps running and balances over its queues, as one of Horizon's supervisors.
// Keys and meanings follow Horizon's config/horizon.php where Horizon has them.
type Supervisor struct {
	Name       string
	Connection string   // connection name; "" means the default connection
	Queues     []string // strict priority order; default: the connection's queue

	Balance             string        // BalanceOff, BalanceSimple or BalanceAuto (default)
	MinProcesses        int           // per queue under "auto"; default 1
	MaxProcesses        int           // in total; default 1
	BalanceMaxShift     int           // processes a queue gains or loses per cooldown; default 1
	BalanceCooldown     time.Duration // between two rebalances; default 3s
	AutoScalingStrategy string        // ScaleByTime (default) or ScaleBySize
	// FleetMax bounds the children of this supervisor across every machine running
	// `qctl supervise` on its connection (through the worker registry); 0 = no bound.
	FleetMax int

	// The options of each `qctl work` process.
	Tries       int             // default 1 (0 = unlimited)
	Backoff     []time.Duration // by attempt, the last repeating; an integer or an array of them; default none
	Timeout     time.Duration   // default 60s
	Memory      int             // MB; default 128
	Sleep       time.Duration   // default 3s
	Concurrency int             // default 1
}

var (
	balances          = []string{BalanceOff, BalanceSimple, BalanceAuto}
	scalingStrategies = []string{ScaleByTime, ScaleBySize}
)

// supervisor decodes [supervisors.NAME] once the connections are known.
func (d *decoder) supervisor(name string, tbl map[string]any, cfg *Config) Supervisor {
	base := []string{"supervisors", name}
	at := func(key string) []string { return append(base[:2:2], key) }
	s := Supervisor{
		Name: name, Balance: BalanceAuto, MinProcesses: 1, MaxProcesses: 1, BalanceMaxShift: 1,
		BalanceCooldown: 3 * time.Second, AutoScalingStrategy: ScaleByTime,
		Tries: 1, Timeout: 60 * time.Second, Memory: 128, Sleep: 3 * time.Second, Concurrency: 1,
	}
	for _, key := range sortedKeys(tbl) {
		v := tbl[key]
		switch key {
		case "connection":
			s.Connection = d.str(at(key), v)
		case "queues":
			s.Queues = d.strs(at(key), v)
		case "balance":
			s.Balance = d.str(at(key), v)
		case "min_processes":
			s.MinProcesses = int(d.integer(at(key), v, 0, math.MaxInt16))
		case "max_processes":
			s.MaxProcesses = int(d.integer(at(key), v, 1, math.MaxInt16))
		case "fleet_max_processes":
			s.FleetMax = int(d.integer(at(key), v, 1, math.MaxInt16))
		case "balance_max_shift":
			s.BalanceMaxShift = int(d.integer(at(key), v, 1, math.MaxInt16))
		case "balance_cooldown":
			s.BalanceCooldown = d.seconds(at(key), v)
		case "auto_scaling_strategy":
			s.AutoScalingStrategy = d.str(at(key), v)
		case "tries":
			s.Tries = int(d.integer(at(key), v, 0, math.MaxInt32))
		case "backoff":
			s.Backoff = d.backoff(at(key), v)
		case "timeout":
			s.Timeout = d.seconds(at(key), v)
		case "memory":
			s.Memory = int(d.integer(at(key), v, 0, math.MaxInt32))
		case "sleep":
			s.Sleep = d.seconds(at(key), v)
		case "concurrency":
			s.Concurrency = int(d.integer(at(key), v, 1, math.MaxInt16))
		default:
			d.fail(at(key), "unknown key")
		}
	}
	conn, known := cfg.Connections[s.Connection]
	if s.Connection == "" {
		conn, known = cfg.Connections[cfg.Default]
	}
	if s.Connection != "" && !known {
		d.fail(at("connection"), "no connection named %q (known: %s)", s.Connection, strings.Join(cfg.Names(), ", "))
	}
	if len(s.Queues) == 0 && known {
		s.Queues = []string{conn.Queue}
	}
	for i, q := range s.Queues {
		if strings.TrimSpace(q) == "" || slices.Index(s.Queues, q) != i {
			d.failItem(at("queues"), i, "empty or repeated queue name %q", q)
		}
	}
	d.oneOf(at("balance"), "balance", s.Balance, balances)
	d.oneOf(at("auto_scaling_strategy"), "auto_scaling_strategy", s.AutoScalingStrategy, scalingStrategies)
	if s.Balance == BalanceAuto && s.MinProcesses*len(s.Queues) > s.MaxProcesses {
		d.fail(at("max_processes"), "%d cannot give each of the %d queues its min_processes (%d)", s.MaxProcesses, len(s.Queues), s.MinProcesses)
	}
	if s.Balance == BalanceSimple && s.MaxProcesses < len(s.Queues) {
		d.fail(at("max_processes"), "%d is fewer than the %d queues that \"simple\" gives a process each", s.MaxProcesses, len(s.Queues))
	}
	return s
}

// backoff reads Horizon's backoff: seconds, or an array of seconds by attempt.
func (d *decoder) backoff(path []string, v any) []time.Duration {
	items, isList := v.([]any)
	if !isList {
		return []time.Duration{d.seconds(path, v)}
	}
	out := make([]time.Duration, len(items))
	for i, item := range items {
		out[i] = d.seconds(append(path[:len(path):len(path)], strconv.Itoa(i)), item)
	}
	return out
}
